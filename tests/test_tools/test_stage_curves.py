# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/analysis_tools/stage_curves.py: the val curve inside DMT stages and
PROTOCOL-v2.md's stage-length rule (section 3 d), on hand-computed values
(a real run's logged steps: tests/test_engine/test_val_in_stages.py)."""
import json
import os.path as osp

import pytest

from conftest import load_tool

tool = load_tool('tools/analysis_tools/stage_curves.py', 'stage_curves')


def _stage(i, model, phase, val, iters=10):
    return dict(stage=i, model=model, phase=phase, iters=iters, val=val)


def _write_run(root, stages, logs):
    """A work dir: dmt_summary.json and one scalars.json per timestamp
    (``logs``: [[record, ...], ...], oldest first)."""
    (root / 'dmt_summary.json').write_text(json.dumps(
        dict(metric='mIoU', procedure='mutual', stages=stages)))
    for i, records in enumerate(logs):
        vis = root / f'2026120{i}_000000' / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text(
            ''.join(json.dumps(r) + '\n' for r in records))
    return str(root)


STAGES = [_stage(0, 'A', 0, 30.0), _stage(1, 'B', 0, 32.0),
          _stage(2, 'A', 1, 40.0), _stage(3, 'B', 1, 41.0)]
LOGS = [[dict(mIoU=99.0, step=24)],  # an older attempt, validated again
        [dict(lr=0.01, loss=1.0, step=3), dict(mIoU=20.0, step=4),
         dict(mIoU=28.0, step=8), dict(mIoU=36.0, step=24),
         dict(mIoU=39.5, step=28), dict(mIoU=40.8, step=34),
         dict(mIoU=41.0, step=38)]]


def test_values_inside_each_stage_by_hand(tmp_path):
    work = _write_run(tmp_path, STAGES, LOGS)
    summary = json.loads(open(osp.join(work, 'dmt_summary.json')).read())
    vals = tool.read_vals(work, 'mIoU')
    assert vals == {4: 20.0, 8: 28.0, 24: 36.0, 28: 39.5, 34: 40.8, 38: 41.0}
    rows = tool.stage_curves(summary, vals, [0.4, 0.5, 0.8])
    # stage 2 spans iterations 20-30: validations 4 and 8 into it, end 40
    assert rows[2]['points'] == [(4, 36.0), (8, 39.5), (10, 40.0)]
    assert rows[2]['at'] == {'0.4': 36.0, '0.5': pytest.approx(36.875),
                             '0.8': 39.5}
    assert rows[0]['at']['0.4'] == 20.0
    assert rows[1]['at'] == {'0.4': None, '0.5': None, '0.8': None}
    # DMT stages: end - at 0.8 = 0.5, 0.0 (mean 0.25, not above 0.5);
    # end - at 0.4 = 4.0, 0.2 (mean 2.1, not within 0.2): keep
    d = tool.decide(rows, [0.4, 0.5, 0.8])
    assert d['stages'] == 2 and d['verdict'] == 'keep'
    assert d['end_minus_last'] == pytest.approx(0.25)
    assert d['end_minus_first'] == pytest.approx(2.1)
    assert 'keep' in tool.format_report(rows, d)


def test_rule_doubles_rising_and_halves_flat_stages():
    def rows(v40, v80, end):
        return [dict(phase=1, end=end, at={'0.4': v40, '0.8': v80})]
    assert tool.decide(rows(30.0, 32.0, 33.0), [0.4, 0.8])['verdict'] == (
        'double')
    assert tool.decide(rows(33.0, 33.1, 33.15), [0.4, 0.8])['verdict'] == (
        'halve')
    assert tool.decide(rows(33.0, 33.6, 34.0), [0.4, 0.8])['verdict'] == (
        'keep')
    none = tool.decide(rows(None, 33.0, 34.0), [0.4, 0.8])
    assert none['verdict'] is None and '0.4' in none['reason']


def test_cli_writes_json_and_names_bad_input(tmp_path, capsys):
    (tmp_path / 'run').mkdir()
    work = _write_run(tmp_path / 'run', STAGES, LOGS)
    out = tmp_path / 'curves.json'
    assert tool.main([work, '--json', str(out)]) == 0
    data = json.loads(out.read_text())
    assert data['rule']['verdict'] == 'keep' and len(data['stages']) == 4
    assert tool.main([str(tmp_path)]) == 1
    assert 'dmt_summary.json not found' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args([work, '--fractions', '0.4', '1.2'])
    assert '--fractions [1.2]' in capsys.readouterr().err
