# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMT under DDP: 2 gloo processes on CPU through tools/train.py."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import copy

import pytest
import torch
from mmengine.runner import Runner

from conftest import REPO, fast_cpu_context
from dmt_mm.utils.checkpoint import load_checkpoint_safely
from test_dmt_end_to_end import tiny_cfg


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _torchrun(cfg, tmp_path, name: str) -> None:
    """Train ``cfg`` with tools/train.py in 2 gloo processes."""
    cfg_path = str(tmp_path / name)
    cfg.dump(cfg_path)
    # faulthandler prints every thread's Python stack if a rank aborts
    env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_ADDR='127.0.0.1',
               MASTER_PORT=str(_free_port()), PYTHONFAULTHANDLER='1')
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nnodes=1',
        '--nproc_per_node=2', f'--master_port={env["MASTER_PORT"]}',
        str(REPO / 'tools/train.py'), cfg_path, '--launcher', 'pytorch'
    ]
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        # keep the whole log: the tail alone hides where a rank died
        with open(osp.join(str(tmp_path), f'{name}.log'), 'w') as f:
            f.write(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


@pytest.mark.slow
def test_two_process_run_shards_labelling(tiny_scenes, tmp_path):
    work = str(tmp_path / 'ddp')
    cfg = tiny_cfg(tiny_scenes, work, keep_ratios=(1.0, ))
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.sampler.batch_size = 2
    _torchrun(cfg, tmp_path, 'ddp_cfg.py')
    summary = json.load(open(osp.join(work, 'dmt_summary.json')))
    assert [(r['model'], r['phase']) for r in summary['stages']] == [
        ('A', 0), ('B', 0), ('A', 1), ('B', 1)]
    unlabeled = open(osp.join(tiny_scenes, 'splits/unlabeled_seed0.txt')).read()
    stems = sorted(unlabeled.split())
    for model in ('A', 'B'):
        d = osp.join(work, 'pseudo_labels', f'for_{model}')
        files = sorted(f[:-4] for f in os.listdir(d) if f.endswith('.png'))
        # both ranks' shards together label every image exactly once
        assert files == stems
        manifest = json.load(open(osp.join(d, 'manifest.json')))
        # histograms were summed over the two ranks
        assert manifest['pixels'] == len(stems) * 48 * 48
        assert sum(manifest['class_total']) == manifest['pixels']

    # Given identical teachers (the end of phase 0), one process labels
    # exactly what the two ranks labelled: the same PNGs and manifest.
    single = str(tmp_path / 'single')
    cfg1 = copy.deepcopy(cfg)
    cfg1.work_dir = single
    with fast_cpu_context():
        runner = Runner.from_cfg(cfg1)
        loop = runner.train_loop
        runner.load_checkpoint(osp.join(work, 'phase0_B.pth'))
        stage = loop.stages[2]  # phase1_A: both passes of phase 1
        for target in ('A', 'B'):
            loop.procedure.label_for(target, stage)
    for model in ('A', 'B'):
        ddp_set = osp.join(work, 'pseudo_labels', f'for_{model}')
        one_set = osp.join(single, 'pseudo_labels', f'for_{model}')
        names = sorted(os.listdir(ddp_set))
        assert sorted(os.listdir(one_set)) == names
        for name in names:
            with open(osp.join(ddp_set, name), 'rb') as a, \
                    open(osp.join(one_set, name), 'rb') as b:
                assert a.read() == b.read(), (model, name)

    # Under DDP too, a run whose phase 0 is loaded from this run's stage
    # checkpoints (train_cfg.phase0_from) ends where this run ends.
    loaded = str(tmp_path / 'ddp_loaded')
    cfg2 = copy.deepcopy(cfg)
    cfg2.work_dir = loaded
    cfg2.train_cfg.phase0_from = {
        m: osp.join(work, f'phase0_{m}.pth') for m in 'AB'}
    _torchrun(cfg2, tmp_path, 'ddp_loaded_cfg.py')
    for model in ('A', 'B'):
        a, b = (load_checkpoint_safely(osp.join(w, f'phase1_{model}.pth'))
                ['state_dict'] for w in (work, loaded))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), model


@pytest.mark.slow
def test_two_process_classification_chain(digits_cls_root, tmp_path):
    """The chain under DDP: the two ranks' labelling shards are gathered
    into one complete pseudo-label array per phase."""
    from test_dmt_chain import N_UNLABELED, tiny_cls_cfg
    from dmt_mm.utils.pseudo_label_io import load_cls_pseudo_labels
    work = str(tmp_path / 'ddp_cls')
    cfg = tiny_cls_cfg(digits_cls_root, work)
    cfg.train_cfg.keep_ratios = (0.5, 1.0)
    _torchrun(cfg, tmp_path, 'ddp_cls_cfg.py')
    summary = json.load(open(osp.join(work, 'dmt_summary.json')))
    assert [r['phase'] for r in summary['stages']] == [0, 1, 2]
    for phase, kept in ((1, N_UNLABELED // 2), (2, N_UNLABELED)):
        arr = load_cls_pseudo_labels(
            osp.join(work, 'pseudo_labels', f'phase{phase}.npy'))
        # both ranks' halves: every sample labelled with a real class
        assert arr.shape == (N_UNLABELED, )
        assert ((arr['label'] >= 0) & (arr['label'] < 10)).all()
        assert (arr['conf'] > 0).all() and int(arr['kept'].sum()) == kept
