# Copyright (c) dmt_mm contributors. All rights reserved.
"""Storage of pseudo labels: 2 bytes per pixel, written atomically.

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
import os
import os.path as osp
import tempfile
from typing import Tuple, Union

import cv2
import numpy as np
import torch

__all__ = [
    'CONF_LEVELS', 'NUM_CONF_LEVELS', 'encode_confidence', 'decode_confidence',
    'pack_pseudo_label', 'unpack_pseudo_label', 'write_pseudo_label',
    'read_pseudo_label', 'atomic_write_bytes'
]

NUM_CONF_LEVELS = 256
#: float64 (256,) increasing confidence represented by each 8-bit level.
CONF_LEVELS = np.concatenate([
    np.linspace(0.0, 0.99, 128, endpoint=False),
    1.0 - np.logspace(-2, -6, 128),
])
_CONF_LEVELS_T = torch.from_numpy(CONF_LEVELS).float()
#: Largest class index that can be stored (255 is the ignore value).
MAX_STORABLE_LABEL = 254


def encode_confidence(conf: torch.Tensor) -> torch.Tensor:
    """Quantise confidences to 8-bit levels (floor to the level grid).

    Args:
        conf (Tensor): Confidences in ``[0, 1]``, any shape, float.

    Returns:
        Tensor: ``torch.uint8`` levels of the same shape, on the same device.
    """
    levels = _CONF_LEVELS_T.to(conf.device)
    idx = torch.searchsorted(levels, conf.float().contiguous(), right=True) - 1
    return idx.clamp_(0, NUM_CONF_LEVELS - 1).to(torch.uint8)


def decode_confidence(level: Union[np.ndarray, torch.Tensor]):
    """Map 8-bit levels back to confidences (float32, same type as input)."""
    if isinstance(level, torch.Tensor):
        return _CONF_LEVELS_T.to(level.device)[level.long()]
    return CONF_LEVELS.astype(np.float32)[np.asarray(level, dtype=np.intp)]


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


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file."""
    dirname = osp.dirname(path) or '.'
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dirname, prefix='.tmp_',
                               suffix=osp.basename(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def write_pseudo_label(path: str, label: torch.Tensor,
                       level: torch.Tensor) -> None:
    """Write one packed pseudo-label map as a 16-bit PNG, atomically."""
    ok, buf = cv2.imencode('.png', pack_pseudo_label(label, level))
    if not ok:
        raise IOError(f'could not encode pseudo label for {path}')
    atomic_write_bytes(path, buf.tobytes())


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
