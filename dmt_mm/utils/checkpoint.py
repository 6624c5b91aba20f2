# Copyright (c) dmt_mm contributors. All rights reserved.
"""Load mmengine checkpoints without running code, on torch 2.1 to 2.14.

:func:`load_checkpoint_safely` is the one loader: every tool, and mmengine's
own ``load_from`` / ``--resume`` / ``load_checkpoint`` for local files (see
:func:`register_safe_loader`), goes through it. On torch >= 2.4 it is
``torch.load(weights_only=True)`` with the allowlist below; torch < 2.4 has no
way to extend its weights-only allowlist, so there it passes
:mod:`dmt_mm.utils.restricted_unpickler` as ``pickle_module``, which admits
the same allowlist plus what torch's weights-only loader admits and applies
the same opcode rules. Neither ever falls back to unrestricted loading.

Why the allowlist exists
------------------------
mmengine 0.10.7 reads every checkpoint with a bare
``torch.load(filename, map_location=...)`` (``mmengine.runner.checkpoint``).
Since torch 2.6 a bare ``torch.load`` means ``weights_only=True``: the file is
unpickled by a restricted unpickler that only rebuilds tensors, primitive
containers and globals on an allowlist. A checkpoint written by
``Runner.save_checkpoint`` holds more than tensors (the message hub's
:class:`~mmengine.logging.HistoryBuffer` objects, numpy arrays and numpy
scalars from metrics and dataset meta), so ``--resume``, ``load_from`` and
``load_checkpoint`` all stop with ``Weights only load failed ...
Unsupported global: GLOBAL numpy._core.multiarray._reconstruct ...``.

Two fixes are common and both are wrong for us:

* ``torch.load(..., weights_only=False)`` (or the environment variable
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, or monkeypatching ``torch.load``)
  re-enables arbitrary code execution for every file the process loads,
  including pretrained weights downloaded from the internet.
* Re-saving checkpoints without their meta loses the resume state.

Instead :func:`register_safe_globals` keeps the restricted unpickler and
allowlists, through :func:`torch.serialization.add_safe_globals`, exactly the
classes and functions that mmengine / mmseg / mmpretrain runners write into a
checkpoint. Each was found by saving a real checkpoint (SGD with momentum,
PolyLR, CheckpointHook with ``save_best``, EMAHook, a metric returning numpy
values, a dataset meta with a numpy palette) and adding what
``torch.load(path, weights_only=True)`` refused, one error at a time
(``tests/test_checkpoint_safety.py`` keeps that checkpoint loading):

* ``numpy._core.multiarray._reconstruct``, ``numpy.ndarray`` -- every numpy
  array (``Unsupported global: GLOBAL numpy._core.multiarray._reconstruct``,
  then ``... GLOBAL numpy.ndarray``): the histories inside each
  ``HistoryBuffer``, a palette or class weights given as arrays,
  array-valued metrics kept in the message hub. ``_reconstruct`` only
  creates an empty array of an allowlisted ndarray subclass; the content is
  set from raw bytes, or for an object array from objects that went through
  the same restricted unpickler.
* ``numpy.dtype`` and the ``numpy.dtypes.*DType`` classes -- the dtype of
  each array and scalar. numpy pickles a dtype as ``numpy.dtype('f8', ...)``
  (``Unsupported global: GLOBAL numpy.dtype``) and then sets its state, which
  torch only allows for allowlisted types: ``Can only build Tensor,
  Parameter, OrderedDict or types allowlisted via `add_safe_globals`, but
  got <class 'numpy.dtypes.UInt8DType'>`` (then ``Float32DType``,
  ``Int64DType``, ``Float64DType`` ...). All dtype classes are listed: which
  ones a checkpoint needs depends on the user's data.
* ``numpy._core.multiarray.scalar`` -- numpy scalars
  (``Unsupported global: GLOBAL numpy._core.multiarray.scalar``), e.g. the
  ``eta`` that ``IterTimerHook`` stores in the message hub (every
  checkpoint has it) and the ``best_score`` that
  ``CheckpointHook(save_best=...)`` keeps after mmseg's ``IoUMetric``, which
  returns ``numpy.float64``.
* ``mmengine.logging.history_buffer.HistoryBuffer`` -- the message hub's
  ``log_scalars`` (``Unsupported global: GLOBAL
  mmengine.logging.history_buffer.HistoryBuffer``). Rebuilt with ``__new__``
  and its ``__setstate__``, which only stores data.
* ``builtins.getattr``, **restricted** -- ``HistoryBuffer.__getstate__``
  pickles its statistics methods (``HistoryBuffer.min`` / ``max`` /
  ``current`` / ``mean``), which pickle writes as
  ``getattr(HistoryBuffer, 'min')``; torch refuses with ``Unsupported global:
  GLOBAL builtins.getattr``. The real ``getattr`` would hand a crafted file
  any attribute of any allowlisted object (e.g. a function's
  ``__globals__``, a dict it could then overwrite), so we register
  :func:`_history_buffer_getattr` under that name instead: it returns only
  those four methods of ``HistoryBuffer`` and raises ``UnpicklingError`` for
  anything else.
* ``mmengine.config.ConfigDict`` -- a dataset ``metainfo`` given in a config
  keeps its nested dicts as ``ConfigDict`` (``BaseDataset._load_metainfo``
  copies the values), and ``Runner.save_checkpoint`` stores that metainfo
  as ``meta['dataset_meta']``. It pickles as ``ConfigDict({...})``; its
  constructor only stores the items.

The numpy functions are registered under both their numpy 2 path
(``numpy._core.multiarray``) and their numpy 1 path (``numpy.core.multiarray``)
so that checkpoints written under numpy 1 load as well.

Not needed (checked): ``collections.OrderedDict`` (allowlisted by torch), the
optimizer state (tensors, ints, floats), the parameter schedulers' state
(primitives), the ``GradScaler`` state of ``AmpOptimWrapper``
(``torch.amp.GradScaler.state_dict`` returns Python floats and ints, or
``{}`` when disabled), EMA state (tensors), the rest of the message hub's
``runtime_info`` (str, int, float, list).

Known limit: the restricted unpickler only fills ``dict``, ``OrderedDict``
and ``Counter`` objects and only appends to lists (``Can only SETITEM for
dict, ...``, ``Can only append to lists, ...``), so a ``defaultdict`` or a
``deque`` stored in a checkpoint cannot be allowlisted at all; hooks that
put state into a checkpoint or the message hub should use plain ``dict``,
``list``, tuples, numbers, strings, tensors and numpy arrays.
"""
import os
import os.path as osp
import pickle
from typing import Any, Callable, List, Tuple, Union

import torch

__all__ = [
    'register_safe_globals', 'get_mmengine_safe_globals',
    'load_checkpoint_safely', 'register_safe_loader'
]

SafeGlobal = Union[Callable, Tuple[Callable, str]]

#: ``HistoryBuffer`` methods that ``HistoryBuffer.__getstate__`` pickles.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` inside ``weights_only`` loading.

    Only resolves the statistics methods that a pickled
    :class:`~mmengine.logging.HistoryBuffer` refers to.

    Args:
        obj (Any): The object pickle asks an attribute of.
        name (str): The attribute name.

    Returns:
        Callable: ``getattr(HistoryBuffer, name)``.

    Raises:
        pickle.UnpicklingError: For any other object or name.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in weights_only loading; '
        'dmt_mm only allows getattr(HistoryBuffer, name) for name in '
        f'{_HISTORY_BUFFER_STATISTICS}')


def get_mmengine_safe_globals() -> List[SafeGlobal]:
    """Return the globals that mmengine-style checkpoints need.

    Returns:
        list: Items accepted by :func:`torch.serialization.add_safe_globals`:
        a class/function, or a ``(class/function, 'module.qualname')`` tuple
        where the name written in the pickle differs from the object's own
        ``__module__`` / ``__qualname__`` (numpy 1 vs numpy 2 module paths,
        the restricted ``builtins.getattr``).
    """
    import numpy as np
    from mmengine.config import ConfigDict
    from mmengine.logging.history_buffer import HistoryBuffer

    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray

    safe: List[SafeGlobal] = [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        ConfigDict,
        np.ndarray,
        np.dtype,
    ]
    for name in ('_reconstruct', 'scalar'):
        func = getattr(multiarray, name)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            safe.append((func, f'{module}.{name}'))

    # Classes of the dtype instances (``numpy.dtypes.Float64DType`` ...);
    # numpy < 1.25 has no ``numpy.dtypes`` and needs none of them.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in sorted(dir(dtypes)):
            cls = getattr(dtypes, name)
            # aliases (``ByteDType is Int8DType``) are listed once
            if name.endswith('DType') and isinstance(cls, type) and \
                    cls not in safe:
                safe.append(cls)
    return safe


def register_safe_globals() -> List[SafeGlobal]:
    """Allowlist the types of mmengine checkpoints for ``weights_only`` load.

    Calling it again is harmless (torch keeps the allowlist in a set), so it
    is safe to call from every entry point; calling it again also restores
    the entries after :func:`torch.serialization.clear_safe_globals`.
    ``weights_only`` stays the default of :func:`torch.load`; nothing outside
    the list returned here becomes loadable.

    Returns:
        list: The globals that were registered (empty with a torch that has
        no ``torch.serialization.add_safe_globals``, i.e. torch < 2.4, where
        :func:`load_checkpoint_safely` admits the same list through
        :mod:`dmt_mm.utils.restricted_unpickler`).
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - torch < 2.4
        return []
    safe = get_mmengine_safe_globals()
    add_safe_globals(safe)
    return safe


def _has_safe_globals() -> bool:
    """Whether torch's weights-only loader takes an allowlist (>= 2.4)."""
    return hasattr(torch.serialization, 'add_safe_globals')


def _refused_globals(filename: Any) -> List[str]:
    """The globals of a checkpoint file that no allowlist admits."""
    from .restricted_unpickler import admitted_globals, checkpoint_globals
    if not isinstance(filename, (str, bytes)) and \
            not hasattr(filename, '__fspath__'):
        return []
    admitted = set(admitted_globals())
    if _has_safe_globals():  # what users added with torch's own API
        for entry in torch.serialization.get_safe_globals():
            obj, name = entry if isinstance(entry, tuple) else \
                (entry, f'{entry.__module__}.{entry.__qualname__}')
            admitted.add(name)
    try:
        return [g for g in checkpoint_globals(filename) if g not in admitted]
    except Exception:  # noqa: BLE001 - best effort diagnostics
        return []


def load_checkpoint_safely(filename: Any, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint without running code, with the mmengine allowlist.

    torch >= 2.4: ``torch.load(weights_only=True)`` after
    :func:`register_safe_globals`. torch < 2.4:
    ``torch.load(pickle_module=restricted_unpickler)``, which admits the
    same globals (see the module docstring).

    Args:
        filename (str | os.PathLike | file-like): The checkpoint.
        map_location (str | torch.device | callable | dict): Passed to
            :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        Any: The loaded object, usually a ``dict`` with ``state_dict``,
        ``meta``, ``message_hub`` (and ``optimizer``, ``param_schedulers``).

    Raises:
        pickle.UnpicklingError: If the file needs a global that is not
            allowlisted (or an operation the restricted loaders refuse). The
            message names the file and the refused ``module.attr`` names.
    """
    if _has_safe_globals():
        register_safe_globals()
        kwargs = dict(weights_only=True)
    else:
        from . import restricted_unpickler
        kwargs = dict(weights_only=False, pickle_module=restricted_unpickler)
    try:
        return torch.load(filename, map_location=map_location, **kwargs)
    except pickle.UnpicklingError as err:
        refused = _refused_globals(filename)
        name = osp.abspath(os.fspath(filename)) if isinstance(
            filename, (str, os.PathLike)) else repr(filename)
        what = (f'it needs {", ".join(refused)}, which dmt_mm does not '
                'admit in a checkpoint' if refused else
                'it needs something dmt_mm does not admit in a checkpoint')
        how = ('torch.serialization.add_safe_globals([...])'
               if _has_safe_globals() else
               'dmt_mm.utils.checkpoint.get_mmengine_safe_globals')
        raise pickle.UnpicklingError(
            f'refused to load {name}: {what}. dmt_mm never loads a '
            'checkpoint with unrestricted pickle (it could run code); if you '
            f'trust these classes, allowlist them ({how}). '
            f'Loader error: {err}') from err


def load_from_local_safely(filename: str, map_location: Any = None) -> Any:
    """mmengine's local checkpoint loader, through
    :func:`load_checkpoint_safely` (the name is what mmengine logs:
    ``Loads checkpoint by local_safely backend``)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_safely(filename, map_location=map_location)


def register_safe_loader() -> None:
    """Make mmengine load local checkpoints with
    :func:`load_checkpoint_safely`.

    mmengine's ``load_from_local`` calls a bare ``torch.load``, which runs
    any pickle on torch < 2.6; ``load_from``, ``resume`` and
    ``load_checkpoint`` of local files all go through the scheme registered
    for the empty prefix, replaced here with
    ``CheckpointLoader.register_scheme(..., force=True)``. Harmless to call
    again. URLs (``http://``, ``torchvision://``, ``open-mmlab://``) keep
    mmengine's loaders.
    """
    from mmengine.runner import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_safely, force=True)
