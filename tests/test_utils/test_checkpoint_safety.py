# Copyright (c) dmt_mm contributors. All rights reserved.
"""mmengine checkpoints load and resume without unrestricted unpickling.

A real mmengine ``Runner`` trains a toy model for 3 iterations with SGD
(momentum), a PolyLR schedule, a validation metric that returns numpy scalars
(like mmseg's ``IoUMetric``), ``CheckpointHook(save_best=...)`` and a dataset
whose ``metainfo`` holds a numpy palette; its checkpoints must then load with
``load_checkpoint_safely`` (and ``torch.load(weights_only=True)`` on
torch >= 2.4, where the allowlist is torch's) and resume through mmengine's
own path. Tests of behaviour that depends on the torch or numpy version say
which versions they check, and check what holds on the others.
"""
import io
import itertools
import os.path as osp
import pickle
import uuid

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.utils import digit_version
from torch.utils.data import Dataset

from dmt_mm.utils.checkpoint import (get_mmengine_safe_globals,
                                     load_checkpoint_safely,
                                     register_safe_globals)
from dmt_mm.utils.restricted_unpickler import (admitted_globals,
                                               checkpoint_globals)

TORCH = digit_version(torch.__version__)
#: torch >= 2.4: weights-only loading takes an allowlist (add_safe_globals)
HAS_ALLOWLIST = hasattr(torch.serialization, 'add_safe_globals')
#: numpy 2 pickles its functions as numpy._core.*, numpy 1 as numpy.core.*
NUMPY_CORE = 'numpy._core' if digit_version(np.__version__) >= \
    digit_version('2.0.0') else 'numpy.core'

PALETTE = np.array([[0, 0, 0], [128, 0, 0], [0, 128, 0]], dtype=np.uint8)


class _ToyModel(BaseModel):
    """Linear regression on 2-d points; ``(N, 2) -> (N,)``."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - data_samples)**2).mean())
        if mode == 'predict':
            return [dict(pred=p) for p in out]
        return out


class _ToyDataset(Dataset):
    """Eight fixed points; ``metainfo`` like an mmseg dataset's."""

    metainfo = dict(
        classes=('background', 'a', 'b'),
        palette=PALETTE,
        class_weight=np.array([0.5, 1.0, 2.0], dtype=np.float32),
        label_map=None,
        # a nested dict given in a config's `metainfo` stays a ConfigDict
        extra=ConfigDict(ignore_index=255),
        reduce_zero_label=False)

    def __len__(self):
        return 8

    def __getitem__(self, index):
        x = torch.tensor([index / 8.0, 1.0 - index / 8.0])
        return dict(inputs=x, data_samples=torch.tensor(float(index % 2)))


class _NumpyMetric(BaseMetric):
    """Returns numpy scalars and arrays, as mmseg's ``IoUMetric`` does."""

    def process(self, data_batch, data_samples):
        self.results.append(len(data_samples))

    def compute_metrics(self, results):
        return dict(
            mIoU=np.round(np.float64(sum(results)) * 1.25, 2),
            per_class=np.array([1.0, 2.0, 3.0]))


class _RecordIters(Hook):
    """Records ``runner.iter`` at ``before_train`` and after every iter
    (``runner.iter`` is still the 0-based index of the iteration there)."""

    def __init__(self):
        self.start_iter = None
        self.iters = []

    def before_train(self, runner):
        self.start_iter = runner.iter

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.iters.append(runner.iter)


def _dataloader():
    return dict(
        dataset=_ToyDataset(),
        sampler=dict(type='DefaultSampler', shuffle=False),
        batch_size=2,
        num_workers=0,
        collate_fn=dict(type='default_collate'))


def _build_runner(work_dir, recorder, **kwargs):
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'ckpt_safety_{uuid.uuid4().hex}',
        train_dataloader=_dataloader(),
        val_dataloader=_dataloader(),
        val_evaluator=[_NumpyMetric()],
        val_cfg=dict(),
        optim_wrapper=dict(
            optimizer=dict(
                type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4)),
        param_scheduler=dict(
            type='PolyLR',
            eta_min=1e-4,
            power=0.9,
            by_epoch=False,
            begin=0,
            end=3),
        train_cfg=dict(by_epoch=False, max_iters=3, val_interval=2),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook',
                interval=2,
                by_epoch=False,
                save_best='mIoU',
                rule='greater'),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[recorder],
        randomness=dict(seed=0),
        default_scope='mmengine',
        **kwargs)


def _safe_loaders():
    """Every way this torch has to load a checkpoint without running code."""
    loaders = [load_checkpoint_safely]
    if HAS_ALLOWLIST:
        loaders.append(lambda path: torch.load(
            path, map_location='cpu', weights_only=True))
    return loaders


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train 3 iters once; return the work dir (iter_2.pth, iter_3.pth)."""
    work_dir = tmp_path_factory.mktemp('ckpt_safety')
    runner = _build_runner(work_dir, _RecordIters())
    runner.train()
    return work_dir


def test_grad_scaler_state_needs_nothing(tmp_path):
    """AmpOptimWrapper adds GradScaler.state_dict(): plain floats/ints.
    torch >= 2.3: ``torch.amp.GradScaler('cpu')``, the class behind
    ``torch.cuda.amp.GradScaler``; torch < 2.3 has only the CUDA one, which
    is disabled without CUDA (its state is then ``{}``)."""
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    if hasattr(torch.amp, 'GradScaler'):
        scaler = torch.amp.GradScaler('cpu', init_scale=256.0)
    else:
        scaler = torch.cuda.amp.GradScaler(
            init_scale=256.0, enabled=torch.cuda.is_available())
    scaler.scale(model(torch.ones(1, 2)).sum()).backward()
    scaler.step(optimizer)
    scaler.update()
    state = scaler.state_dict()
    assert all(type(v) in (int, float, bool) for v in state.values()), state
    if scaler.is_enabled():
        assert state['scale'] == 256.0 and state['_growth_tracker'] == 1
    path = tmp_path / 'scaler.pth'
    torch.save(
        dict(optimizer=dict(state=optimizer.state_dict(), loss_scaler=state)),
        path)
    assert set(checkpoint_globals(str(path))) <= set(admitted_globals())
    for load in _safe_loaders():
        assert load(path)['optimizer']['loss_scaler'] == state


def test_checkpoint_needs_the_allowlist(trained):
    """Without the allowlist the checkpoint fails (the original bug)."""
    unsafe = set(checkpoint_globals(str(trained / 'iter_2.pth')))
    assert {
        'mmengine.logging.history_buffer.HistoryBuffer', 'numpy.ndarray',
        f'{NUMPY_CORE}.multiarray._reconstruct', 'numpy.dtype',
        f'{NUMPY_CORE}.multiarray.scalar',
        'mmengine.config.config.ConfigDict', 'builtins.getattr'
    } <= unsafe
    if not HAS_ALLOWLIST:  # torch < 2.4: its weights-only loader cannot
        with pytest.raises(pickle.UnpicklingError,
                           match='Weights only load failed'):
            torch.load(trained / 'iter_2.pth', weights_only=True)
        return
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError) as err:
            torch.load(trained / 'iter_2.pth', weights_only=True)
        assert 'Weights only load failed' in str(err.value)
    finally:
        torch.serialization.add_safe_globals(saved)
    register_safe_globals()


def test_checkpoint_loads_safely(trained):
    register_safe_globals()
    for name, load in itertools.product(('iter_2.pth', 'iter_3.pth'),
                                        _safe_loaders()):
        ckpt = load(trained / name)
        assert set(ckpt) >= {
            'meta', 'state_dict', 'message_hub', 'optimizer',
            'param_schedulers'
        }
        meta = ckpt['meta']
        np.testing.assert_array_equal(meta['dataset_meta']['palette'], PALETTE)
        assert meta['dataset_meta']['palette'].dtype == np.uint8
        assert meta['dataset_meta']['classes'] == ('background', 'a', 'b')
        assert isinstance(meta['dataset_meta']['extra'], ConfigDict)
        assert meta['dataset_meta']['extra'].ignore_index == 255
        assert 'linear.weight' in ckpt['state_dict']
        scalars = ckpt['message_hub']['log_scalars']
        assert isinstance(scalars['train/loss'], HistoryBuffer)
        assert scalars['train/loss'].data[0].dtype == np.float64
    ckpt = load_checkpoint_safely(trained / 'iter_2.pth')
    # 8 validation samples * 1.25 = 10.0, kept as numpy.float64 by
    # CheckpointHook(save_best) in the message hub.
    best = ckpt['message_hub']['runtime_info']['best_score']
    assert isinstance(best, np.float64) and best == 10.0
    assert ckpt['meta']['iter'] == 2
    np.testing.assert_array_equal(
        ckpt['message_hub']['runtime_info']['val/per_class'], [1., 2., 3.])


def test_resume_through_mmengine(trained, tmp_path):
    """mmengine's own ``resume`` path (its local loader is ours)."""
    register_safe_globals()
    recorder = _RecordIters()
    runner = _build_runner(
        tmp_path, recorder, load_from=str(trained / 'iter_2.pth'), resume=True)
    runner.train()
    assert recorder.start_iter == 2
    assert recorder.iters == [2]  # one iteration ran: the third (index 2)
    assert runner.iter == 3
    # the message hub was restored: the loss history has 2 + 1 entries
    assert runner.message_hub.get_scalar('train/loss').data[0].shape == (3, )
    assert osp.isfile(tmp_path / 'iter_3.pth')


def test_other_numpy_checkpoint_paths(tmp_path):
    """numpy 2 pickles ``numpy._core.multiarray``, numpy 1
    ``numpy.core.multiarray``: a checkpoint written under the other loads."""
    register_safe_globals()
    buf = io.BytesIO()
    torch.save({
        'arr': np.arange(3, dtype=np.int64),
        'best': np.float64(0.5)
    },
               buf,
               _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    other = {'numpy._core': 'numpy.core', 'numpy.core': 'numpy._core'}
    assert f'{NUMPY_CORE}.multiarray'.encode() in data
    path = tmp_path / 'other_numpy.pth'
    path.write_bytes(data.replace(f'{NUMPY_CORE}.multiarray'.encode(),
                                  f'{other[NUMPY_CORE]}.multiarray'.encode()))
    for load in _safe_loaders():
        out = load(path)
        np.testing.assert_array_equal(out['arr'], [0, 1, 2])
        assert out['best'] == 0.5


def test_register_is_idempotent():
    """torch >= 2.4 gets the allowlist; torch < 2.4 cannot take one, and
    the restricted unpickler admits it instead."""
    registered = register_safe_globals()
    if not HAS_ALLOWLIST:
        assert registered == []
        names = set(admitted_globals())
    else:
        before = len(torch.serialization.get_safe_globals())
        registered = register_safe_globals()
        assert len(torch.serialization.get_safe_globals()) == before
        assert len(registered) == len(get_mmengine_safe_globals())
        names = {
            g[1] if isinstance(g, tuple) else
            f'{g.__module__}.{g.__qualname__}' for g in registered
        }
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert 'numpy.dtypes.Float64DType' in names
