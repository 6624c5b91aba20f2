# Copyright (c) dmt_mm contributors. All rights reserved.
"""The classification chain: phase 0 + 5 phases in one Runner run, on the
bundled digits (tiny sizes, a couple of iterations per phase)."""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import REPO, fast_cpu_context, load_tool
from dmt_mm.utils.checkpoint import load_checkpoint_safely
from dmt_mm.utils.pseudo_label_io import load_cls_pseudo_labels
from dmt_mm.models.heads.dmt_cls_head import ramp_gamma

DIGITS_CFG = REPO / 'configs/dmt/dmt_wrn10-2_digits-50.py'
N_UNLABELED = 24


def tiny_cls_cfg(root: str, work_dir: str, iters: int = 2) -> Config:
    """The digits DMT config at test size: WRN-10-1, batches of 2 + 6,
    24 unlabelled and 40 val images, ``iters`` iterations per phase."""
    cfg = Config.fromfile(str(DIGITS_CFG))
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.model.backbone.widen_factor = 1
    cfg.model.head.in_channels = 64
    dl = cfg.train_dataloader
    dl.batch_size = 8
    dl.sampler.batch_size = 8
    dl.sampler.source_ratio = (1, 3)
    dl.num_workers = 0
    dl.persistent_workers = False
    for sub in (dl.dataset.labeled, dl.dataset.unlabeled):
        sub.data_root = root
    dl.dataset.unlabeled.indices = N_UNLABELED
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].dataset.data_root = root
        cfg[key].dataset.indices = 40
    cfg.train_cfg.update(phase0_iters=iters, phase_iters=iters)
    cfg.train_cfg.label_batch_size = 10
    cfg.default_hooks.checkpoint.interval = 1000
    return cfg


def _run(cfg):
    from mmengine.runner import Runner
    with fast_cpu_context():
        runner = Runner.from_cfg(copy.deepcopy(cfg))
        runner.train()
    return runner


@pytest.fixture(scope='module')
def chain_run(digits_cls_root, tmp_path_factory):
    """One full chain; several tests read its outputs."""
    from mmengine.registry import DefaultScope
    work = str(tmp_path_factory.mktemp('chain'))
    cfg = tiny_cls_cfg(digits_cls_root, work)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        runner = _run(cfg)
    return runner, cfg, work


@pytest.mark.slow
def test_chain_runs_every_phase(chain_run, digits_cls_root):
    runner, cfg, work = chain_run
    summary = json.load(open(osp.join(work, 'dmt_summary.json')))
    assert summary['metric'] == 'accuracy/top1'
    rows = summary['stages']
    assert [r['phase'] for r in rows] == [0, 1, 2, 3, 4, 5]
    assert all(r['model'] is None for r in rows)
    assert runner.iter == 12
    hidden = np.array([
        int(line.split()[1]) for line in open(
            osp.join(digits_cls_root, 'meta/unlabeled_50_seed0.txt'))
    ][:N_UNLABELED])
    for phase, ratio in zip(range(1, 6), (0.2, 0.4, 0.6, 0.8, 1.0)):
        arr = load_cls_pseudo_labels(
            osp.join(work, 'pseudo_labels', f'phase{phase}.npy'))
        assert arr.shape == (N_UNLABELED, )
        assert int(arr['kept'].sum()) == max(1, round(N_UNLABELED * ratio))
        # one global ranking: every kept sample is at least as confident
        # as every dropped one
        if not arr['kept'].all():
            assert arr['conf'][arr['kept']].min() >= \
                arr['conf'][~arr['kept']].max()
        stats = json.load(
            open(osp.join(work, 'pseudo_labels', f'phase{phase}.json')))
        assert stats['keep_ratio'] == ratio
        # accuracy against the hidden labels, recomputed here
        acc = (arr['label'] == hidden).mean() * 100
        assert stats['pseudo_acc'] == pytest.approx(acc)
        kept_acc = (arr['label'] == hidden)[arr['kept']].mean() * 100
        assert stats['kept_acc'] == pytest.approx(kept_acc)
        assert stats['threshold'] == pytest.approx(
            float(arr['conf'][arr['kept']].min()))
        row = rows[phase]
        assert row['kept_ratio'] == pytest.approx(arr['kept'].mean())
        assert row['pseudo_acc'] == pytest.approx(acc)
        for key in ('dmt_weight', 'dmt_disagree', 'dmt_student_wins'):
            assert row[key] is not None and 0 <= row[key] <= 1
        # hidden labels: the weights are scored (None where every trained
        # pseudo label was right, or every one wrong)
        truth = [row[k] for k in ('dmt_weight_correct', 'dmt_weight_wrong')]
        assert any(v is not None for v in truth)
        assert all(v is None or 0 <= v <= 1 for v in truth)
        assert (row['dmt_weight_auc'] is None) == (None in truth)
        assert 0 <= row['val'] <= 100
        assert osp.isfile(osp.join(work, f'phase{phase}.pth'))
    # gamma was ramped to the last iteration of the last phase
    head = runner.model.head
    assert head.gamma1 == pytest.approx(ramp_gamma(4.0, 1, 2))


@pytest.mark.slow
def test_ema_restarts_with_every_student(chain_run):
    _, _, work = chain_run
    for phase in range(6):
        ckpt = load_checkpoint_safely(osp.join(work, f'phase{phase}.pth'))
        # updates since the phase's student was created: 2 per phase
        assert int(ckpt['ema_state_dict']['steps']) == 2
        assert ckpt['dmt']['procedure']['started_stage'] == phase


@pytest.mark.slow
def test_fresh_student_has_the_phase_seed(digits_cls_root, tmp_path,
                                          mmpretrain_scope):
    """With lr 0 a phase does not change the parameters, so the student at
    the end of phase 1 is exactly a fresh build under seed + 1."""
    from mmengine.registry import MODELS
    cfg = tiny_cls_cfg(digits_cls_root, str(tmp_path / 'w'), iters=1)
    cfg.train_cfg.keep_ratios = (1.0, )
    cfg.optim_wrapper.optimizer.lr = 0.0
    cfg.randomness = dict(seed=123)
    runner = _run(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(124)
        fresh = MODELS.build(copy.deepcopy(cfg.model))
        fresh.init_weights()
    trained = dict(runner.model.named_parameters())
    for name, p in fresh.named_parameters():
        torch.testing.assert_close(trained[name], p, msg=name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        phase0 = MODELS.build(copy.deepcopy(cfg.model))
        phase0.init_weights()
    assert not torch.equal(phase0.backbone.conv1.weight,
                           fresh.backbone.conv1.weight)


@pytest.mark.slow
def test_resume_from_a_phase_checkpoint(chain_run, digits_cls_root,
                                        tmp_path, mmpretrain_scope):
    _, cfg, work = chain_run
    import shutil
    resumed = str(tmp_path / 'resumed')
    shutil.copytree(work, resumed)
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = resumed
    cfg.resume = True
    cfg.load_from = osp.join(resumed, 'phase2.pth')
    runner = _run(cfg)
    assert runner.iter == 12
    summary = json.load(open(osp.join(resumed, 'dmt_summary.json')))
    assert [r['phase'] for r in summary['stages']] == [0, 1, 2, 3, 4, 5]
    # phases 0-2 come from the checkpoint, unchanged
    first = json.load(open(osp.join(work, 'dmt_summary.json')))
    assert summary['stages'][:3] == first['stages'][:3]


@pytest.mark.slow
def test_test_tool_evaluates_the_final_ema_checkpoint(chain_run, tmp_path,
                                                      mmpretrain_scope,
                                                      capsys):
    _, cfg, work = chain_run
    test_tool = load_tool('tools/test.py', 'test_tool_chain')
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    with fast_cpu_context():
        metrics = test_tool.main([
            cfg_path,
            osp.join(work, 'phase5.pth'), '--work-dir',
            osp.join(work, 'test')
        ])
    summary = json.load(open(osp.join(work, 'dmt_summary.json')))
    last = summary['stages'][-1]['val']
    assert metrics['accuracy/top1'] == pytest.approx(last)
    # the summary tool prints the table, the chain's gain and the test result
    summary_tool = load_tool('tools/dmt_summary.py', 'dmt_summary_chain')
    capsys.readouterr()
    assert summary_tool.main([work]) == 0
    out = capsys.readouterr().out
    first = summary['stages'][0]['val']
    assert f'chain: phase 0 (labelled only) {first:.2f} -> phase 5 (DMT) ' \
        f'{last:.2f}' in out
    assert 'pseudo acc' in out and f'accuracy/top1={last}' in out


def test_class_count_mismatch_fails_before_training(digits_cls_root, tmp_path,
                                                    mmpretrain_scope):
    cfg = tiny_cls_cfg(digits_cls_root, str(tmp_path / 'w'))
    cfg.model.head.num_classes = 11
    with pytest.raises(ValueError, match=r'class-count mismatch: the model '
                       r'predicts 11 classes \(head.num_classes\)'):
        _run(cfg)
    assert not osp.isdir(osp.join(str(tmp_path / 'w'), 'pseudo_labels'))


def test_negative_gamma_is_refused(digits_cls_root, tmp_path,
                                   mmpretrain_scope):
    cfg = tiny_cls_cfg(digits_cls_root, str(tmp_path / 'w'))
    cfg.model.head.gamma1 = -1.0
    with pytest.raises(ValueError, match=r'gamma1 must be >= 0, got -1.0'):
        _run(cfg)


def test_procedure_must_match_the_model(digits_cls_root, tmp_path,
                                        mmpretrain_scope):
    cfg = tiny_cls_cfg(digits_cls_root, str(tmp_path / 'w'))
    cfg.train_cfg.procedure = 'mutual'
    with pytest.raises(TypeError, match="uses procedure='chain'"):
        _run(cfg)
    cfg.train_cfg.procedure = 'chained'
    with pytest.raises(ValueError, match="procedure must be one of"):
        _run(cfg)
