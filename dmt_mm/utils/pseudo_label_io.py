# Copyright (c) dmt_mm contributors. All rights reserved.
"""Storage of pseudo labels: every on-disk format, written atomically.

- Segmentation: one 16-bit PNG per unlabelled image (2 bytes per pixel,
  below; the labelling pass writes them on threads,
  :class:`~dmt_mm.utils.pseudo_label_writer.PseudoLabelWriter`); one
  directory per labelling pass with
  a ``manifest.json`` (phase, teacher, thresholds, statistics), published by
  an atomic symlink swap (:func:`publish_pseudo_dir`), so a reader sees the
  previous complete set or the new complete set, never a mix.
- Classification: one structured array per phase (:data:`CLS_PSEUDO_DTYPE`,
  9 bytes per sample) in a ``.npy`` file (:func:`save_cls_pseudo_labels`).

A pseudo-label map stores, for every pixel, the teacher's decision (8 bits)
and its confidence quantised to 8 bits, packed into one 16-bit PNG:
``value = label << 8 | level``. PNG is lossless, compresses well on the
piecewise-constant label part and can be opened with any image viewer.

Confidence levels are not uniform: a softmax maximum concentrates near 1, so
a uniform 8-bit grid would put most pixels of a trained network into its top
bin and make the curriculum cut (keep the most confident 20 %) impossible.
The 256 levels are 128 uniform steps on ``[0, 0.99)`` followed by 128 steps
that are uniform in ``log(1 - c)`` on ``[0.99, 1 - 1e-6]``. A confidence is
stored as the highest level not above it, so decoding never overstates it.
"""
import io
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional, Tuple, Union

import cv2
import numpy as np
import torch

__all__ = [
    'CONF_LEVELS', 'NUM_CONF_LEVELS', 'encode_confidence', 'decode_confidence',
    'pack_pseudo_label', 'unpack_pseudo_label', 'write_pseudo_label',
    'read_pseudo_label', 'atomic_write_bytes', 'PSEUDO_MANIFEST', 'write_manifest', 'read_manifest', 'new_pseudo_dir',
    'publish_pseudo_dir', 'CLS_PSEUDO_DTYPE', 'save_cls_pseudo_labels',
    'load_cls_pseudo_labels'
]

#: File next to the pseudo labels of a labelling pass describing it.
PSEUDO_MANIFEST = 'manifest.json'
#: One row per unlabelled sample of a classification phase: the teacher's
#: label and confidence (max softmax), and whether the sample is above the
#: curriculum cut.
CLS_PSEUDO_DTYPE = np.dtype([('label', '<i4'), ('conf', '<f4'),
                             ('kept', '?')])

NUM_CONF_LEVELS = 256
#: float64 (256,) increasing confidence represented by each 8-bit level.
CONF_LEVELS = np.concatenate([
    np.linspace(0.0, 0.99, 128, endpoint=False),
    1.0 - np.logspace(-2, -6, 128),
])
_CONF_LEVELS_T = torch.from_numpy(CONF_LEVELS).float()
_CONF_LEVELS_F32 = CONF_LEVELS.astype(np.float32)
#: The level table on each device it was asked for (copied once per device:
#: a copy per call would wait for the device's queued work).
_CONF_LEVELS_ON = {torch.device('cpu'): _CONF_LEVELS_T}
#: Largest class index that can be stored (255 is the ignore value).
MAX_STORABLE_LABEL = 254


def _levels_on(device: torch.device) -> torch.Tensor:
    """The float32 ``(256,)`` level table on ``device``, cached."""
    table = _CONF_LEVELS_ON.get(device)
    if table is None:
        table = _CONF_LEVELS_T.to(device)
        _CONF_LEVELS_ON[device] = table
    return table


def encode_confidence(conf: torch.Tensor) -> torch.Tensor:
    """Quantise confidences to 8-bit levels (floor to the level grid).

    No host-device sync: the level table is copied to a device once, on the
    first call there.

    Args:
        conf (Tensor): Confidences in ``[0, 1]``, any shape, float.

    Returns:
        Tensor: ``torch.uint8`` levels of the same shape, on the same device.
    """
    levels = _levels_on(conf.device)
    idx = torch.searchsorted(levels, conf.float().contiguous(), right=True)
    # level = idx - 1, clamped to [0, 255]; idx >= 1 for conf >= 0
    return idx.sub_(1).clamp_(0, NUM_CONF_LEVELS - 1).to(torch.uint8)


def decode_confidence(level: Union[np.ndarray, torch.Tensor]):
    """Map 8-bit levels back to confidences (float32, same type as input)."""
    if isinstance(level, torch.Tensor):
        return _levels_on(level.device)[level.long()]
    return _CONF_LEVELS_F32[np.asarray(level, dtype=np.intp)]


def pack_pseudo_label(label: torch.Tensor,
                      level: torch.Tensor) -> np.ndarray:
    """Pack a label map ``(H, W)`` and its levels ``(H, W)`` into uint16."""
    if label.shape != level.shape:
        raise ValueError(f'label shape {tuple(label.shape)} and confidence '
                         f'shape {tuple(level.shape)} differ')
    if label.numel() and int(label.max()) > MAX_STORABLE_LABEL:
        raise ValueError(f'pseudo label value {int(label.max())} cannot be '
                         f'stored: at most {MAX_STORABLE_LABEL} classes '
                         'are supported (8 bits, 255 is ignore)')
    packed = (label.to(torch.int32) << 8) | level.to(torch.int32)
    return packed.cpu().numpy().astype(np.uint16)


def unpack_pseudo_label(packed: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Split a packed uint16 map into ``(label uint8, level uint8)``."""
    packed = np.asarray(packed, dtype=np.uint16)
    return (packed >> 8).astype(np.uint8), (packed & 0xFF).astype(np.uint8)


def _read_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


#: The umask at import (read once: os.umask cannot be read without setting
#: it, which would race with the writer threads).
_UMASK = _read_umask()


def _default_mode(mode: int) -> int:
    """``mode`` less the umask (what ``open`` / ``mkdir`` give)."""
    return mode & ~_UMASK


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file.

    The file gets the usual mode (0666 less the umask), not the 0600 of the
    temporary file it is written to.
    """
    dirname = osp.dirname(path) or '.'
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dirname, prefix='.tmp_',
                               suffix=osp.basename(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.chmod(tmp, _default_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def write_pseudo_label(path: str,
                       label: torch.Tensor,
                       level: torch.Tensor,
                       atomic: bool = True) -> None:
    """Write one packed pseudo-label map as a 16-bit PNG.

    Args:
        path (str): Destination; missing parent directories are made.
        label (Tensor): Pseudo labels ``(H, W)``, integer.
        level (Tensor): Confidence levels ``(H, W)``, uint8.
        atomic (bool): Through a temporary file and a rename, so that a
            reader never sees a partial file. ``False`` writes in place: only
            for a directory no reader sees before it is complete (the staging
            directory of :func:`publish_pseudo_dir`). Defaults to True.
    """
    ok, buf = cv2.imencode('.png', pack_pseudo_label(label, level))
    if not ok:
        raise IOError(f'could not encode pseudo label for {path}')
    if atomic:
        atomic_write_bytes(path, buf.tobytes())
        return
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'wb') as f:
        f.write(buf)


def read_pseudo_label(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read a pseudo-label map written by :func:`write_pseudo_label`.

    Returns:
        tuple: ``(label, level)``, both ``np.uint8`` arrays of shape (H, W).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'pseudo label file not found: {path}')
    packed = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if packed is None or packed.dtype != np.uint16 or packed.ndim != 2:
        raise ValueError(f'corrupt pseudo label file (expected a 16-bit '
                         f'single-channel PNG): {path}')
    return unpack_pseudo_label(packed)


# ---------------------------------------------------------------------------
# one labelling pass of segmentation: a directory with a manifest
# ---------------------------------------------------------------------------


def write_manifest(directory: str, manifest: Dict) -> None:
    """Write ``manifest.json`` into ``directory`` atomically."""
    atomic_write_bytes(
        osp.join(directory, PSEUDO_MANIFEST),
        json.dumps(manifest, indent=1).encode())


def read_manifest(directory: str) -> Optional[Dict]:
    """The manifest of the pseudo labels in ``directory`` (or None)."""
    path = osp.join(directory, PSEUDO_MANIFEST)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def new_pseudo_dir(final: str) -> str:
    """A fresh, empty directory next to ``final`` to write a new set into.

    Args:
        final (str): The path readers use, e.g. ``pseudo_labels/for_A``.

    Returns:
        str: ``<final>.<random>.tmp``; :func:`publish_pseudo_dir` makes it
        the set ``final`` points to.
    """
    parent, name = osp.split(osp.abspath(final))
    os.makedirs(parent, exist_ok=True)
    staged = tempfile.mkdtemp(prefix=f'{name}.', suffix='.tmp', dir=parent)
    os.chmod(staged, _default_mode(0o777))  # not mkdtemp's 0700
    return staged


def publish_pseudo_dir(staged: str, final: str) -> None:
    """Make ``final`` the complete set written into ``staged``, atomically.

    ``final`` is a symbolic link to a sibling directory holding one set. The
    staged directory is renamed to its permanent name, then a new link
    replaces ``final`` with one ``os.replace``: a reader (or a process
    killed at any moment) sees the old complete set or the new complete
    set, never a mix. Sets no longer pointed to are removed afterwards;
    leftovers of a kill are removed by the next call.

    Args:
        staged (str): A directory from :func:`new_pseudo_dir`, complete
            (manifest written last).
        final (str): The path readers use.
    """
    final = osp.abspath(final)
    parent, name = osp.split(final)
    done = staged[:-len('.tmp')] if staged.endswith('.tmp') else staged
    if done != staged:
        os.replace(staged, done)
    link_tmp = osp.join(parent, f'.{name}.link.{os.getpid()}')
    if osp.lexists(link_tmp):
        os.remove(link_tmp)
    os.symlink(osp.basename(done), link_tmp)
    if osp.isdir(final) and not osp.islink(final):
        # a set written by an older dmt_mm version (a plain directory)
        legacy = tempfile.mkdtemp(prefix=f'{name}.', suffix='.old',
                                  dir=parent)
        os.rmdir(legacy)
        os.replace(final, legacy)
    os.replace(link_tmp, final)
    keep = osp.basename(done)
    for entry in os.listdir(parent):
        path = osp.join(parent, entry)
        if entry.startswith(f'.{name}.link.') and osp.islink(path):
            os.remove(path)  # the new link of a process killed mid-publish
        elif entry.startswith(f'{name}.') and entry != keep:
            if osp.isdir(path) and not osp.islink(path):
                shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------
# one classification phase: a structured array
# ---------------------------------------------------------------------------


def save_cls_pseudo_labels(path: str, array: np.ndarray) -> None:
    """Write a :data:`CLS_PSEUDO_DTYPE` array as ``.npy``, atomically."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array, dtype=CLS_PSEUDO_DTYPE), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def load_cls_pseudo_labels(path: str) -> np.ndarray:
    """Read an array written by :func:`save_cls_pseudo_labels`."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'pseudo-label file {path} does not exist')
    arr = np.load(path, allow_pickle=False)
    if arr.dtype != CLS_PSEUDO_DTYPE:
        raise ValueError(f'{path} holds {arr.dtype}, not pseudo labels '
                         f'({CLS_PSEUDO_DTYPE})')
    return arr
