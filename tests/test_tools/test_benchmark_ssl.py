# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_ssl.py: commands, skip/resume, statistics,
JSON and chart.

The runs are made by the fake ``train.py`` of test_benchmark_fake.py
(``--train-script``), which takes the real CLI and writes real-format
outputs. The statistics, claims and charts of the report half are tested in
test_benchmark_report.py, one phase 0 per seed and ``--jobs`` in
test_benchmark_phase0.py.
"""
import json
import math
import os
import shutil

import pytest

from conftest import REPO
from test_benchmark_fake import bench, fake  # noqa: F401 (a fixture)


def test_dry_run_prints_exact_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    out = str(tmp_path)
    seg = 'configs/dmt/dmt_deeplabv2-lite0_digit-scenes.py'
    cls = 'configs/dmt/dmt_wrn10-2_digits-pool.py'
    assert bench.main(['seg-v1', '--seeds', '0', '5', '--out', out,
                       '--dry-run']) == 0
    expected = []
    for s in (0, 5):
        pre = f'DMT_SPLIT={s} python tools/train.py'
        tail = f'seed{s} --cfg-options randomness.seed={s}'
        # dmt trains phase 0 first; self-training and mutual-ce load it
        phase0 = ' '.join(f'train_cfg.phase0_from.{m}='
                          f'{out}/seg-v1/dmt/seed{s}/'
                          f'phase0_{m}.pth' for m in 'AB')
        expected += [
            f'{pre} configs/dmt/deeplabv2-lite0_digit-scenes_labeled-only.py'
            f' --work-dir {out}/seg-v1/supervised/{tail}',
            f'{pre} {seg} --work-dir {out}/seg-v1/dmt/{tail}',
            f'{pre} {seg} --work-dir {out}/seg-v1/self-training/{tail} '
            f'train_cfg.teacher=self {phase0}',
            f'{pre} {seg} --work-dir {out}/seg-v1/mutual-ce/{tail} '
            f'model.segmentor.decode_head.loss_decode.dynamic=False {phase0}',
            f'{pre} configs/dmt/deeplabv2-lite0_digit-scenes_oracle.py '
            f'--work-dir {out}/seg-v1/oracle/{tail}',
        ]
    assert capsys.readouterr().out.splitlines() == expected

    # cls, with one complete run (whose phase 0 chain-ce loads) and one
    # interrupted run
    os.makedirs(f'{out}/cls-v1/dmt/seed0')
    with open(f'{out}/cls-v1/dmt/seed0/dmt_summary.json', 'w') as f:
        json.dump(dict(metric='accuracy/top1',
                       stages=[dict(model=None, phase=0, val=70.0)]), f)
    open(f'{out}/cls-v1/dmt/seed0/phase0.pth', 'w').close()
    os.makedirs(f'{out}/cls-v1/chain-ce/seed0')
    open(f'{out}/cls-v1/chain-ce/seed0/last_checkpoint', 'w').close()
    pre = 'DMT_SPLIT=0 python tools/train.py'
    tail = '--cfg-options randomness.seed=0'
    sup = 'configs/dmt/wrn10-2_digits-pool_labeled-only.py'
    for flag, resume in (([], ''), (['--resume'], '--resume ')):
        assert bench.main(['cls-v1', '--seeds', '0', '--methods', 'supervised',
                           'chain-ce', 'dmt', '--out', out, '--dry-run',
                           *flag]) == 0
        assert capsys.readouterr().out.splitlines() == [
            f'# complete, skipped: {out}/cls-v1/dmt/seed0',
            f'{pre} {sup} --work-dir {out}/cls-v1/supervised/seed0 {tail}',
        ] + (['# interrupted, needs --resume:'] if not flag else []) + [
            f'{pre} {cls} --work-dir {out}/cls-v1/chain-ce/seed0 '
            f'{resume}{tail} '
            'model.head.dynamic=False '
            f'train_cfg.phase0_from={out}/cls-v1/dmt/seed0/phase0.pth',
        ]


def test_selection_runs_validate_on_the_heldout_part(tmp_path, monkeypatch,
                                                     capsys):
    monkeypatch.chdir(REPO)
    out = str(tmp_path)
    assert bench.main(['cls-v1', '--seeds', '1', '--methods', 'dmt', '--out',
                       out, '--eval-on', 'heldout', '--env', 'DMT_BUDGET=10',
                       '--tag', 'n10', '--dry-run']) == 0
    assert capsys.readouterr().out.splitlines() == [
        'DMT_SPLIT=1 DMT_BUDGET=10 python tools/train.py '
        'configs/dmt/dmt_wrn10-2_digits-pool.py --work-dir '
        f'{out}/cls-v1-n10-heldout/dmt/seed1 --cfg-options randomness.seed=1 '
        'val_dataloader.dataset.ann_file=meta/heldout.txt']
    args = bench.parse_args(['seg', '--eval-on', 'heldout', '--tag', 'g3'])
    assert args.json == 'docs/benchmarks/selection/seg-g3.json'
    assert args.png == 'docs/benchmarks/selection/seg-g3.png'
    with pytest.raises(SystemExit):  # the from-scratch data has none
        bench.parse_args(['seg-scratch', '--eval-on', 'heldout'])
    with pytest.raises(SystemExit):
        bench.parse_args(['seg-v1', '--env', 'DMT_BUDGET'])


def test_portable_records_hold_no_path_of_the_machine():
    phase0 = ('train_cfg.phase0_from.A=/data/bench/seg-v1/dmt/seed0/'
              'phase0_A.pth')
    run = dict(work_dir='/data/bench/seg-v1/mutual-ce/seed0', attempts=[],
               stages=[dict(model='A', phase=0, iters=0, phase0_from=(
                   '/data/bench/seg-v1/dmt/seed0/phase0_A.pth')),
                   dict(model='A', phase=1, iters=3)],
               cfg_options=['randomness.seed=0', phase0], command=(
                   f'DMT_SPLIT=0 /opt/venv/bin/python {REPO}/tools/train.py '
                   f'{REPO}/configs/x.py --work-dir '
                   '/data/bench/seg-v1/mutual-ce/seed0 --cfg-options '
                   f'randomness.seed=0 {phase0}'))
    got = bench.portable(run, '/data/bench')
    assert got['work_dir'] == 'seg-v1/mutual-ce/seed0'
    rel = 'train_cfg.phase0_from.A=seg-v1/dmt/seed0/phase0_A.pth'
    assert got['cfg_options'] == ['randomness.seed=0', rel]
    assert got['stages'] == [
        dict(model='A', phase=0, iters=0,
             phase0_from='seg-v1/dmt/seed0/phase0_A.pth'),
        dict(model='A', phase=1, iters=3)]
    assert got['command'] == (
        'DMT_SPLIT=0 python tools/train.py configs/x.py --work-dir '
        f'seg-v1/mutual-ce/seed0 --cfg-options randomness.seed=0 {rel}')


def test_bad_method_is_refused():
    with pytest.raises(SystemExit):
        bench.parse_args(['cls-v1', '--methods', 'mutual-ce'])


@pytest.mark.slow
def test_seg_runs_statistics_json_png_and_skip(fake, capsys):
    run, calls, tmp, out = fake
    seeds = ('--seeds', '0', '1', '2')
    assert run('seg-v1', *seeds, '--cfg-options',
               'train_cfg.max_iters=30') == 0
    made = calls()
    assert len(made) == 15
    for call in made:  # seeds outer, one run at a time
        seed = call['key'][-1]
        assert call['split'] == seed
        opts = call['argv'][call['argv'].index('--cfg-options') + 1:]
        assert opts[0] == f'randomness.seed={seed}'
        assert opts[-1] == 'train_cfg.max_iters=30' and '--resume' not in opts
    assert [c['key'] for c in made[:5]] == [
        'seg-v1/supervised/seed0', 'seg-v1/dmt/seed0',
        'seg-v1/self-training/seed0',
        'seg-v1/mutual-ce/seed0', 'seg-v1/oracle/seed0']
    table = capsys.readouterr().out
    assert 'ddof=1' in table
    assert ('dmt beats supervised: +10.00 +9.00 +8.00 (seeds 0 1 2); mean '
            '+9.00 ± 1.00, 3/3 positive: holds') in table
    assert 'supervised / oracle = 42.00 / 62.00 = 0.677' in table

    result = json.loads((tmp / 'seg-v1.json').read_text())
    assert result['metric'] == 'mIoU' and result['seeds'] == [0, 1, 2]
    summary = result['summary']
    # hand-computed: sample std (ddof=1)
    expected = {'supervised': (42.0, 2.0, [40, 42, 44]),
                'self-training': (46.0, math.sqrt(7), [44, 45, 49]),
                'mutual-ce': (48.0, math.sqrt(3), [47, 47, 50]),
                'dmt': (51.0, 1.0, [50, 51, 52]),
                'oracle': (62.0, 2.0, [60, 62, 64])}
    assert list(summary) == list(expected)
    for method, (mean, std, values) in expected.items():
        assert summary[method]['mean'] == pytest.approx(mean)
        assert summary[method]['std'] == pytest.approx(std)
        assert list(summary[method]['values'].values()) == values
    comp = result['comparison']
    assert comp['dmt beats supervised']['diffs'] == [10.0, 9.0, 8.0]
    assert comp['dmt beats supervised']['mean'] == pytest.approx(9.0)
    assert comp['dmt beats supervised']['std'] == pytest.approx(1.0)
    assert comp['dmt beats supervised']['positive'] == 3
    assert comp['dmt beats supervised']['holds'] is True
    # self-training - supervised = 4 3 5: all positive
    assert comp['self-training beats supervised']['holds'] is True
    # dmt - mutual-ce = 3 4 2, mutual-ce - self-training = 3 2 1
    assert comp['dmt beats mutual-ce']['diffs'] == [3.0, 4.0, 2.0]
    assert comp['ordering']['holds'] is True
    assert comp['regime']['ratio'] == pytest.approx(42 / 62)
    assert not any('oracle' in k for k in comp if k != 'regime')

    runs = {(r['method'], r['seed']): r for r in result['runs']}
    assert len(runs) == 15
    dmt0 = runs['dmt', 0]
    assert dmt0['finals'] == dict(A=49.0, B=51.0) and dmt0['final'] == 50.0
    assert [s['val'] for s in dmt0['stages']] == [39, 41, 44, 46, 49, 51]
    assert dmt0['env'] == {'DMT_SPLIT': '0'}
    assert dmt0['command'].endswith('randomness.seed=0 train_cfg.max_iters=30')
    assert dmt0['machine']['hostname'] == os.uname().nodename
    assert dmt0['machine']['cpu_count'] == os.cpu_count()
    assert 'cpu_count' not in dmt0 and dmt0['wall_time_s'] > 0
    assert dmt0['start'] and dmt0['attempts'][0]['rc'] == 0
    assert dmt0['commit'] and len(dmt0['commit']) == 40
    assert isinstance(dmt0['dirty'], bool)
    assert dmt0['work_dir'] == 'seg-v1/dmt/seed0'
    assert dmt0['command'].startswith('DMT_SPLIT=0 python ')
    sup1 = runs['supervised', 1]
    assert sup1['final'] == 42.0  # the val at iteration 30, not at 20
    assert sup1['vals'] == [dict(step=10, val=39.0), dict(step=20, val=39.0),
                            dict(step=30, val=42.0)]
    assert dmt0['stages'][2]['iters'] == 10
    for png in ('seg-v1.png', 'seg-v1_curves.png'):
        assert (tmp / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    # complete runs are skipped; the report is rebuilt from the work dirs
    os.remove(tmp / 'seg-v1.png')
    assert run('seg-v1', *seeds, '--cfg-options',
               'train_cfg.max_iters=30') == 0
    assert len(calls()) == 15
    again = json.loads((tmp / 'seg-v1.json').read_text())
    assert again['summary'] == summary and (tmp / 'seg-v1.png').is_file()


@pytest.mark.slow
def test_cls_ordering_failures_and_report_only_from_json(fake, capsys):
    run, calls, tmp, out = fake
    seeds = ('--seeds', '0', '1', '2')
    assert run('cls-v1', *seeds) == 0
    assert len(calls()) == 12
    result = json.loads((tmp / 'cls-v1.json').read_text())
    assert result['metric'] == 'accuracy/top1'
    s = result['summary']
    assert (s['chain-ce']['mean'], s['chain-ce']['std']) == (92.0, 2.0)
    assert (s['dmt']['mean'], s['dmt']['std']) == (90.0, 5.0)
    comp = result['comparison']
    # dmt - supervised = 5 9 13: positive on every seed
    assert comp['dmt beats supervised']['holds'] is True
    # dmt - chain-ce = -5 -2 +1: mean -2, std 3
    assert comp['dmt beats chain-ce']['diffs'] == [-5.0, -2.0, 1.0]
    assert comp['dmt beats chain-ce']['mean'] == pytest.approx(-2.0)
    assert comp['dmt beats chain-ce']['std'] == pytest.approx(3.0)
    assert comp['dmt beats chain-ce']['positive'] == 1
    assert comp['dmt beats chain-ce']['holds'] is False
    assert comp['ordering']['holds'] is False
    run_dmt = [r for r in result['runs'] if r['method'] == 'dmt'][0]
    assert run_dmt['finals'] == {'chain': 85.0}
    assert 'does not hold' in capsys.readouterr().out

    # work dirs gone (a new machine): --report-only rebuilds from the JSON
    shutil.rmtree(out)
    os.remove(tmp / 'cls-v1.png')
    assert run('cls-v1', *seeds, '--report-only') == 0
    assert len(calls()) == 12
    rebuilt = json.loads((tmp / 'cls-v1.json').read_text())
    assert rebuilt['runs'] == result['runs']
    assert rebuilt['summary'] == result['summary']
    assert (tmp / 'cls-v1.png').is_file()
    assert '92.00 ± 2.00' in capsys.readouterr().out
    # nothing to report: no JSON is written over an empty result
    assert run('cls-v1', *seeds, '--report-only', '--json',
               str(tmp / 'none.json')) == 1
    assert not (tmp / 'none.json').exists()


@pytest.mark.slow
def test_interrupted_run_needs_resume_and_continues(fake, monkeypatch,
                                                    capsys):
    run, calls, tmp, out = fake
    monkeypatch.setenv('FAKE_CRASH', 'seg-v1/dmt/seed0')
    args = ('--seeds', '0', '--methods', 'supervised', 'dmt')
    assert run('seg-v1', *args) == 1  # the crash is reported
    assert 'exited with 3' in capsys.readouterr().err
    work = out / 'seg-v1' / 'dmt' / 'seed0'
    record = json.loads((work / 'benchmark_run.json').read_text())
    assert [a['rc'] for a in record['attempts']] == [3]
    assert len(calls()) == 2

    # without --resume: refused before any training
    assert run('seg-v1', *args) == 1
    assert 'pass --resume' in capsys.readouterr().err
    assert len(calls()) == 2

    assert run('seg-v1', *args, '--resume') == 0
    made = calls()
    assert len(made) == 3 and made[2]['key'] == 'seg-v1/dmt/seed0'
    assert '--resume' in made[2]['argv']
    result = json.loads((tmp / 'seg-v1.json').read_text())
    dmt0 = [r for r in result['runs'] if r['method'] == 'dmt'][0]
    assert [(a['rc'], a['resumed']) for a in dmt0['attempts']] == [
        (3, False), (0, True)]
    assert dmt0['wall_time_s'] == pytest.approx(
        sum(a['wall_time_s'] for a in dmt0['attempts']))
    # one seed: no std, and one paired difference decides no claim
    assert result['summary']['dmt']['std'] is None
    assert result['comparison']['dmt beats supervised']['holds'] is None


@pytest.mark.parametrize('broken, message', [
    ('dmt', 'names no field'),
    ('scalars', 'log_metric_by_epoch'),
])
def test_config_errors_come_before_any_run(fake, broken, message):
    run, calls, tmp, out = fake
    config = bench.TASKS['seg-v1']['methods'][
        'dmt' if broken == 'dmt' else 'supervised'][0]
    text = open(config).read()
    if broken == 'dmt':
        text = text.replace('decode_head', 'auxiliary_head')
    else:
        text = text.replace('log_metric_by_epoch=False', 'interval=50')
    with open(config, 'w') as f:
        f.write(text)
    with pytest.raises((KeyError, ValueError), match=message):
        run('seg-v1', '--seeds', '0')
    assert calls() == []


def test_a_run_of_another_config_is_refused(fake):
    # e.g. a task whose configs changed (seg at PROTOCOL-v2's lengths) over
    # the work dirs of its earlier recipe: not counted, not continued
    run, calls, tmp, out = fake
    work = out / 'seg' / 'dmt' / 'seed0'
    work.mkdir(parents=True)
    (work / 'dmt_deeplabv2-lite0_digit-scenes.py').write_text('')
    (work / 'dmt_summary.json').write_text(json.dumps(dict(
        metric='mIoU', stages=[dict(model='A', phase=5, val=50.0)])))
    with pytest.raises(ValueError, match='seed0 holds a run of '
                       'dmt_deeplabv2-lite0_digit-scenes.py, not of'):
        run('seg', '--seeds', '0', '--methods', 'dmt')
    assert calls() == []
