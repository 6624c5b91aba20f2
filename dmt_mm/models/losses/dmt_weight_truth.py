# Copyright (c) dmt_mm contributors. All rights reserved.
"""Do the dynamic weights find the wrong pseudo labels? (diagnostic)

Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised Learning",
Pattern Recognition 2022 (arXiv:2004.08514): the dynamic loss pays off only
if its weights are lower on wrong pseudo labels than on right ones.

Where the unlabelled set has ground truth kept aside (the bundled data has),
each training step adds the weights of its pseudo targets to a *weight
histogram*: a float tensor ``(2, WEIGHT_BINS + 1)`` whose row 0 counts the
targets whose pseudo label equals the hidden truth (right) and row 1 those
where it does not (wrong), per weight bin ``[k / B, (k + 1) / B)`` in columns
``0..B-1``, with the sum of their weights in column ``B``. Histograms add up
(over iterations and over ranks with ``all_reduce``) and are read once, at
the end of a stage, by :func:`weight_truth_summary`:

- ``dmt_weight_correct``: mean weight on right pseudo labels;
- ``dmt_weight_wrong``: mean weight on wrong pseudo labels;
- ``dmt_weight_auc``: ROC AUC of the weight as a score of "right": the
  probability that a random right label weighs more than a random wrong one
  (ties, i.e. the same bin, count one half). 0.5 is no ranking (every weight
  1 with ``dynamic=False``), 1 a perfect one.

:func:`weight_truth_hist` is what the losses call on the training path: no
check, no host-device sync (a ``scatter_add_`` on the device).
"""
from typing import Dict, Optional

import torch
from torch import Tensor

#: Weight bins of the histogram (resolution of the AUC: 1 / 256).
WEIGHT_BINS = 256

#: Keys of :func:`weight_truth_summary`.
TRUTH_STATS = ('dmt_weight_correct', 'dmt_weight_wrong', 'dmt_weight_auc')


@torch.no_grad()
def weight_truth_hist(weight: Tensor, mask: Tensor, label: Tensor,
                      truth: Tensor, ignore_index: int = 255) -> Tensor:
    """Weight histogram of the right and the wrong pseudo labels.

    Args:
        weight (Tensor): Float weights in ``[0, 1]``, ``(N, *)`` (``*`` empty
            for classification, ``(H, W)`` for segmentation).
        mask (Tensor): Bool ``(N, *)``, the pseudo targets to count.
        label (Tensor): Pseudo labels, integer ``(N, *)``.
        truth (Tensor): Hidden ground truth, integer ``(N, *)``; targets
            where it is ``ignore_index`` are not counted.
        ignore_index (int): Truth value without a label. Defaults to 255.

    Returns:
        Tensor: float32 ``(2, WEIGHT_BINS + 1)`` (see the module doc).
    """
    truth = truth.to(device=label.device, dtype=label.dtype)
    count = (mask & (truth != ignore_index)).reshape(-1).float()
    wrong = (label != truth).reshape(-1).long()
    w = weight.detach().reshape(-1).float()
    bins = (w * WEIGHT_BINS).long().clamp_(0, WEIGHT_BINS - 1)
    width = WEIGHT_BINS + 1
    hist = w.new_zeros(2 * width)
    hist.scatter_add_(0, wrong * width + bins, count)
    hist.scatter_add_(0, wrong * width + WEIGHT_BINS, count * w)
    return hist.view(2, width)


def weight_truth_summary(hist: Optional[Tensor]) -> Dict[str, Optional[float]]:
    """Means and ROC AUC of a (summed) weight histogram.

    Args:
        hist (Tensor, optional): ``(2, WEIGHT_BINS + 1)`` from
            :func:`weight_truth_hist`, summed; None gives all None.

    Returns:
        dict[str, float | None]: ``dmt_weight_correct``,
        ``dmt_weight_wrong`` (None where that set is empty) and
        ``dmt_weight_auc`` (None unless both sets are non-empty).
    """
    out = dict.fromkeys(TRUTH_STATS)
    if hist is None:
        return out
    hist = torch.as_tensor(hist, dtype=torch.float64).cpu()
    right, wrong = hist[0, :-1], hist[1, :-1]
    n_right, n_wrong = float(right.sum()), float(wrong.sum())
    if n_right > 0:
        out['dmt_weight_correct'] = float(hist[0, -1]) / n_right
    if n_wrong > 0:
        out['dmt_weight_wrong'] = float(hist[1, -1]) / n_wrong
    if n_right > 0 and n_wrong > 0:
        wrong_below = torch.cumsum(wrong, 0) - wrong  # wrong in lower bins
        pairs = (right * (wrong_below + 0.5 * wrong)).sum()
        out['dmt_weight_auc'] = float(pairs) / (n_right * n_wrong)
    return out


__all__ = [
    'WEIGHT_BINS', 'TRUTH_STATS', 'weight_truth_hist', 'weight_truth_summary'
]
