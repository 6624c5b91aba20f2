# Copyright (c) dmt_mm contributors. All rights reserved.
"""The bundled classification configs: the published CIFAR-10 values, and
every stage of each config run on tiny data in the real on-disk format."""
import copy
import json
import os.path as osp
import shutil

import pytest
from mmengine.config import Config

from conftest import REPO, fast_cpu_context, load_tool
from conftest import fabricate_cifar

CIFAR = {
    'configs/dmt/dmt_wrn28-2_cifar10-4000.py': 4000,
    'configs/dmt/dmt_wrn28-2_cifar10-1000.py': 1000,
}


@pytest.mark.parametrize('path, num_labeled', CIFAR.items())
def test_cifar_configs_hold_the_published_values(path, num_labeled,
                                                 monkeypatch):
    monkeypatch.delenv('DMT_SPLIT', raising=False)
    cfg = Config.fromfile(str(REPO / path))
    assert cfg.default_scope == 'mmpretrain'
    m = cfg.model
    assert m.type == 'DMTImageClassifier'
    assert (m.backbone.type, m.backbone.depth,
            m.backbone.widen_factor) == ('WideResNet', 28, 2)
    assert m.head.type == 'DMTClsHead' and m.head.num_classes == 10
    assert m.head.in_channels == 128
    assert (m.head.gamma1, m.head.gamma2, m.head.mixup_alpha) == (4.0, 4.0,
                                                                   0.75)
    ow = cfg.optim_wrapper
    assert ow.type == 'AmpOptimWrapper' and ow.loss_scale == 'dynamic'
    # phase 0 at the public main_fs.py default 0.2, DMT phases at 0.1
    assert ow.optimizer == dict(
        type='SGD', lr=0.2, momentum=0.9, weight_decay=5e-4)
    assert cfg.train_cfg.dmt_lr == 0.1
    # the public normalisation and classifier initialisation
    assert cfg.data_preprocessor.mean == [125.299, 122.999, 113.901]
    assert cfg.data_preprocessor.std == [63.0, 62.1, 66.7]
    assert m.head.init_cfg.type == 'Kaiming' and m.head.init_cfg.a == 5**0.5
    assert [s.type for s in cfg.param_scheduler] == ['CosineAnnealingLR']
    assert cfg.param_scheduler[0].by_epoch is False
    tc = cfg.train_cfg
    assert tc.type == 'DMTTrainLoop' and tc.procedure == 'chain'
    assert tc.phase_epochs == 750 and tc.phase0_epochs == 2120
    assert tuple(tc.keep_ratios) == (0.2, 0.4, 0.6, 0.8, 1.0)
    dl = cfg.train_dataloader
    assert dl.batch_size == 512 and dl.sampler.batch_size == 512
    assert dl.sampler.type == 'LabeledPseudoSampler'
    assert tuple(dl.sampler.source_ratio) == (1, 31)  # 16 + 496
    ds = dl.dataset
    assert ds.type == 'SemiClsDataset'
    assert ds.labeled.type == ds.unlabeled.type == 'CIFAR10'
    assert ds.labeled.indices == \
        f'meta/cifar10_labeled_{num_labeled}_seed0.txt'
    assert ds.unlabeled.indices == \
        f'meta/cifar10_unlabeled_{num_labeled}_seed0.txt'
    steps = {s.type: s for s in ds.pipeline}
    # the public code's RandAugment (CutoutAbs is one of its 16 ops)
    ra = steps['DSTRandAugment']
    assert (ra.num_ops, ra.max_magnitude) == (1, 10) and 'Cutout' not in steps
    assert steps['RandomCrop'].padding == 4 and 'RandomFlip' in steps
    hooks = {h.type: h for h in cfg.custom_hooks}
    assert hooks['EMAHook'].momentum == 0.999  # the public code's update
    assert set(hooks['MutualTrainingHook']) == {'type'}
    assert cfg.train_cfg.metric == 'accuracy/top1'
    assert cfg.val_evaluator.type == 'Accuracy'
    assert cfg.test_dataloader.dataset.split == 'test'


def test_cifar_split_env_variable(monkeypatch):
    monkeypatch.setenv('DMT_SPLIT', '3')
    cfg = Config.fromfile(
        str(REPO / 'configs/dmt/dmt_wrn28-2_cifar10-1000.py'))
    ds = cfg.train_dataloader.dataset
    assert ds.labeled.indices == 'meta/cifar10_labeled_1000_seed3.txt'
    assert ds.unlabeled.indices == 'meta/cifar10_unlabeled_1000_seed3.txt'


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch):
    """A tiny CIFAR-10 in the real pickle format, with split files under
    the names the configs read; MMPretrain's MD5 check is relaxed (the
    fabricated files cannot match the real checksums)."""
    from mmpretrain.datasets import CIFAR10
    monkeypatch.setattr(CIFAR10, 'train_list',
                        [[n, None] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, 'test_list',
                        [[n, None] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, 'meta', dict(CIFAR10.meta, md5=None))
    root = str(tmp_path / 'cifar10')
    fabricate_cifar(root, per_batch=20)
    tool = load_tool('tools/dataset_converters/make_cifar_splits.py',
                     'make_cifar_splits_cfg_test')
    tool.main([root, '--num-labeled', '20', '--seeds', '0',
               '--no-check-md5'])
    meta = osp.join(root, 'meta')
    for n in (4000, 1000):  # the names the configs read
        for kind in ('labeled', 'unlabeled'):
            shutil.copy(
                osp.join(meta, f'cifar10_{kind}_20_seed0.txt'),
                osp.join(meta, f'cifar10_{kind}_{n}_seed0.txt'))
    return root


@pytest.mark.slow
@pytest.mark.parametrize('path', list(CIFAR))
def test_cifar_config_runs_every_stage(path, tiny_cifar, tmp_path,
                                       monkeypatch, mmpretrain_scope):
    """The config as shipped, on CPU: fp32, no workers, batch 32 (1 + 31
    at the configured ratio), two iterations per stage."""
    from mmengine.runner import Runner
    monkeypatch.delenv('DMT_SPLIT', raising=False)
    cfg = Config.fromfile(str(REPO / path))
    work = str(tmp_path / 'work')
    cfg.work_dir = work
    cfg.log_level = 'WARNING'
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.optim_wrapper.pop('loss_scale')
    dl = cfg.train_dataloader
    dl.batch_size = dl.sampler.batch_size = 32
    dl.num_workers = 0
    dl.persistent_workers = False
    for sub in (dl.dataset.labeled, dl.dataset.unlabeled):
        sub.data_root = tiny_cifar
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].dataset.data_root = tiny_cifar
    cfg.train_cfg.update(
        phase0_iters=2, phase_iters=2, phase0_epochs=None, phase_epochs=None)
    cfg.train_cfg.label_num_workers = 0
    with fast_cpu_context():
        runner = Runner.from_cfg(copy.deepcopy(cfg))
        runner.train()
    assert runner.iter == 12
    summary = json.load(open(osp.join(work, 'dmt_summary.json')))
    assert [r['phase'] for r in summary['stages']] == [0, 1, 2, 3, 4, 5]
    for row in summary['stages']:
        assert 0 <= row['val'] <= 100
    # 100 - 20 unlabelled samples, cut globally at 0.2 .. 1.0
    for phase, kept in zip(range(1, 6), (16, 32, 48, 64, 80)):
        stats = json.load(
            open(osp.join(work, 'pseudo_labels', f'phase{phase}.json')))
        assert stats['samples'] == 80
        assert round(stats['kept_ratio'] * 80) == kept
        assert 0 <= stats['pseudo_acc'] <= 100
