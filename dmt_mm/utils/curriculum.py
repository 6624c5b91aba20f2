# Copyright (c) dmt_mm contributors. All rights reserved.
"""The DMT curriculum: every rule of the cut, in one place.

DMT (arXiv:2004.08514) keeps, in phase ``k``, the most confident fraction
``r_k`` of the pseudo labels (``keep_ratios``, default 0.2, 0.4, .., 1.0);
the rest is ignored by the loss.

- Segmentation ranks *per class*, among the pixels predicted as class ``c``
  (:func:`class_thresholds_from_histogram`). The public code samples and
  sorts confidences; here the ranking is read off histograms over the 256
  stored confidence levels (:data:`dmt_mm.utils.pseudo_label_io.CONF_LEVELS`)
  gathered during the one labelling pass, so the memory does not depend on
  the number of pixels and the histograms of several ranks are simply
  summed. The cut is applied when a sample is loaded
  (:func:`apply_class_thresholds`, called by ``LoadPseudoLabel``).
- Classification ranks *all* unlabelled samples together, as the public code
  does (:func:`rank_and_cut`, :func:`num_kept`).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
from .pseudo_label_io import CLS_PSEUDO_DTYPE, CONF_LEVELS, NUM_CONF_LEVELS

__all__ = [
    'check_keep_ratios', 'threshold_from_histogram',
    'class_thresholds_from_histogram', 'apply_class_thresholds',
    'kept_counts', 'num_kept', 'rank_and_cut', 'miou_from_confusion',
    'pseudo_label_quality', 'level_to_confidence'
]


def _check_ratio(keep_ratio: float) -> None:
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f'keep_ratio must be in (0, 1], got {keep_ratio}')


def check_keep_ratios(keep_ratios: Sequence[float],
                      name: str = 'keep_ratios') -> List[float]:
    """Check a curriculum: non-empty, in ``(0, 1]``, strictly increasing.

    Returns:
        list[float]: The ratios as floats.
    """
    ratios = [float(r) for r in keep_ratios]
    if not ratios:
        raise ValueError(f'{name} must not be empty')
    for r in ratios:
        if not 0.0 < r <= 1.0:
            raise ValueError(
                f'{name} must lie in (0, 1], got {list(keep_ratios)}')
    if any(b <= a for a, b in zip(ratios, ratios[1:])):
        raise ValueError(f'{name} must be strictly increasing (the '
                         'curriculum keeps more each phase), got '
                         f'{list(keep_ratios)}')
    return ratios


def threshold_from_histogram(hist: np.ndarray, keep_ratio: float) -> int:
    """Lowest kept confidence level for one histogram.

    Keeps the most confident ``keep_ratio`` fraction: the returned level
    ``b`` is the highest one with ``count(level >= b) >= keep_ratio * n``
    (ties inside a level are kept together, so slightly more than the ratio
    may be kept). A ratio of 1, or a class too rare to keep a single pixel
    (``keep_ratio * n < 1``), keeps everything (level 0).

    Args:
        hist (np.ndarray): ``(256,)`` counts per confidence level.
        keep_ratio (float): Fraction to keep, in ``(0, 1]``.

    Returns:
        int: The threshold level in ``[0, 255]``.
    """
    _check_ratio(keep_ratio)
    hist = np.asarray(hist, dtype=np.int64)
    if hist.shape != (NUM_CONF_LEVELS, ):
        raise ValueError(f'expected a ({NUM_CONF_LEVELS},) histogram, got '
                         f'shape {hist.shape}')
    total = int(hist.sum())
    need = int(np.floor(keep_ratio * total + 1e-9))
    if keep_ratio >= 1.0 or need < 1:
        return 0
    from_top = np.cumsum(hist[::-1])[::-1]  # from_top[b] = count(level >= b)
    return int(np.nonzero(from_top >= need)[0].max())


def class_thresholds_from_histogram(hist: np.ndarray,
                                    keep_ratio: float) -> np.ndarray:
    """Per-class threshold levels from a ``(C, 256)`` histogram.

    Returns:
        np.ndarray: ``(C,)`` uint8 levels.
    """
    hist = np.asarray(hist)
    if hist.ndim != 2:
        raise ValueError(f'expected a (C, {NUM_CONF_LEVELS}) histogram, got '
                         f'shape {hist.shape}')
    return np.array(
        [threshold_from_histogram(h, keep_ratio) for h in hist],
        dtype=np.uint8)


def apply_class_thresholds(label: np.ndarray, level: np.ndarray,
                           thresholds: Optional[np.ndarray],
                           ignore_index: int = 255,
                           where: str = 'pseudo label') -> np.ndarray:
    """Cut a pseudo-label map: pixels below their class threshold -> ignore.

    Args:
        label (np.ndarray): uint8 ``(H, W)`` pseudo labels (teacher argmax).
        level (np.ndarray): uint8 ``(H, W)`` stored confidence levels.
        thresholds (np.ndarray, optional): uint8 ``(C,)`` lowest kept level
            per class; None keeps every pixel.
        ignore_index (int): Value of cut pixels. Defaults to 255.
        where (str): Name of the map in error messages.

    Returns:
        np.ndarray: uint8 ``(H, W)`` labels after the cut.
    """
    if thresholds is None:
        return label
    thresholds = np.asarray(thresholds, dtype=np.uint8)
    valid = label != ignore_index
    cls = np.where(valid, label, 0).astype(np.intp)
    if valid.any() and int(cls.max()) >= len(thresholds):
        raise ValueError(
            f'{where} contains class {int(cls.max())} but only '
            f'{len(thresholds)} class thresholds are known')
    return np.where(valid & (level < thresholds[cls]), ignore_index,
                    label).astype(np.uint8)


def kept_counts(hist: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Number of kept pixels per class for ``(C, 256)`` hist and thresholds."""
    levels = np.arange(NUM_CONF_LEVELS)[None, :]
    keep = levels >= np.asarray(thresholds, dtype=np.int64)[:, None]
    return (np.asarray(hist, dtype=np.int64) * keep).sum(1)


def num_kept(n: int, keep_ratio: float) -> int:
    """Samples a global cut at ``keep_ratio`` keeps out of ``n`` (>= 1)."""
    _check_ratio(keep_ratio)
    return max(1, min(n, int(round(n * keep_ratio))))


def rank_and_cut(labels: np.ndarray, confs: np.ndarray,
                 keep_ratio: float) -> np.ndarray:
    """One global confidence ranking: keep the most confident fraction.

    DMT's classification curriculum ranks all unlabelled samples together
    (not per class) and keeps the :func:`num_kept` most confident; ties are
    broken by the lower index, so the cut is deterministic.

    Args:
        labels (np.ndarray): Teacher labels ``(N, )``.
        confs (np.ndarray): Teacher confidences ``(N, )`` in [0, 1].
        keep_ratio (float): Fraction kept, in (0, 1].

    Returns:
        np.ndarray: A :data:`CLS_PSEUDO_DTYPE` array ``(N, )`` (label,
        confidence and the ``kept`` flag of every sample).
    """
    labels = np.asarray(labels)
    confs = np.asarray(confs, dtype=np.float32)
    if labels.shape != confs.shape or labels.ndim != 1:
        raise ValueError('labels and confs must be 1-D of the same length, '
                         f'got {labels.shape} and {confs.shape}')
    n = labels.shape[0]
    order = np.lexsort((np.arange(n), -confs))
    out = np.zeros(n, dtype=CLS_PSEUDO_DTYPE)
    out['label'] = labels
    out['conf'] = confs
    out['kept'][order[:num_kept(n, keep_ratio)]] = True
    return out


def miou_from_confusion(confusion: np.ndarray) -> float:
    """Mean IoU (percent) over classes present in the ground truth.

    Args:
        confusion (np.ndarray): ``(C, C)`` counts, rows ground truth,
            columns prediction.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    inter = np.diag(confusion)
    gt_area = confusion.sum(1)
    union = gt_area + confusion.sum(0) - inter
    present = gt_area > 0
    if not present.any():
        return float('nan')
    return float(np.mean(inter[present] / union[present]) * 100)


def pseudo_label_quality(joint: np.ndarray,
                         thresholds: Optional[np.ndarray] = None
                         ) -> Dict[str, float]:
    """Pseudo-label mIoU before and after the cut.

    Args:
        joint (np.ndarray): ``(C, C, 256)`` counts indexed by
            (ground truth, pseudo label, confidence level), over pixels with
            a valid ground truth.
        thresholds (np.ndarray, optional): ``(C,)`` threshold levels.

    Returns:
        dict: ``miou`` (all pseudo labels) and, with thresholds,
        ``kept_miou`` (only the kept ones, ignored pixels excluded).
    """
    joint = np.asarray(joint, dtype=np.int64)
    out = dict(miou=miou_from_confusion(joint.sum(-1)))
    if thresholds is not None:
        levels = np.arange(NUM_CONF_LEVELS)[None, :]
        keep = levels >= np.asarray(thresholds, dtype=np.int64)[:, None]
        out['kept_miou'] = miou_from_confusion((joint * keep[None]).sum(-1))
    return out


def level_to_confidence(level) -> float:
    """Confidence value of a level (for logging thresholds)."""
    return float(CONF_LEVELS[int(level)])
