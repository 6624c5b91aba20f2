# Copyright (c) dmt_mm contributors. All rights reserved.
"""Command-line behaviour of ``tools/train.py``, ``tools/test.py`` and the
``dist_*.sh`` launchers."""
import importlib.util
import logging
import os
import os.path as osp
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools')


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'dmt_mm_tools_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_tool = _load_tool('train')
test_tool = _load_tool('test')

DMT_CFG = """
model = dict(
    type='DMTSegmentor',
    model_a=dict(type='EncoderDecoder'),
    gamma1=5.0)
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.001, momentum=0.9))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100)
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
default_hooks = dict(visualization=dict(type='SegVisualizationHook'))
visualizer = dict(type='SegLocalVisualizer', name='visualizer')
"""

PLAIN_CFG = """
model = dict(type='EncoderDecoder')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
test_evaluator = [dict(type='mmpretrain.Accuracy', topk=(1, ))]
default_hooks = dict(logger=dict(type='LoggerHook'))
work_dir = './from_config'
"""


@pytest.fixture
def dmt_cfg(tmp_path):
    path = tmp_path / 'dmt_voc_r101.py'
    path.write_text(DMT_CFG)
    return str(path)


@pytest.fixture
def plain_cfg(tmp_path):
    path = tmp_path / 'plain_cls.py'
    path.write_text(PLAIN_CFG)
    return str(path)


# --------------------------------------------------------------- train.py
def test_train_parse_defaults(monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    args = train_tool.parse_args(['cfg.py'])
    assert args.config == 'cfg.py'
    assert args.work_dir is None and args.resume is None
    assert args.amp is False and args.cfg_options is None
    assert args.launcher == 'none' and args.local_rank == 0
    assert os.environ['LOCAL_RANK'] == '0'


@pytest.mark.parametrize('flag', ['--local-rank', '--local_rank'])
def test_local_rank_sets_env(monkeypatch, flag):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    args = train_tool.parse_args(['cfg.py', f'{flag}=3'])
    assert args.local_rank == 3 and os.environ['LOCAL_RANK'] == '3'
    # torchrun's LOCAL_RANK wins over the argument
    monkeypatch.setenv('LOCAL_RANK', '1')
    test_tool.parse_args(['cfg.py', 'ckpt.pth', flag, '5'])
    assert os.environ['LOCAL_RANK'] == '1'


def test_train_launcher_choices():
    assert train_tool.parse_args(['c.py', '--launcher',
                                  'pytorch']).launcher == 'pytorch'
    with pytest.raises(SystemExit):
        train_tool.parse_args(['c.py', '--launcher', 'horovod'])


def test_train_resume_forms(dmt_cfg):
    args = train_tool.parse_args([dmt_cfg, '--resume'])
    assert args.resume == 'auto'
    cfg = train_tool.build_train_cfg(args)
    assert cfg.resume is True and cfg.load_from is None

    args = train_tool.parse_args([dmt_cfg, '--resume', 'work/iter_8.pth'])
    cfg = train_tool.build_train_cfg(args)
    assert cfg.resume is True and cfg.load_from == 'work/iter_8.pth'

    cfg = train_tool.build_train_cfg(train_tool.parse_args([dmt_cfg]))
    assert cfg.get('resume', False) is False


def test_auto_resume_keeps_initial_load_from(dmt_cfg, tmp_path):
    work_dir = tmp_path / 'work'
    argv = [
        dmt_cfg, '--resume', '--work-dir',
        str(work_dir), '--cfg-options', 'load_from=phase0.pth'
    ]
    # nothing to resume yet: start a new run from the config's load_from
    cfg = train_tool.build_train_cfg(train_tool.parse_args(argv))
    assert cfg.resume is False and cfg.load_from == 'phase0.pth'
    # once the work dir has a checkpoint, resume from the latest one
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_4.pth'))
    torch.save({'meta': {}}, str(work_dir / 'iter_4.pth'))
    cfg = train_tool.build_train_cfg(train_tool.parse_args(argv))
    assert cfg.resume is True and cfg.load_from is None


def test_auto_resume_refuses_a_missing_or_cut_checkpoint(dmt_cfg, tmp_path):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    argv = [dmt_cfg, '--resume', '--work-dir', str(work_dir)]
    ckpt = work_dir / 'iter_4.pth'
    (work_dir / 'last_checkpoint').write_text(str(ckpt))
    with pytest.raises(FileNotFoundError, match='iter_4.pth.*does not exist'):
        train_tool.build_train_cfg(train_tool.parse_args(argv))
    torch.save({'meta': {}, 'w': torch.zeros(1000)}, str(ckpt))
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[:len(data) // 2])  # a save cut short
    with pytest.raises(ValueError, match='not a complete checkpoint'):
        train_tool.build_train_cfg(train_tool.parse_args(argv))


def test_train_cfg_options_merge(dmt_cfg):
    args = train_tool.parse_args([
        dmt_cfg, '--cfg-options', 'optim_wrapper.optimizer.lr=0.5',
        'train_cfg.max_iters=3', 'model.gamma1=3.0', 'model.new_key=[1,2]',
        'randomness.seed=7'
    ])
    cfg = train_tool.build_train_cfg(args)
    assert cfg.optim_wrapper.optimizer.lr == 0.5
    assert cfg.optim_wrapper.optimizer.momentum == 0.9  # untouched
    assert cfg.train_cfg.max_iters == 3
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.model.gamma1 == 3.0 and cfg.model.new_key == [1, 2]
    assert cfg.model.model_a.type == 'EncoderDecoder'
    assert cfg.randomness.seed == 7
    assert cfg.launcher == 'none'


def test_work_dir_priority(dmt_cfg, plain_cfg):
    # no --work-dir and none in the config: ./work_dirs/<config stem>
    cfg = train_tool.build_train_cfg(train_tool.parse_args([dmt_cfg]))
    assert cfg.work_dir == osp.join('./work_dirs', 'dmt_voc_r101')
    # the config's work_dir beats the default
    cfg = train_tool.build_train_cfg(train_tool.parse_args([plain_cfg]))
    assert cfg.work_dir == './from_config'
    # --work-dir beats both
    cfg = train_tool.build_train_cfg(
        train_tool.parse_args([plain_cfg, '--work-dir', '/tmp/x']))
    assert cfg.work_dir == '/tmp/x'
    cfg = test_tool.build_test_cfg(test_tool.parse_args([dmt_cfg, 'c.pth']))
    assert cfg.work_dir == osp.join('./work_dirs', 'dmt_voc_r101')


def test_amp_switch(dmt_cfg, plain_cfg):
    cfg = Config.fromfile(dmt_cfg)
    assert train_tool.enable_amp(cfg, cuda_available=True) is True
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer.lr == 0.001
    # already AMP: left as it is (its own loss_scale is kept)
    cfg.optim_wrapper.loss_scale = 512.0
    assert train_tool.enable_amp(cfg, cuda_available=True) is True
    assert cfg.optim_wrapper.loss_scale == 512.0
    # no `type` means OptimWrapper
    cfg = Config.fromfile(plain_cfg)
    assert train_tool.enable_amp(cfg, cuda_available=True) is True
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_amp_without_cuda_stays_fp32(dmt_cfg):
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        cfg = Config.fromfile(dmt_cfg)
        assert train_tool.enable_amp(cfg, cuda_available=False) is False
    finally:
        logger.removeHandler(handler)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    assert any(r.levelno == logging.WARNING
               and 'CUDA is not available' in r.getMessage() for r in records)


def test_amp_rejects_other_wrappers(dmt_cfg):
    cfg = Config.fromfile(dmt_cfg)
    cfg.optim_wrapper.type = 'ApexOptimWrapper'
    with pytest.raises(ValueError, match='ApexOptimWrapper'):
        train_tool.enable_amp(cfg, cuda_available=True)
    cfg = Config(dict(model=dict(type='X')))
    with pytest.raises(ValueError, match='optim_wrapper'):
        train_tool.enable_amp(cfg, cuda_available=True)


def test_amp_flag_through_build(dmt_cfg, monkeypatch):
    monkeypatch.setattr(train_tool, '_cuda_available', lambda: True)
    cfg = train_tool.build_train_cfg(train_tool.parse_args([dmt_cfg, '--amp']))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


# ---------------------------------------------------------------- test.py
def test_test_parse_args():
    args = test_tool.parse_args(['cfg.py', 'ckpt.pth'])
    assert (args.config, args.checkpoint) == ('cfg.py', 'ckpt.pth')
    assert args.model is None and args.out is None
    assert not args.show and args.show_dir is None
    assert args.wait_time == 2
    assert test_tool.parse_args(['c.py', 'k.pth', '--model', 'B']).model == 'B'
    with pytest.raises(SystemExit):
        test_tool.parse_args(['c.py'])  # checkpoint is required


def test_model_choice_dmt(dmt_cfg):
    cfg = test_tool.build_test_cfg(test_tool.parse_args([dmt_cfg, 'c.pth']))
    assert cfg.model.eval_model == 'A'
    assert cfg.load_from == 'c.pth'
    cfg = test_tool.build_test_cfg(
        test_tool.parse_args([dmt_cfg, 'c.pth', '--model', 'B']))
    assert cfg.model.eval_model == 'B'
    # without --model an explicit eval_model of the config is kept
    cfg = test_tool.build_test_cfg(
        test_tool.parse_args(
            [dmt_cfg, 'c.pth', '--cfg-options', 'model.eval_model=B']))
    assert cfg.model.eval_model == 'B'
    cfg = test_tool.build_test_cfg(
        test_tool.parse_args([
            dmt_cfg, 'c.pth', '--model', 'A', '--cfg-options',
            'model.eval_model=B'
        ]))
    assert cfg.model.eval_model == 'A'
    with pytest.raises(
            ValueError, match=r"one of the DMT models \('A', 'B'\)"):
        test_tool.build_test_cfg(
            test_tool.parse_args([dmt_cfg, 'c.pth', '--model', 'C']))
    # custom model names: the first is the default
    cfg = test_tool.build_test_cfg(
        test_tool.parse_args(
            [dmt_cfg, 'c.pth', '--cfg-options', 'model.model_names=[S,T]']))
    assert cfg.model.eval_model == 'S'
    # a scoped type name is recognised too
    cfg = Config.fromfile(dmt_cfg)
    cfg.model.type = 'dmt_mm.DMTSegmentor'
    assert test_tool.select_eval_model(cfg, 'B') == 'B'


def test_model_choice_plain(plain_cfg):
    cfg = test_tool.build_test_cfg(test_tool.parse_args([plain_cfg, 'c.pth']))
    assert 'eval_model' not in cfg.model
    with pytest.raises(ValueError, match="model.type='EncoderDecoder'"):
        test_tool.build_test_cfg(
            test_tool.parse_args([plain_cfg, 'c.pth', '--model', 'A']))


def test_out_dir_sets_seg_metric(dmt_cfg, plain_cfg):
    cfg = test_tool.build_test_cfg(
        test_tool.parse_args([dmt_cfg, 'c.pth', '--out', 'preds']))
    assert cfg.test_evaluator.output_dir == 'preds'
    assert cfg.test_evaluator.keep_results is True
    # a classification metric cannot write a mask directory
    with pytest.raises(ValueError, match=r'\.pkl'):
        test_tool.build_test_cfg(
            test_tool.parse_args([plain_cfg, 'c.pth', '--out', 'preds']))


def test_out_pickle_adds_dump_results(dmt_cfg, plain_cfg):
    cfg = test_tool.build_test_cfg(
        test_tool.parse_args([plain_cfg, 'c.pth', '--out', 'r.pkl']))
    assert [m['type'] for m in cfg.test_evaluator
            ] == ['mmpretrain.Accuracy', 'mmengine.DumpResults']
    assert cfg.test_evaluator[1]['out_file_path'] == 'r.pkl'
    cfg = test_tool.build_test_cfg(
        test_tool.parse_args([dmt_cfg, 'c.pth', '--out', 'r.pkl']))
    assert [m['type'] for m in cfg.test_evaluator
            ] == ['IoUMetric', 'mmengine.DumpResults']
    # an Evaluator dict keeps its form
    cfg = Config(
        dict(
            test_evaluator=dict(
                type='Evaluator', metrics=dict(type='IoUMetric'))))
    test_tool.set_prediction_output(cfg, 'r.pickle')
    assert [m['type'] for m in cfg.test_evaluator.metrics
            ] == ['IoUMetric', 'mmengine.DumpResults']


def test_show_dir_seg_visualization(dmt_cfg):
    cfg = test_tool.build_test_cfg(
        test_tool.parse_args([
            dmt_cfg, 'c.pth', '--show-dir', 'vis', '--show', '--wait-time',
            '0.5'
        ]))
    hook = cfg.default_hooks.visualization
    assert hook.draw is True and hook.show is True and hook.wait_time == 0.5
    assert cfg.visualizer.save_dir == 'vis'


def test_show_dir_pretrain_visualization(plain_cfg):
    cfg = Config.fromfile(plain_cfg)
    cfg.default_hooks.visualization = dict(
        type='VisualizationHook', enable=False)
    args = test_tool.parse_args([plain_cfg, 'c.pth', '--show-dir', 'vis'])
    test_tool.trigger_visualization_hook(cfg, args)
    hook = cfg.default_hooks.visualization
    assert hook.enable is True and hook.out_dir == 'vis'
    assert 'show' not in hook


def test_show_without_hook_is_clear_error(plain_cfg):
    with pytest.raises(RuntimeError, match='visualization hook'):
        test_tool.build_test_cfg(
            test_tool.parse_args([plain_cfg, 'c.pth', '--show']))


def test_test_missing_checkpoint(plain_cfg, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        test_tool.main([plain_cfg, str(tmp_path / 'nope.pth')])


# ------------------------------------------------------------ dist_*.sh
def _run_sh(script, *args, **env):
    full_env = dict(os.environ, PYTHON='echo', **env)
    out = subprocess.run(['bash', osp.join(TOOLS, script), *args],
                         env=full_env,
                         capture_output=True,
                         text=True,
                         check=True)
    return out.stdout.split()


def test_dist_train_command_line():
    argv = _run_sh('dist_train.sh', 'cfg.py', '4', '--amp', '--resume')
    assert argv[:2] == ['-m', 'torch.distributed.run']
    assert '--nproc_per_node=4' in argv and '--nnodes=1' in argv
    assert '--master_port=29500' in argv
    assert '--master_addr=127.0.0.1' in argv
    assert argv[-6:] == [
        osp.join(TOOLS, 'train.py'), 'cfg.py', '--launcher', 'pytorch',
        '--amp', '--resume'
    ]


def test_dist_test_command_line():
    argv = _run_sh(
        'dist_test.sh',
        'cfg.py',
        'k.pth',
        '2',
        '--model',
        'B',
        PORT='29999',
        NNODES='2',
        NODE_RANK='1')
    assert '--nproc_per_node=2' in argv and '--master_port=29999' in argv
    assert '--nnodes=2' in argv and '--node_rank=1' in argv
    assert argv[-7:] == [
        osp.join(TOOLS, 'test.py'), 'cfg.py', 'k.pth', '--launcher', 'pytorch',
        '--model', 'B'
    ]


def test_dist_scripts_usage():
    out = subprocess.run(
        ['bash', osp.join(TOOLS, 'dist_test.sh'), 'c.py'],
        capture_output=True,
        text=True)
    assert out.returncode == 2 and 'usage' in out.stderr


# ------------------------------------------------------------ end to end
TOY_MODULE = '''
import torch
import torch.nn as nn
from torch.utils.data import Dataset
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
import numpy as np


@MODELS.register_module()
class CliToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - data_samples) ** 2).mean())
        if mode == 'predict':
            return [dict(pred=p.detach()) for p in out]
        return out


@DATASETS.register_module()
class CliToyDataset(Dataset):
    metainfo = dict(classes=('a', 'b'),
                    palette=np.array([[0, 0, 0], [9, 9, 9]], np.uint8))

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([i / 4.0, 1.0]),
                    data_samples=torch.tensor(float(i % 2)))


@METRICS.register_module()
class CliToyMetric(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.extend(float(d['pred']) for d in data_samples)

    def compute_metrics(self, results):
        return dict(n=np.float64(len(results)))
'''

TOY_CFG = '''
custom_imports = dict(imports=['cli_toy_module'], allow_failed_imports=False)
default_scope = 'mmengine'
_loader = dict(
    dataset=dict(type='CliToyDataset'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    batch_size=2, num_workers=0, collate_fn=dict(type='default_collate'))
model = dict(type='CliToyModel')
train_dataloader = _loader
test_dataloader = _loader
test_evaluator = dict(type='CliToyMetric')
test_cfg = dict()
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = dict(type='PolyLR', power=0.9, by_epoch=False, end=4)
train_cfg = dict(by_epoch=False, max_iters=2)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
    logger=dict(type='LoggerHook', interval=1))
'''


@pytest.mark.slow
def test_train_resume_test_end_to_end(tmp_path):
    """train 2 iters -> --resume to 3 -> test, from another cwd; the loads
    go through dmt_mm's safe loader (mmengine's local scheme)."""
    (tmp_path / 'cli_toy_module.py').write_text(TOY_MODULE)
    cfg = tmp_path / 'toy_cfg.py'
    cfg.write_text(TOY_CFG)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    env.pop('LOCAL_RANK', None)

    def run(script, *args):
        proc = subprocess.run(
            [sys.executable, osp.join(TOOLS, script), *args],
            cwd=str(tmp_path),
            env=env,
            capture_output=True,
            text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    run('train.py', str(cfg))
    work_dir = tmp_path / 'work_dirs' / 'toy_cfg'  # the default work dir
    assert (work_dir / 'iter_2.pth').is_file()

    log = run('train.py', str(cfg), '--resume', '--cfg-options',
              'train_cfg.max_iters=3')
    assert 'resumed epoch: 0, iter: 2' in log
    assert (work_dir / 'iter_3.pth').is_file()

    log = run('test.py', str(cfg), str(work_dir / 'iter_3.pth'), '--out',
              str(tmp_path / 'preds.pkl'))
    assert 'Load checkpoint from' in log
    with open(tmp_path / 'preds.pkl', 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4
