# Copyright (c) dmt_mm contributors. All rights reserved.
"""Render the classification pseudo-label grid of one labelling pass.

DMT's classification curriculum (arXiv:2004.08514) ranks all unlabelled
samples by teacher confidence and keeps the most confident fraction. The
grid shows, per class the teacher predicted, the samples on both sides of
that global cut: left of the yellow line the most confident *rejected* ones,
right of it the least confident *kept* ones, confidence increasing from left
to right and written under each thumbnail. Where the unlabelled set has
labels, a green frame marks a correct pseudo label and a red frame a wrong
one. A class with no kept sample has an empty right half.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .drawing import (BACKGROUND, frame, hstack, legend, resize, text_bar,
                      text_block, vstack)

__all__ = ['select_near_threshold', 'render_cls_grid']

RIGHT = (40, 200, 60)
WRONG = (230, 40, 40)
UNKNOWN = (120, 120, 120)
CUT = (255, 190, 0)


def select_near_threshold(label: np.ndarray, conf: np.ndarray,
                          kept: np.ndarray, num_classes: int,
                          num_per_class: int = 4
                          ) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    """Samples next to the confidence cut, per predicted class.

    Args:
        label (np.ndarray): Teacher labels ``(N, )``.
        conf (np.ndarray): Teacher confidences ``(N, )``.
        kept (np.ndarray): Bool ``(N, )``, above the cut.
        num_classes (int): Number of classes C.
        num_per_class (int): Samples on each side of the cut. Defaults to 4.

    Returns:
        dict: class -> ``(rejected, kept)`` index arrays, each in increasing
        confidence: the ``num_per_class`` most confident rejected and the
        ``num_per_class`` least confident kept samples predicted as that
        class (fewer when the class has fewer).
    """
    label = np.asarray(label)
    conf = np.asarray(conf, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    if not label.shape == conf.shape == kept.shape or label.ndim != 1:
        raise ValueError('label, conf and kept must be 1-D of one length, '
                         f'got {label.shape}, {conf.shape}, {kept.shape}')
    out = {}
    for c in range(num_classes):
        idx = np.flatnonzero(label == c)
        k = idx[kept[idx]]
        r = idx[~kept[idx]]
        k = k[np.argsort(conf[k], kind='stable')][:num_per_class]
        r = r[np.argsort(-conf[r], kind='stable')][:num_per_class][::-1]
        out[c] = (r, k)
    return out


def _cell(image: Optional[np.ndarray], conf: float, color, thumb: int
          ) -> np.ndarray:
    img = resize(image, (thumb, thumb), nearest=image.shape[0] < thumb)
    return vstack([frame(img, color, 3),
                   text_bar(thumb + 6, f'{conf:.3f}', height=16, scale=0.4)],
                  gap=0)


def _empty(thumb: int) -> np.ndarray:
    out = np.empty((thumb + 6 + 16, thumb + 6, 3), np.uint8)
    out[:] = BACKGROUND
    return out


def render_cls_grid(images: Dict[int, np.ndarray], label: np.ndarray,
                    conf: np.ndarray, kept: np.ndarray,
                    classes: Sequence[str],
                    truth: Optional[np.ndarray] = None,
                    num_per_class: int = 4, thumb: int = 56,
                    title: Sequence[str] = ()) -> np.ndarray:
    """The grid of kept and rejected samples near the cut, one row a class.

    Args:
        images (dict[int, np.ndarray]): RGB thumbnails ``(h, w, 3)`` of at
            least the samples :func:`select_near_threshold` picks.
        label, conf, kept (np.ndarray): The pass's pseudo labels ``(N, )``.
        classes (Sequence[str]): Class names.
        truth (np.ndarray, optional): True labels ``(N, )`` (frames).
        num_per_class (int): Samples on each side of the cut. Defaults to 4.
        thumb (int): Thumbnail side in pixels. Defaults to 56.
        title (Sequence[str]): Header lines.

    Returns:
        np.ndarray: RGB uint8 ``(H, W, 3)``.
    """
    label = np.asarray(label)
    kept = np.asarray(kept, dtype=bool)
    picks = select_near_threshold(label, conf, kept, len(classes),
                                  num_per_class)
    name_w = 150
    cut = np.empty((thumb + 22, 4, 3), np.uint8)
    cut[:] = CUT
    rows: List[np.ndarray] = []
    for c, name in enumerate(classes):
        rej, kep = picks[c]
        cells = []
        for side, ids in (('rej', rej), ('kept', kep)):
            slots = [_empty(thumb)] * (num_per_class - len(ids))
            drawn = []
            for j in ids:
                color = UNKNOWN if truth is None else (
                    RIGHT if truth[j] == label[j] else WRONG)
                drawn.append(_cell(images[int(j)], float(conf[j]), color,
                                   thumb))
            # rejected: right-aligned towards the cut; kept: left-aligned
            cells.append(slots + drawn if side == 'rej' else drawn + slots)
        n_pred = int((label == c).sum())
        n_kept = int((kept & (label == c)).sum())
        info = text_block(name_w, [str(name), f'kept {n_kept}/{n_pred}'],
                          height=18, scale=0.42,
                          color=(255, 255, 255) if n_kept else WRONG)
        rows.append(hstack([info] + cells[0] + [cut] + cells[1], gap=3))
    width = max(r.shape[1] for r in rows)
    half = (thumb + 9) * num_per_class
    heads = hstack([
        text_bar(name_w, 'predicted class'),
        text_bar(half, 'rejected (just below the cut)'),
        text_bar(half, 'kept (just above the cut)')
    ], gap=3)
    entries = [(RIGHT, 'pseudo label right'), (WRONG, 'pseudo label wrong')]
    if truth is None:
        entries = [(UNKNOWN, 'no ground truth')]
    entries.append((CUT, 'confidence cut'))
    parts = []
    if title:
        parts.append(text_block(width, list(title), height=22, scale=0.5))
    parts += [heads] + rows + [legend(entries, width)]
    return vstack(parts, gap=4)
