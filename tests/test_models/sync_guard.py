# Copyright (c) dmt_mm contributors. All rights reserved.
"""A guard that fails a test when code reads a tensor back to the host.

On a GPU each of these waits for the device to finish its queued work (a
host-device sync); the training step of DMT must not contain any. Imported by
the model tests (pytest puts this folder on ``sys.path``).
"""
import contextlib

import pytest
import torch


@contextlib.contextmanager
def no_host_sync():
    """Make every way of reading a tensor back to the host raise.

    On a GPU each of these waits for the device: ``item``, ``tolist``,
    ``numpy``, ``cpu``, ``bool``/``int``/``float``/``index`` of a tensor,
    ``unique``, ``nonzero``, ``sort`` and indexing with a boolean mask.
    """

    def forbid(name):

        def raiser(*args, **kwargs):
            raise AssertionError(f'host-device sync: {name}')

        return raiser

    def guard_index(original):

        def index(self, key, *rest):
            keys = key if isinstance(key, tuple) else (key, )
            if any(isinstance(k, torch.Tensor) and k.dtype == torch.bool
                   for k in keys):
                raise AssertionError('host-device sync: boolean indexing')
            return original(self, key, *rest)

        return index

    with pytest.MonkeyPatch.context() as mp:
        for name in ('item', 'tolist', 'numpy', 'cpu', '__bool__', '__int__',
                     '__float__', '__index__', 'unique', 'nonzero', 'sort'):
            mp.setattr(torch.Tensor, name, forbid(f'Tensor.{name}'))
        for name in ('unique', 'nonzero', 'sort'):
            mp.setattr(torch, name, forbid(f'torch.{name}'))
        mp.setattr(torch.Tensor, '__getitem__',
                   guard_index(torch.Tensor.__getitem__))
        mp.setattr(torch.Tensor, '__setitem__',
                   guard_index(torch.Tensor.__setitem__))
        yield
