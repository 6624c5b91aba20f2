# Copyright (c) dmt_mm contributors. All rights reserved.
"""The DMT curriculum cut computed from confidence histograms.

DMT (arXiv:2004.08514) keeps, in phase ``k``, the most confident fraction
``r_k`` of the pseudo labels. Segmentation ranks per class (among the pixels
predicted as class ``c``), classification ranks all samples together. The
public code samples and sorts confidences; here the ranking is read off
histograms over the 256 stored confidence levels
(:data:`dmt_mm.utils.pseudo_label_io.CONF_LEVELS`), gathered during the one
labelling pass, so the memory does not depend on the number of pixels and
the histograms of several ranks can simply be summed.
"""
from typing import Dict, Optional

import numpy as np
from .pseudo_label_io import CONF_LEVELS, NUM_CONF_LEVELS

__all__ = [
    'threshold_from_histogram', 'class_thresholds_from_histogram',
    'kept_counts', 'miou_from_confusion', 'pseudo_label_quality'
]


def _check_ratio(keep_ratio: float) -> None:
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f'keep_ratio must be in (0, 1], got {keep_ratio}')


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


def kept_counts(hist: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Number of kept pixels per class for ``(C, 256)`` hist and thresholds."""
    levels = np.arange(NUM_CONF_LEVELS)[None, :]
    keep = levels >= np.asarray(thresholds, dtype=np.int64)[:, None]
    return (np.asarray(hist, dtype=np.int64) * keep).sum(1)


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
