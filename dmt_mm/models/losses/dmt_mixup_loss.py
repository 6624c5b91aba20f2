# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMT's mixup and the mixup form of the dynamic loss (classification).

Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised Learning",
Pattern Recognition 2022 (arXiv:2004.08514), CIFAR-10 experiments.

The weights ``w`` of the un-mixed batch (labelled samples 1, pseudo-labelled
ones the DMT rule) are mixed with the inputs and the labels, with one
``lam = max(lam, 1 - lam)``, ``lam ~ Beta(alpha, alpha)``, and one
permutation ``perm``::

    x_mix = lam * x + (1 - lam) * x[perm]
    w_mix = lam * w + (1 - lam) * w[perm]
    loss  = sum(w_mix * (lam * CE(f(x_mix), y)
                         + (1 - lam) * CE(f(x_mix), y[perm]))) / N

:func:`mix_batch` draws ``lam`` and ``perm`` and mixes the inputs;
:func:`dmt_mixup_loss` is the checked loss for direct users and
:func:`mixup_ce` its unchecked core, which
:class:`~dmt_mm.models.heads.DMTClsHead` trains with.
"""
import numbers
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .dmt_rule import check_logits_label, check_nonnegative

#: ``ignore_index`` handed to the shared checks and rule: classification has
#: no ignored targets, and 255 may be a valid class.
NO_IGNORE = -100


def check_vector(tensor, n: int, name: str) -> Tensor:
    """Check that ``tensor`` is a tensor of shape ``(n, )``."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f'{name} must be a tensor, got '
                        f'{type(tensor).__name__}')
    if tuple(tensor.shape) != (n, ):
        raise ValueError(f'{name} must have shape (N,) = ({n},), got '
                         f'{tuple(tensor.shape)}')
    return tensor


def mix_batch(
    inputs: Tensor,
    labels: Optional[Tensor] = None,
    weights: Optional[Tensor] = None,
    alpha: float = 0.75,
    generator: Optional[np.random.Generator] = None
) -> Tuple[Tensor, Tensor, float]:
    """Mix a batch with one ``lam`` and one permutation (DMT's mixup).

    ``lam ~ Beta(alpha, alpha)``, then ``lam = max(lam, 1 - lam)`` so that
    every mixed sample stays closest to its own (weighted, labelled) sample;
    ``mixed = lam * inputs + (1 - lam) * inputs[perm]``. Labels and weights
    are mixed with the same ``perm`` and ``lam`` inside
    :func:`dmt_mixup_loss`; here they are only checked to match the batch
    (shapes only: nothing is read from the device).

    Args:
        inputs (Tensor): Batch ``(N, ...)``, e.g. ``(N, 3, H, W)``.
        labels (Tensor, optional): Labels ``(N, )``; checked only.
        weights (Tensor, optional): Sample weights ``(N, )``; checked only.
        alpha (float): Beta distribution parameter, > 0. Defaults to 0.75.
        generator (np.random.Generator, optional): Source of ``lam`` and
            ``perm``. None uses NumPy's global RNG for ``lam`` and torch's
            global RNG for ``perm`` (both seeded by mmengine's
            ``randomness.seed``). Defaults to None.

    Returns:
        tuple: ``mixed_inputs`` (same shape and dtype as ``inputs``),
        ``perm`` (long ``(N, )`` on ``inputs.device``) and ``lam`` (float in
        ``[0.5, 1]``).
    """
    if not isinstance(inputs, Tensor) or inputs.dim() < 1:
        raise TypeError('inputs must be a tensor of shape (N, ...), got '
                        f'{type(inputs).__name__}')
    n = inputs.shape[0]
    if labels is not None:
        check_vector(labels, n, 'labels')
    if weights is not None:
        check_vector(weights, n, 'weights')
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) \
            or not alpha > 0:
        raise ValueError(f'alpha must be a number > 0, got {alpha!r}')
    if generator is not None and not isinstance(generator,
                                                np.random.Generator):
        raise TypeError('generator must be a numpy.random.Generator or None, '
                        f'got {type(generator).__name__}')
    if generator is None:
        lam = float(np.random.beta(alpha, alpha))
        perm = torch.randperm(n, device=inputs.device)
    else:
        lam = float(generator.beta(alpha, alpha))
        perm = torch.as_tensor(
            generator.permutation(n), dtype=torch.long, device=inputs.device)
    lam = max(lam, 1.0 - lam)
    mixed = inputs * lam + inputs[perm] * (1.0 - lam)
    return mixed, perm, lam


def mixup_ce(logits: Tensor, labels: Tensor, weights: Tensor, perm: Tensor,
              lam: float) -> Tensor:
    """Unchecked core of :func:`dmt_mixup_loss` (no host-device sync)."""
    logp = F.log_softmax(logits, dim=1)
    ce_a = F.nll_loss(logp, labels, reduction='none')
    ce_b = F.nll_loss(logp, labels[perm], reduction='none')
    w = weights.detach().to(dtype=ce_a.dtype)
    w_mix = lam * w + (1.0 - lam) * w[perm]
    return (w_mix * (lam * ce_a + (1.0 - lam) * ce_b)).sum() / max(
        logits.shape[0], 1)


def dmt_mixup_loss(logits_mixed: Tensor, labels: Tensor, weights: Tensor,
                   perm: Tensor, lam: float) -> Tensor:
    """DMT loss of a mixed batch.

    ``loss = sum(w_mix * (lam * CE(logits, y) + (1 - lam) * CE(logits,
    y[perm]))) / N`` with ``w_mix = lam * w + (1 - lam) * w[perm]``, where
    ``w`` are the un-mixed per-sample weights (no gradient). Normalised by the
    batch size, not by the sum of the weights. With ``lam = 1`` (or the
    identity permutation) this is the un-mixed DMT loss
    ``sum(w * CE(logits, y)) / N``. Checks its arguments (including that
    ``perm`` is a permutation), so it is for direct users;
    :class:`DMTClsHead` trains with the unchecked core.

    Args:
        logits_mixed (Tensor): Student logits of the mixed batch, float
            ``(N, num_classes)``.
        labels (Tensor): Un-mixed labels (ground truth or pseudo), integer
            ``(N, )``.
        weights (Tensor): Un-mixed sample weights ``(N, )`` (1 for labelled
            samples); detached here.
        perm (Tensor): The permutation used by :func:`mix_batch`, integer
            ``(N, )``.
        lam (float): The mixing ratio used by :func:`mix_batch`, in [0, 1].

    Returns:
        Tensor: Scalar loss.
    """
    if isinstance(logits_mixed, Tensor) and logits_mixed.dim() != 2:
        raise ValueError('logits must have shape (N, num_classes), got '
                         f'{tuple(logits_mixed.shape)}')
    labels = check_logits_label(logits_mixed, labels, NO_IGNORE,
                                ('logits', 'labels'))
    n = logits_mixed.shape[0]
    weights = check_vector(weights, n, 'weights')
    if not weights.is_floating_point():
        raise TypeError(f'weights must be floating point, got {weights.dtype}')
    perm = check_vector(perm, n, 'perm')
    if perm.is_floating_point() or perm.dtype == torch.bool:
        raise TypeError(f'perm must be an integer tensor, got {perm.dtype}')
    perm = perm.long().to(labels.device)
    if not torch.equal(torch.sort(perm).values, torch.arange(n).to(perm)):
        raise ValueError(f'perm must be a permutation of 0..{n - 1}, got '
                         f'{perm.tolist()[:16]}')
    lam = check_nonnegative(lam, 'lam')
    if lam > 1:
        raise ValueError(f'lam must be in [0, 1], got {lam}')
    return mixup_ce(logits_mixed, labels, weights.to(labels.device), perm,
                     lam)


__all__ = ['NO_IGNORE', 'check_vector', 'dmt_mixup_loss', 'mix_batch', 'mixup_ce']
