# Copyright (c) dmt_mm contributors. All rights reserved.
"""A whole DMT run of the demo config on tiny digit scenes.

Phase 0 + 2 DMT phases of two ResNet-18 DeepLab-v2 models in one Runner run:
labelling passes, curriculum cut, swaps, optimizer / schedule restarts,
per-stage validation and checkpoints, resume, tools/test.py and export.
"""
import copy
import json
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from conftest import REPO, fast_cpu_context, load_tool
from dmt_mm.utils.checkpoint import load_checkpoint_safely
from dmt_mm.utils.pseudo_label_io import read_pseudo_label

CONFIG = str(REPO / 'configs/dmt/dmt_deeplabv2-r18_digit-scenes.py')
P0, P1 = 3, 2  # iterations of phase-0 and DMT stages
STAGES = ['phase0_A', 'phase0_B', 'phase1_A', 'phase1_B', 'phase2_A',
          'phase2_B']


def _retarget(node, root):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == 'data_root':
                node[k] = root
            else:
                _retarget(v, root)
    elif isinstance(node, list):
        for v in node:
            _retarget(v, root)


def tiny_cfg(root: str, work_dir: str, **train_cfg) -> Config:
    cfg = Config.fromfile(CONFIG)
    _retarget(cfg._cfg_dict, root)
    cfg.work_dir = work_dir
    cfg.train_cfg.update(
        dict(phase0_iters=P0, phase_iters=P1, phase_epochs=None,
             keep_ratios=(0.5, 1.0)))
    cfg.train_cfg.update(train_cfg)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    # a narrow ResNet-18: these tests check the mechanics, not accuracy
    cfg.model.segmentor.backbone.update(base_channels=16, stem_channels=16)
    cfg.model.segmentor.decode_head.in_channels = 128
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.sampler.batch_size = 4
    cfg.train_dataloader.sampler.num_labeled = 1
    cfg.train_cfg.label_num_workers = 0
    cfg.train_cfg.label_batch_size = 4
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 3
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook')
    cfg.log_level = 'WARNING'
    # the demo's pseudo-label gallery is tested where a test adds it
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h['type'] != 'DMTVisualizationHook']
    return cfg


@HOOKS.register_module()
class _CrashAt(Hook):
    """Simulates a crash: raises before iteration ``at``."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            raise KeyboardInterrupt(f'crash at {self.at}')


@pytest.fixture(scope='module')
def finished_run(tiny_scenes, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('dmt_run'))
    cfg = tiny_cfg(tiny_scenes, work)
    with fast_cpu_context():
        runner = Runner.from_cfg(cfg)
        runner.train()
    return work, cfg, runner


@pytest.fixture()
def fast_cpu():
    with fast_cpu_context():
        yield


@pytest.mark.slow
def test_run_writes_every_stage(finished_run, tiny_scenes):
    work, cfg, runner = finished_run
    with open(osp.join(work, 'dmt_summary.json')) as f:
        summary = json.load(f)
    rows = summary['stages']
    assert [f'phase{r["phase"]}_{r["model"]}' for r in rows] == STAGES
    for r in rows:
        assert r['val'] is not None and 0 <= r['val'] <= 100
        assert osp.isfile(osp.join(work, f'phase{r["phase"]}_{r["model"]}'
                                   '.pth'))
        if r['phase'] == 0:
            assert 'kept_ratio' not in r
            continue
        assert r['keep_ratio'] == (0.5, 1.0)[r['phase'] - 1]
        assert r['kept_ratio'] >= r['keep_ratio'] - 1e-6
        assert 0 <= r['dmt_weight'] <= 1
        assert 0 <= r['dmt_student_wins'] <= r['dmt_disagree'] <= 1
        assert r['pseudo_miou'] is not None  # the unlabelled set has GT
        # ... so the weights are scored against it (tiny teachers err)
        for key in ('dmt_weight_correct', 'dmt_weight_wrong',
                    'dmt_weight_auc'):
            assert 0 <= r[key] <= 1
    # the last phase keeps everything
    assert rows[-1]['kept_ratio'] == pytest.approx(1.0)
    # pseudo labels: one complete set per model, from the last phase
    unlabeled = open(osp.join(tiny_scenes, 'splits/unlabeled_seed0.txt')).read()
    stems = sorted(unlabeled.split())
    for model, teacher in (('A', 'B'), ('B', 'A')):
        d = osp.join(work, 'pseudo_labels', f'for_{model}')
        files = sorted(f[:-4] for f in os.listdir(d) if f.endswith('.png'))
        assert files == stems
        manifest = json.load(open(osp.join(d, 'manifest.json')))
        assert manifest['phase'] == 2 and manifest['teacher'] == teacher
        assert manifest['pixels'] == len(stems) * 48 * 48
        label, level = read_pseudo_label(osp.join(d, files[0] + '.png'))
        assert label.shape == (48, 48) and label.max() < 11
    assert not any(n.endswith('.tmp') or n.endswith('.old')
                   for n in os.listdir(osp.join(work, 'pseudo_labels')))


@pytest.mark.slow
def test_checkpoint_holds_both_models_and_dmt_state(finished_run):
    work, cfg, runner = finished_run
    ckpt = load_checkpoint_safely(osp.join(work, 'phase2_B.pth'))
    state = ckpt['state_dict']
    assert int(state['active_index']) == 1  # B trained last
    student = {k[8:] for k in state if k.startswith('student.')}
    bank = {k[5:] for k in state if k.startswith('bank.')}
    assert student == bank and 'backbone.conv1.weight' in student
    assert not torch.equal(state['student.backbone.conv1.weight'],
                           state['bank.backbone.conv1.weight'])
    dmt = ckpt['dmt']
    assert dmt['procedure']['started_stage'] == 5
    assert dmt['finished_stage'] == 5 and len(dmt['report']['history']) == 6
    records = dmt['report']['labelling']
    assert [(r['phase'], r['target']) for r in records] == [
        (1, 'A'), (1, 'B'), (2, 'A'), (2, 'B')]
    assert all(len(r['thresholds']) == 11 for r in records)


@pytest.mark.slow
@pytest.mark.parametrize('model', ['A', 'B'])
def test_test_py_reproduces_training_val(finished_run, model, tmp_path):
    work, cfg, runner = finished_run
    cfg_path = osp.join(work, 'tiny_config.py')
    cfg.dump(cfg_path)
    test_tool = load_tool('tools/test.py', 'dmt_test_tool')
    metrics = test_tool.main([
        cfg_path, osp.join(work, 'phase2_B.pth'), '--model', model,
        '--work-dir', str(tmp_path)
    ])
    summary = json.load(open(osp.join(work, 'dmt_summary.json')))
    trained = [r for r in summary['stages']
               if r['model'] == model and r['phase'] == 2][0]['val']
    assert metrics['mIoU'] == pytest.approx(trained, abs=1e-6)


@pytest.mark.slow
def test_export_gives_plain_mmseg_checkpoint(finished_run, tmp_path):
    work, cfg, runner = finished_run
    cfg_path = osp.join(work, 'tiny_config.py')
    cfg.dump(cfg_path)
    export = load_tool('tools/export_model.py', 'dmt_export_tool')
    out = str(tmp_path / 'a.pth')
    export.main([cfg_path, osp.join(work, 'phase2_B.pth'), out, '--model',
                 'A', '--save-config'])
    plain = load_checkpoint_safely(out)
    full = load_checkpoint_safely(osp.join(work, 'phase2_B.pth'))
    for k, v in plain['state_dict'].items():
        assert torch.equal(v, full['state_dict']['bank.' + k])  # A in bank
    assert plain['meta']['dmt_model'] == 'A'
    # the exported model is an ordinary EncoderDecoder
    plain_cfg = Config.fromfile(str(tmp_path / 'a.py'))
    assert plain_cfg.model.type == 'EncoderDecoder'
    from mmseg.registry import MODELS
    model = MODELS.build(plain_cfg.model)
    model.load_state_dict(plain['state_dict'])


@pytest.mark.slow
def test_resume_after_a_crash_mid_stage(tiny_scenes, tmp_path, fast_cpu):
    work = str(tmp_path / 'run')
    cfg = tiny_cfg(tiny_scenes, work)
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='_CrashAt', at=9)]
    with pytest.raises(KeyboardInterrupt):
        Runner.from_cfg(copy.deepcopy(cfg)).train()
    # iteration 9 is inside phase1_B ([8, 10)); the last checkpoint is iter 9
    last = open(osp.join(work, 'last_checkpoint')).read().strip()
    assert osp.basename(last) == 'iter_9.pth'
    before = json.load(open(osp.join(work, 'pseudo_labels', 'for_B',
                                     'manifest.json')))
    cfg.custom_hooks = cfg.custom_hooks[:1]
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2 * P0 + 4 * P1
    summary = json.load(open(osp.join(work, 'dmt_summary.json')))
    assert [f'phase{r["phase"]}_{r["model"]}'
            for r in summary['stages']] == STAGES
    # the phase-1 labels were not relabelled on resume
    last_b = [r for r in summary['labelling'] if r['target'] == 'B'][-1]
    assert last_b['phase'] == 2
    assert before['phase'] == 1


@pytest.mark.slow
def test_resume_from_an_old_phase_is_refused_clearly(finished_run, tmp_path,
                                                    fast_cpu):
    work, cfg, runner = finished_run
    copy_dir = str(tmp_path / 'copy')
    shutil.copytree(work, copy_dir)
    cfg2 = copy.deepcopy(cfg)
    cfg2.work_dir = copy_dir
    cfg2.resume = True
    cfg2.load_from = osp.join(copy_dir, 'phase1_A.pth')
    runner = Runner.from_cfg(cfg2)
    with pytest.raises(RuntimeError, match='pseudo labels .* phase 2'):
        runner.train()


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize('ratios', [(0.4, 0.2), (0.0, 1.0), (0.5, 1.2), ()])
def test_bad_keep_ratios_fail_before_training(tiny_scenes, tmp_path, ratios):
    work = tmp_path / 'w'
    (work / 'pseudo_labels' / 'for_A').mkdir(parents=True)
    keep = work / 'pseudo_labels' / 'for_A' / 'x.png'
    keep.write_bytes(b'earlier work')
    cfg = tiny_cfg(tiny_scenes, str(work), keep_ratios=ratios)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match='keep_ratios'):
        runner.train()
    assert keep.read_bytes() == b'earlier work'  # nothing lost


def test_negative_gamma_fails_at_build(tiny_scenes, tmp_path):
    cfg = tiny_cfg(tiny_scenes, str(tmp_path))
    cfg.model.segmentor.decode_head.loss_decode.gamma2 = -1.0
    with pytest.raises(ValueError, match='gamma2'):
        Runner.from_cfg(cfg)


def test_class_count_mismatch_fails_before_training(tiny_scenes, tmp_path):
    cfg = tiny_cfg(tiny_scenes, str(tmp_path))
    cfg.model.segmentor.decode_head.num_classes = 5
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match='class-count mismatch.*5.*11'):
        runner.train()
    assert not osp.exists(osp.join(str(tmp_path), 'pseudo_labels'))


def test_sampler_batch_size_must_match(tiny_scenes, tmp_path):
    cfg = tiny_cfg(tiny_scenes, str(tmp_path))
    cfg.train_dataloader.sampler.batch_size = 3
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match='sampler.batch_size'):
        runner.train()
