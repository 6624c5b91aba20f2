# Copyright (c) dmt_mm contributors. All rights reserved.
"""Checkpoints whose pickle would run code are refused on every torch: by
``load_checkpoint_safely``, mmengine's ``load_checkpoint`` and ``resume``
(their local loader is dmt_mm's), and the restricted ``getattr`` of
HistoryBuffer's pickles. The loads of real checkpoints:
test_checkpoint_safety.py."""
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint
from mmengine.utils import digit_version

from dmt_mm.utils.checkpoint import (load_checkpoint_safely,
                                     register_safe_globals)
from test_checkpoint_safety import (TORCH, _build_runner, _RecordIters,
                                    _safe_loaders)


class _Evil:
    """An arbitrary class: safe loading must refuse it."""

    def __reduce__(self):
        return (print, ('this must never run', ))


class _SneakyGetattr:
    """Pickles as ``getattr(obj, name)``, like HistoryBuffer's methods."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


class _Touch:
    """Unpickling it would run ``touch MARKER`` (``os.system``)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_bare_torch_load_default(tmp_path, capsys):
    """torch >= 2.6: a bare ``torch.load`` is weights-only (the allowlist
    leaked nothing); torch < 2.6: it runs the pickle, which is why dmt_mm
    routes mmengine's loads through ``load_checkpoint_safely``."""
    register_safe_globals()
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Evil()}, path)
    if TORCH >= digit_version('2.6.0'):
        with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
            torch.load(path)
        assert 'this must never run' not in capsys.readouterr().out
    else:
        torch.load(path)
        assert 'this must never run' in capsys.readouterr().out
    with pytest.raises(pickle.UnpicklingError,
                       match=rf'refused to load {path}: it needs '
                       r'builtins\.print'):
        load_checkpoint_safely(path)
    assert 'this must never run' not in capsys.readouterr().out


def test_code_running_checkpoint_is_refused_everywhere(tmp_path):
    """load_checkpoint_safely, mmengine's load_checkpoint and resume."""
    marker = tmp_path / 'ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {}, 'x': _Touch(marker)}, path)
    system = f'{os.system.__module__}.system'
    with pytest.raises(pickle.UnpicklingError,
                       match=rf'refused to load {path}: it needs {system}'):
        load_checkpoint_safely(str(path))
    with pytest.raises(pickle.UnpicklingError, match=system):
        load_checkpoint(nn.Linear(2, 1), str(path))
    with pytest.raises(pickle.UnpicklingError, match=system):
        _build_runner(tmp_path / 'w', _RecordIters(), load_from=str(path),
                      resume=True).train()
    assert not marker.exists()


def test_getattr_is_restricted(tmp_path):
    register_safe_globals()
    path = tmp_path / 'getattr.pth'
    torch.save({'m': _SneakyGetattr(HistoryBuffer, 'mean')}, path)
    for load in _safe_loaders():
        assert load(path)['m'] is HistoryBuffer.mean
    for obj, name in [(HistoryBuffer, 'update'), (HistoryBuffer, '__init__'),
                      (np.ndarray, 'tofile'),
                      (HistoryBuffer.mean, '__globals__')]:
        torch.save({'m': _SneakyGetattr(obj, name)}, path)
        for load in _safe_loaders():
            with pytest.raises(pickle.UnpicklingError, match='is not allowed'):
                load(path)
