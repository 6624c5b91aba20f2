# Copyright (c) dmt_mm contributors. All rights reserved.
"""Shared fixtures: tiny real data made by the project's own converter."""
import contextlib
import importlib.util
import os
import os.path as osp
import pickle
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def load_tool(relpath: str, name: str):
    """Import a script under ``tools/`` as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def tiny_scenes(tmp_path_factory):
    """40 train / 12 val digit scenes of 48x48 (4 + 4 labelled), with a
    held-out part of 8 and a pool budget of 20 (split seed 0; tests pick it
    with ``DMT_BUDGET=20``)."""
    conv = load_tool('tools/dataset_converters/digit_scenes.py',
                     'digit_scenes_converter_fixture')
    root = str(tmp_path_factory.mktemp('tiny_scenes'))
    conv.build_digit_scenes(
        root, num_train=40, num_val=12, num_labeled=4, size=48, seed=1,
        num_heldout=8, budgets=(20, ))
    assert osp.isfile(osp.join(root, 'meta.json'))
    return root


@pytest.fixture(autouse=True)
def _mmseg_scope():
    """Components are built the way a config builds them (scope mmseg)."""
    import dmt_mm  # noqa: F401
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


@contextlib.contextmanager
def fast_cpu_context():
    """One intra-op thread (tiny tensors: threads only contend) and a cheap
    ``Config.pretty_text`` (yapf-formatting the whole config into every
    checkpoint's meta costs over a second per checkpoint)."""
    import torch
    from mmengine.config import Config
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Config, 'pretty_text',
                   property(lambda self: self.text or '# config'))
        try:
            yield
        finally:
            torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def digits_cls_root(tmp_path_factory):
    """The bundled digits image folder (50-label subset, seed 0)."""
    conv = load_tool('tools/dataset_converters/digits_cls.py',
                     'digits_cls_converter_fixture')
    root = str(tmp_path_factory.mktemp('digits_cls'))
    conv.build_digits_cls(root, num_labeled=(50, ), seeds=(0, ))
    return root


@pytest.fixture
def mmpretrain_scope():
    """Build components the way an MMPretrain config does."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def fabricate_cifar(root, per_batch=30, classes=range(10), seed=0):
    """A tiny CIFAR-10 in its real on-disk format (python pickles)."""
    rng = np.random.default_rng(seed)
    folder = osp.join(root, 'cifar-10-batches-py')
    os.makedirs(folder, exist_ok=True)
    classes = list(classes)
    all_labels, all_data = [], []
    for i in range(1, 6):
        labels = [classes[j % len(classes)] for j in range(per_batch)]
        labels = [int(v) for v in rng.permutation(labels)]
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        with open(osp.join(folder, f'data_batch_{i}'), 'wb') as f:
            pickle.dump(
                dict(
                    batch_label=f'training batch {i} of 5',
                    labels=labels,
                    data=data,
                    filenames=[f'img_{i}_{j}.png' for j in range(per_batch)]),
                f)
        all_labels += labels
        all_data.append(data)
    test = rng.integers(0, 256, size=(20, 3072), dtype=np.uint8)
    with open(osp.join(folder, 'test_batch'), 'wb') as f:
        pickle.dump(dict(labels=[j % 10 for j in range(20)], data=test), f)
    with open(osp.join(folder, 'batches.meta'), 'wb') as f:
        pickle.dump(
            dict(
                label_names=[
                    'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                    'frog', 'horse', 'ship', 'truck'
                ],
                num_cases_per_batch=per_batch,
                num_vis=3072), f)
    return np.array(all_labels), np.concatenate(all_data)
