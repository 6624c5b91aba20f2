# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_runs.py: when a run counts as complete,
and when its phase 0 can be loaded by another.

``dmt_summary.json`` is rewritten after every stage, so a DMT run that is
still training (or was killed) already has one; it must not count as
complete, or ``benchmark_ssl.py`` would skip it and report a phase-1 value
as its final. The work dirs below are laid out as ``tools/train.py`` leaves
them: the config dumped into the work dir by the Runner and the summary.
"""
import json

from conftest import load_tool

runs = load_tool('tools/analysis_tools/benchmark_runs.py', 'benchmark_runs')

CONFIG = 'configs/dmt/dmt_fake.py'
SPEC = dict(metric='mIoU', methods=dict(dmt=(CONFIG, (), 'dmt')))
DUMPED = """train_cfg = dict(type='DMTTrainLoop',
                 keep_ratios=(0.2, 0.4, 0.6, 0.8, 1.0))
"""


def _work_dir(tmp_path, last_phase_of, dumped=True):
    """A work dir whose summary holds phases 0..last_phase_of[m] of each
    model m; val of (m, k) = 10 k + (1 for B)."""
    stages = [dict(model=m, phase=k, val=10.0 * k + (m == 'B'), iters=5)
              for k in range(6) for m in 'AB' if k <= last_phase_of[m]]
    (tmp_path / 'dmt_summary.json').write_text(
        json.dumps(dict(metric='mIoU', stages=stages)))
    if dumped:
        (tmp_path / 'dmt_fake.py').write_text(DUMPED)
    return str(tmp_path)


def test_dmt_run_complete_only_after_every_model_has_the_last_phase(
        tmp_path):
    wd = _work_dir(tmp_path, dict(A=1, B=0))  # killed in phase 1
    assert runs.read_final(wd, SPEC, 'dmt') is None
    wd = _work_dir(tmp_path, dict(A=5, B=4))  # B's last stage still to run
    assert runs.read_final(wd, SPEC, 'dmt') is None
    wd = _work_dir(tmp_path, dict(A=5, B=5))
    result = runs.read_final(wd, SPEC, 'dmt')
    assert result['finals'] == dict(A=50.0, B=51.0)
    assert result['final'] == 50.5
    assert len(result['stages']) == 12


def test_dmt_summary_without_a_dumped_config_is_taken_as_it_is(tmp_path):
    # results copied without the Runner's files (no config to count the
    # phases by): the summary's last phase is the final
    wd = _work_dir(tmp_path, dict(A=2, B=2), dumped=False)
    assert runs.read_final(wd, SPEC, 'dmt')['finals'] == dict(A=20.0,
                                                              B=21.0)


def test_phase0_is_ready_once_every_model_has_its_row_and_file(tmp_path):
    # the DMT loop writes phase0_A.pth, phase0_B.pth, then the summary's
    # phase-0 rows: a run that loads phase 0 may start only after all three
    files = {m: str(tmp_path / f'phase0_{m}.pth') for m in 'AB'}
    assert not runs.phase0_ready(files, str(tmp_path))  # nothing yet
    for m in 'AB':
        open(files[m], 'w').close()
    assert not runs.phase0_ready(files, str(tmp_path))  # no row yet
    summary = tmp_path / 'dmt_summary.json'
    summary.write_text('{"metric": "mIoU", "stages": [{"model": "A", "ph')
    assert not runs.phase0_ready(files, str(tmp_path))  # being rewritten
    _work_dir(tmp_path, dict(A=0, B=-1), dumped=False)  # A's row only
    assert not runs.phase0_ready(files, str(tmp_path))
    _work_dir(tmp_path, dict(A=1, B=0), dumped=False)
    assert runs.phase0_ready(files, str(tmp_path))
    assert runs.phase0_iters(str(tmp_path)) == dict(A=5, B=5)
    # the chain: one model (None), one file
    chain = {None: str(tmp_path / 'phase0.pth')}
    assert not runs.phase0_ready(chain, str(tmp_path))


def test_run_state_complete_interrupted_or_nothing(tmp_path):
    assert runs.run_state(str(tmp_path), SPEC, 'dmt') is None
    (tmp_path / 'last_checkpoint').write_text('iter_10.pth')
    assert runs.run_state(str(tmp_path), SPEC, 'dmt') == 'interrupted'
    _work_dir(tmp_path, dict(A=5, B=5))
    assert runs.run_state(str(tmp_path), SPEC, 'dmt') == 'complete'
