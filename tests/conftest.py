# Copyright (c) dmt_mm contributors. All rights reserved.
"""Shared fixtures: tiny real data made by the project's own converter."""
import contextlib
import importlib.util
import os.path as osp
from pathlib import Path

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
    """40 train / 12 val digit scenes of 48x48 (4 + 4 labelled)."""
    conv = load_tool('tools/dataset_converters/digit_scenes.py',
                     'digit_scenes_converter_fixture')
    root = str(tmp_path_factory.mktemp('tiny_scenes'))
    conv.build_digit_scenes(
        root, num_train=40, num_val=12, num_labeled=4, size=48, seed=1)
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
