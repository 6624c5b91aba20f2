# Copyright (c) dmt_mm contributors. All rights reserved.
"""dmt_mm.utils.restricted_unpickler, the ``pickle_module`` that
``load_checkpoint_safely`` uses on torch < 2.4, tested on every torch (it is
passed to ``torch.load`` directly here): what it admits is exactly
``get_mmengine_safe_globals()`` plus torch's weights-only defaults, and
everything else -- a code-running ``__reduce__``, a call of a non-admitted
object, state set on a function -- is refused without running."""
import collections
import io
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from dmt_mm.utils import restricted_unpickler as ru
from dmt_mm.utils.checkpoint import get_mmengine_safe_globals


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=False,
                      pickle_module=ru)


class _RunsCode:
    """Unpickling it would run ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_admits_exactly_the_allowlist_and_torchs_defaults():
    table = ru.admitted_globals()
    for entry in get_mmengine_safe_globals():
        obj, name = entry if isinstance(entry, tuple) else \
            (entry, f'{entry.__module__}.{entry.__qualname__}')
        assert table[name] is obj, name
    for name in ('torch._utils._rebuild_tensor_v2', 'collections.OrderedDict',
                 'torch.Size', 'torch.float32', 'builtins.set',
                 'torch.nn.parameter.Parameter'):
        assert name in table, name
    allowlisted = {e[1] if isinstance(e, tuple) else
                   f'{e.__module__}.{e.__qualname__}'
                   for e in get_mmengine_safe_globals()}
    others = set(table) - allowlisted
    # nothing beyond torch's own kinds of objects, e.g. no module of the OS
    assert all(n.startswith(('torch.', 'collections.', 'builtins.',
                             '_codecs.')) for n in others), others
    assert {'builtins.getattr', 'builtins.eval', 'builtins.exec',
            'posix.system', 'os.system', 'builtins.__import__'} & others \
        == set()


def test_round_trip_of_what_checkpoints_hold(tmp_path):
    buf = HistoryBuffer()
    for v in (1.0, 3.0):
        buf.update(v)
    obj = collections.OrderedDict(
        w=torch.arange(6.).reshape(2, 3)[:, 1:],  # a strided view
        p=torch.nn.Parameter(torch.ones(2)),
        half=torch.zeros(2, dtype=torch.float16), size=torch.Size([2, 3]),
        arr=np.arange(4, dtype=np.uint8), best=np.float64(0.5),
        hist=buf, raw=b'\x00\xff', tags={1, 2}, z=1 + 2j,
        nested=dict(a=[1, 2.0, 'x', None, (True, )]))
    path = tmp_path / 'ok.pth'
    torch.save(obj, path)
    out = _load(path)
    assert type(out) is collections.OrderedDict and list(out) == list(obj)
    assert torch.equal(out['w'], obj['w']) and out['w'].shape == (2, 2)
    assert isinstance(out['p'], torch.nn.Parameter) and out['p'].requires_grad
    assert out['half'].dtype == torch.float16 and out['size'] == (2, 3)
    np.testing.assert_array_equal(out['arr'], [0, 1, 2, 3])
    assert out['arr'].dtype == np.uint8 and out['best'] == 0.5
    assert out['hist'].mean() == 2.0 and out['hist'].max() == 3.0
    assert out['raw'] == b'\x00\xff' and out['tags'] == {1, 2}
    assert out['z'] == 1 + 2j and out['nested'] == obj['nested']


def test_code_running_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / 'ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _RunsCode(marker)}, path)
    assert f'{os.system.__module__}.system' in ru.checkpoint_globals(
        str(path))
    with pytest.raises(pickle.UnpicklingError,
                       match=rf'refused global {os.system.__module__}'
                       r'\.system'):
        _load(path)
    assert not marker.exists()


def _raw_pickle(*ops: bytes) -> io.BytesIO:
    """A protocol-2 pickle from opcodes (what no pickler would write)."""
    return io.BytesIO(b'\x80\x02' + b''.join(ops) + pickle.STOP)


def _global(dotted: str) -> bytes:
    module, name = dotted.rsplit('.', 1)
    return pickle.GLOBAL + f'{module}\n{name}\n'.encode()


def _str(text: str) -> bytes:
    data = text.encode()
    return pickle.SHORT_BINUNICODE + bytes([len(data)]) + data


@pytest.mark.parametrize('ops, refused', [
    # state set on an admitted *function* (could redirect later calls)
    ((_global('torch._utils._rebuild_tensor_v2'), pickle.NONE,
      pickle.EMPTY_DICT, _str('__defaults__'), pickle.NONE, pickle.SETITEM,
      pickle.TUPLE2, pickle.BUILD), 'refused BUILD on a function'),
    # a call of something that is not an admitted global (a dict)
    ((pickle.EMPTY_DICT, pickle.EMPTY_TUPLE, pickle.REDUCE),
     'refused REDUCE'),
    # SETITEM into an admitted class's instance that is not a dict
    ((_global('torch.Size'), pickle.EMPTY_TUPLE, pickle.REDUCE, pickle.NONE,
      pickle.NONE, pickle.SETITEM), 'refused SETITEM on a Size'),
    # legacy ``__builtin__`` names are mapped, then refused
    ((_global('__builtin__.eval'), ), 'refused global builtins.eval'),
    ((_global('builtins.getattr'), _global('os.path'), _str('join'),
      pickle.TUPLE2, pickle.REDUCE), 'refused global os.path'),
])
def test_opcode_rules(ops, refused):
    with pytest.raises(pickle.UnpicklingError, match=refused):
        ru.Unpickler(_raw_pickle(*ops)).load()


def test_restricted_getattr_and_bytes_codec():
    # getattr(HistoryBuffer, name) only for its statistics methods
    ok = _raw_pickle(_global('builtins.getattr'),
                     _global('mmengine.logging.history_buffer.HistoryBuffer'),
                     _str('mean'), pickle.TUPLE2, pickle.REDUCE)
    assert ru.Unpickler(ok).load() is HistoryBuffer.mean
    bad = _raw_pickle(_global('builtins.getattr'),
                      _global('mmengine.logging.history_buffer.HistoryBuffer'),
                      _str('__init__'), pickle.TUPLE2, pickle.REDUCE)
    with pytest.raises(pickle.UnpicklingError, match='is not allowed'):
        ru.Unpickler(bad).load()
    # _codecs.encode only as protocol 2 writes bytes: latin1
    codec = _raw_pickle(_global('_codecs.encode'), _str('eJwDAAAAAAE='),
                        _str('base64'), pickle.TUPLE2, pickle.REDUCE)
    with pytest.raises(pickle.UnpicklingError, match="'base64'"):
        ru.Unpickler(codec).load()


def test_legacy_format_goes_through_the_same_rules(tmp_path):
    path = tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(2), 'arr': np.arange(2)}, path,
               _use_new_zipfile_serialization=False)
    out = _load(path)
    assert torch.equal(out['w'], torch.ones(2))
    np.testing.assert_array_equal(out['arr'], [0, 1])
    assert ru.checkpoint_globals(str(path)) == []  # not a zip: not read
    marker = tmp_path / 'ran'
    torch.save({'x': _RunsCode(marker)}, path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(pickle.UnpicklingError, match='refused global'):
        _load(path)
    assert not marker.exists()
