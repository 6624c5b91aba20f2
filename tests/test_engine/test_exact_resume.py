# Copyright (c) dmt_mm contributors. All rights reserved.
"""Kill anywhere, resume, end exactly where an uninterrupted run ends.

A tiny DMT run of the demo config goes through ``tools/train.py`` in a real
subprocess, is killed with SIGKILL at a pause point (``fault_points.py``),
resumed with ``--resume``, killed at the next point, and so on. Its final
weights, pseudo labels and ``dmt_summary.json`` must equal an uninterrupted
run's bit for bit. Between kills the files a user could trust are checked:
the pseudo-label set is the old or the new one, never a mix, and
``last_checkpoint`` points at a complete checkpoint.
"""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO
from dmt_mm.utils.checkpoint import load_checkpoint_safely
from test_dmt_end_to_end import tiny_cfg

HERE = osp.dirname(osp.abspath(__file__))
# stages: phase0_A [0,4) phase0_B [4,8) phase1_A [8,11) phase1_B [11,14)
# phase2_A [14,17) phase2_B [17,20); periodic checkpoints every 5 iterations
KILLS = [
    ('iter:7', 'iter_5.pth'),  # in phase 0, resumed inside phase0_B
    ('label:1:A:3', 'phase0_B.pth'),  # in a labelling pass
    ('between:1', 'phase0_B.pth'),  # between the two passes of a phase
    ('iter:12', 'phase1_A.pth'),  # in a DMT stage
    ('swap1:2:A', 'phase1_B.pth'),  # in the directory swap, before
    ('swap2:2:A', 'phase1_B.pth'),  # and after the link replacement
    ('save:phase2_A.pth', 'iter_15.pth'),  # while writing a checkpoint
]


def _config(root: str, tmp_path, **train_cfg) -> str:
    cfg = tiny_cfg(root, 'unused', **train_cfg)
    cfg.custom_imports = dict(
        imports=['dmt_mm', 'fault_points'], allow_failed_imports=False)
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='FaultHook')]
    cfg.train_cfg.update(phase0_iters=4, phase_iters=3)
    cfg.default_hooks.checkpoint.update(interval=5, max_keep_ckpts=2)
    # data workers, as in the demo: their seeds must not matter
    cfg.train_dataloader.update(num_workers=2, persistent_workers=True)
    cfg.log_level = 'INFO'
    path = str(tmp_path / ('tiny_dmt_loaded.py' if train_cfg else
                           'tiny_dmt.py'))
    cfg.dump(path)
    return path


def _train(cfg: str, work: str, fault: str = '', resume: bool = False):
    marker = work + '.paused'
    if osp.exists(marker):
        os.remove(marker)
    env = dict(os.environ, DMT_FAULT=fault, DMT_FAULT_MARKER=marker,
               OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([HERE, str(REPO)]))
    cmd = [sys.executable, str(REPO / 'tools/train.py'), cfg,
           '--work-dir', work] + (['--resume'] if resume else [])
    log = open(work + '.log', 'a')
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log,
                            start_new_session=True)
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        if fault and osp.exists(marker):
            os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers
            proc.wait()
            return 'killed'
        time.sleep(0.2)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f'{cmd} did not finish; see {work}.log')
    assert proc.returncode == 0, open(work + '.log').read()[-4000:]
    assert not fault, f'the run never reached {fault}'
    return 'finished'


def _pseudo_set(work: str, model: str) -> dict:
    d = osp.join(work, 'pseudo_labels', f'for_{model}')
    return {
        name: open(osp.join(d, name), 'rb').read()
        for name in sorted(os.listdir(d))
    }


def _manifest_phase(work: str, model: str) -> int:
    with open(osp.join(work, 'pseudo_labels', f'for_{model}',
                       'manifest.json')) as f:
        return json.load(f)['phase']


def _state(path: str) -> dict:
    return load_checkpoint_safely(path)


@pytest.mark.slow
def test_killed_anywhere_and_resumed_run_ends_exactly(tiny_scenes, tmp_path):
    cfg = _config(tiny_scenes, tmp_path)
    ref = str(tmp_path / 'uninterrupted')
    assert _train(cfg, ref) == 'finished'
    work = str(tmp_path / 'killed')
    first = True
    for fault, resumes_from in KILLS:
        assert _train(cfg, work, fault, resume=not first) == 'killed', fault
        first = False
        last = open(osp.join(work, 'last_checkpoint')).read().strip()
        assert osp.basename(last) == resumes_from, fault
        _state(last)  # complete: it loads
        if fault == 'swap1:2:A':
            # the new set is written, but for_A still is the old set
            assert _manifest_phase(work, 'A') == 1
        if fault == 'swap2:2:A':
            assert _manifest_phase(work, 'A') == 2
        if fault.startswith('swap'):
            got = _pseudo_set(work, 'A')
            # complete: every unlabelled image and the manifest
            assert sorted(got) == sorted(_pseudo_set(ref, 'A'))
            if fault == 'swap2:2:A':  # the set the reference published last
                assert got == _pseudo_set(ref, 'A')
    assert _train(cfg, work, resume=True) == 'finished'

    # what the resumed run says it does
    log = open(work + '.log').read()
    assert 'resuming from' in log and 'inside stage phase0_B' in log
    assert 'the phase-1 pseudo labels are made again' in log
    # bit for bit: weights of both models, pseudo labels, summary
    for name in ('phase2_A.pth', 'phase2_B.pth'):
        a = _state(osp.join(ref, name))['state_dict']
        b = _state(osp.join(work, name))['state_dict']
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    for model in ('A', 'B'):
        assert _pseudo_set(work, model) == _pseudo_set(ref, model)
    assert open(osp.join(work, 'dmt_summary.json'), 'rb').read() == open(
        osp.join(ref, 'dmt_summary.json'), 'rb').read()
    # no half-written set or staging folder is left behind: two links and
    # the two sets they point to
    entries = os.listdir(osp.join(work, 'pseudo_labels'))
    assert len(entries) == 4 and not any('tmp' in e for e in entries)


# with train_cfg.phase0_from: phase0_A, phase0_B loaded at iteration 0, then
# phase1_A [0,3) phase1_B [3,6) phase2_A [6,9) phase2_B [9,12)
LOADED_KILLS = [
    ('save:phase0_B.pth', 'phase0_A.pth'),  # between the loaded stages
    ('iter:4', 'phase1_A.pth'),  # in phase 1
    ('iter:7', 'phase1_B.pth'),
]


def _same_weights(a: str, b: str) -> None:
    sa, sb = _state(a)['state_dict'], _state(b)['state_dict']
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), (a, b, k)


@pytest.mark.slow
def test_run_from_loaded_phase0_killed_and_resumed_ends_exactly(
        tiny_scenes, tmp_path):
    trained = str(tmp_path / 'trains_phase0')
    assert _train(_config(tiny_scenes, tmp_path), trained) == 'finished'
    cfg = _config(tiny_scenes, tmp_path, phase0_from={
        m: osp.join(trained, f'phase0_{m}.pth') for m in 'AB'})
    ref = str(tmp_path / 'loaded')
    assert _train(cfg, ref) == 'finished'
    work = str(tmp_path / 'loaded_killed')
    for i, (fault, resumes_from) in enumerate(LOADED_KILLS):
        assert _train(cfg, work, fault, resume=i > 0) == 'killed', fault
        last = open(osp.join(work, 'last_checkpoint')).read().strip()
        assert osp.basename(last) == resumes_from, fault
    assert _train(cfg, work, resume=True) == 'finished'
    for name in ('phase2_A.pth', 'phase2_B.pth'):
        _same_weights(osp.join(ref, name), osp.join(work, name))
        # and the run that trained phase 0 itself ends there too
        _same_weights(osp.join(trained, name), osp.join(work, name))
    assert open(osp.join(work, 'dmt_summary.json'), 'rb').read() == open(
        osp.join(ref, 'dmt_summary.json'), 'rb').read()
    for model in ('A', 'B'):
        assert _pseudo_set(work, model) == _pseudo_set(trained, model)
