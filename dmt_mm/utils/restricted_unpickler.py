# Copyright (c) dmt_mm contributors. All rights reserved.
"""A restricted unpickler for ``torch.load(..., pickle_module=...)``.

torch < 2.4 has no ``torch.serialization.add_safe_globals``: its
``weights_only=True`` loader admits tensors and primitive containers only and
cannot be taught mmengine's checkpoint types, while its default
(``weights_only=False``) runs whatever callable a pickle names. This module is
a ``pickle_module`` for :func:`torch.load` that restores what
``weights_only=True`` does on torch >= 2.4 with dmt_mm's allowlist
(:func:`dmt_mm.utils.checkpoint.load_checkpoint_safely` uses it there):

* ``GLOBAL`` resolves only the names of :func:`admitted_globals`: what torch's
  own weights-only unpickler admits (tensor and storage rebuild functions,
  ``torch.Size``, ``torch.device``, dtypes, ``Parameter``, ``OrderedDict``,
  ``Counter``, ``set``, ``bytearray``, ``complex``, ``_codecs.encode`` for
  bytes) plus exactly the entries of
  :func:`dmt_mm.utils.checkpoint.get_mmengine_safe_globals`, the list
  :func:`~dmt_mm.utils.checkpoint.register_safe_globals` gives torch. Nothing
  is imported: a refused name raises :class:`pickle.UnpicklingError` naming
  ``module.attr``.
* As in torch's weights-only unpickler, ``REDUCE``/``NEWOBJ``/``OBJ`` only
  call admitted objects, ``BUILD`` only sets the state of a ``Tensor``,
  ``Parameter``, ``OrderedDict`` or an instance of an admitted class (never
  of a function, class or module), ``SETITEM(S)`` only fill ``dict`` /
  ``OrderedDict`` / ``Counter``, ``APPEND(S)`` only lists, ``ADDITEMS`` only
  sets. ``EXT*`` codes go through the same name check.

It builds on :class:`pickle._Unpickler`, the pure-Python unpickler of the
standard library, whose opcode table can be changed (the C one cannot).
"""
import _compat_pickle
import codecs
import collections
import functools
import importlib
import pickle
import pickletools
import zipfile
from typing import Any, Dict, List

import torch

__all__ = ['Unpickler', 'load', 'admitted_globals', 'checkpoint_globals']

#: What torch's weights-only unpickler admits (torch 2.1 to 2.14), by the name
#: a pickle gives; names a torch version lacks are skipped.
_TORCH_NAMES = (
    'collections.OrderedDict', 'collections.Counter', 'builtins.set',
    'builtins.bytearray', 'builtins.complex', 'torch.Size', 'torch.Tensor',
    'torch.device', 'torch.nn.parameter.Parameter',
    'torch.serialization._get_layout', 'torch._tensor._rebuild_from_type_v2',
    'torch.storage.TypedStorage', 'torch.storage.UntypedStorage',
    *(f'torch._utils._rebuild_{kind}' for kind in (
        'parameter', 'parameter_with_state', 'qtensor', 'tensor',
        'tensor_v2', 'tensor_v3', 'sparse_tensor', 'meta_tensor_no_storage',
        'nested_tensor', 'wrapper_subclass', 'device_tensor_from_numpy',
        'device_tensor_from_cpu_tensor')))


def _latin1_encode(text: str, encoding: str = 'latin1') -> bytes:
    """``_codecs.encode`` as pickle protocol 2 uses it for ``bytes``."""
    if codecs.lookup(encoding).name != 'iso8859-1':
        raise pickle.UnpicklingError(
            f'_codecs.encode(..., {encoding!r}) is not allowed: pickles '
            "write bytes as _codecs.encode(text, 'latin1')")
    return codecs.encode(text, 'latin1')


def _resolve(dotted: str) -> Any:
    module, _, name = dotted.rpartition('.')
    return getattr(importlib.import_module(module), name, None)


@functools.lru_cache(maxsize=1)
def admitted_globals() -> Dict[str, Any]:
    """The ``module.attr`` names the unpickler resolves, and their objects.

    Returns:
        dict: torch's weights-only defaults (see the module docstring) and
        the entries of ``get_mmengine_safe_globals()``, each under the name
        :func:`torch.serialization.add_safe_globals` would give it.
    """
    from .checkpoint import get_mmengine_safe_globals
    table = {name: obj for name in _TORCH_NAMES
             if (obj := _resolve(name)) is not None}
    table['_codecs.encode'] = _latin1_encode
    for name in dir(torch):  # dtypes, quantization schemes, storages
        obj = getattr(torch, name)
        if isinstance(obj, (torch.dtype, torch.qscheme)):
            table[str(obj)] = obj
        elif name.endswith('Storage') and isinstance(obj, type):
            # torch.load resolves these names itself (``StorageType``)
            table[f'torch.{name}'] = obj
    for entry in get_mmengine_safe_globals():
        obj, name = entry if isinstance(entry, tuple) else \
            (entry, f'{entry.__module__}.{entry.__qualname__}')
        table[name] = obj
    return table


def _pickle_name(unpickler, module: str, name: str):
    """``(module, name)`` after pickle's Python 2 name mapping
    (``__builtin__`` -> ``builtins``), which protocol 2 needs."""
    if unpickler is None or (unpickler.proto < 3 and unpickler.fix_imports):
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return module, name


class Unpickler(pickle._Unpickler):
    """Resolves only :func:`admitted_globals`; see the module docstring."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self._admitted = admitted_globals()
        self._callable_ids = {id(obj) for obj in self._admitted.values()}
        self._buildable = {
            obj for obj in self._admitted.values() if isinstance(obj, type)
        } | {torch.Tensor, torch.nn.Parameter, collections.OrderedDict}

    def find_class(self, module: str, name: str) -> Any:
        module, name = _pickle_name(self, module, name)
        try:
            return self._admitted[f'{module}.{name}']
        except KeyError:
            raise pickle.UnpicklingError(
                f'refused global {module}.{name}: not one of the types '
                'dmt_mm admits in a checkpoint (tensors, containers, numpy '
                'arrays and the mmengine types of '
                'dmt_mm.utils.checkpoint.get_mmengine_safe_globals)') \
                from None

    def _check_call(self, func: Any, what: str) -> None:
        if id(func) not in self._callable_ids:
            raise pickle.UnpicklingError(
                f'refused {what} of {func!r}: only admitted globals are '
                'called')

    def _check_target(self, obj: Any, types: tuple, what: str) -> None:
        if type(obj) not in types:
            raise pickle.UnpicklingError(
                f'refused {what} on a {type(obj).__name__}')

    def load_reduce(self):
        self._check_call(self.stack[-2], 'REDUCE')
        super().load_reduce()

    def load_newobj(self):
        self._check_call(self.stack[-2], 'NEWOBJ')
        super().load_newobj()

    def load_newobj_ex(self):
        self._check_call(self.stack[-3], 'NEWOBJ_EX')
        super().load_newobj_ex()

    def load_obj(self):
        self._check_call(self.stack[0] if self.stack else None, 'OBJ')
        super().load_obj()

    def load_build(self):
        self._check_target(self.stack[-2], tuple(self._buildable), 'BUILD')
        super().load_build()

    def load_setitem(self):
        self._check_target(self.stack[-3], (dict, collections.OrderedDict,
                                            collections.Counter), 'SETITEM')
        super().load_setitem()

    def load_setitems(self):
        self._check_target(self.metastack[-1][-1],
                           (dict, collections.OrderedDict,
                            collections.Counter), 'SETITEMS')
        super().load_setitems()

    def load_append(self):
        self._check_target(self.stack[-2], (list, ), 'APPEND')
        super().load_append()

    def load_appends(self):
        self._check_target(self.metastack[-1][-1], (list, ), 'APPENDS')
        super().load_appends()

    def load_additems(self):
        self._check_target(self.metastack[-1][-1], (set, ), 'ADDITEMS')
        super().load_additems()


for _op, _method in ((pickle.REDUCE, Unpickler.load_reduce),
                     (pickle.NEWOBJ, Unpickler.load_newobj),
                     (pickle.NEWOBJ_EX, Unpickler.load_newobj_ex),
                     (pickle.OBJ, Unpickler.load_obj),
                     (pickle.BUILD, Unpickler.load_build),
                     (pickle.SETITEM, Unpickler.load_setitem),
                     (pickle.SETITEMS, Unpickler.load_setitems),
                     (pickle.APPEND, Unpickler.load_append),
                     (pickle.APPENDS, Unpickler.load_appends),
                     (pickle.ADDITEMS, Unpickler.load_additems)):
    Unpickler.dispatch[_op[0]] = _method
del _op, _method


def load(file, **kwargs) -> Any:
    """``pickle.load`` with :class:`Unpickler` (torch's legacy format)."""
    return Unpickler(file, **kwargs).load()


def checkpoint_globals(path: str) -> List[str]:
    """The ``module.attr`` names a ``torch.save`` zip file's pickle refers to.

    Reads the pickle's opcodes only (nothing is resolved or run); like
    ``torch.serialization.get_unsafe_globals_in_checkpoint`` (torch >= 2.5)
    it reads ``GLOBAL`` opcodes, which ``torch.save`` (protocol 2) writes.

    Args:
        path (str): A checkpoint in torch's zip format.

    Returns:
        list[str]: The names in the order they first occur; empty for a file
        that is not a zip (torch's legacy format).
    """
    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as zf:
        pickles = [n for n in zf.namelist()
                   if n == 'data.pkl' or n.endswith('/data.pkl')]
        if not pickles:
            return []
        data = zf.read(pickles[0])
    names: Dict[str, None] = {}
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name == 'GLOBAL':
            module, name = _pickle_name(None, *arg.split(' ', 1))
            names[f'{module}.{name}'] = None
    return list(names)
