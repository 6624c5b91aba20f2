# Copyright (c) dmt_mm contributors. All rights reserved.
"""The dynamic loss of DMT as a function: :func:`dmt_loss`.

Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised Learning",
Pattern Recognition 2022 (arXiv:2004.08514).

``loss = sum(w * CE) / (number of non-ignored targets)``, where labelled
targets have ``w = 1`` and pseudo-labelled targets the DMT weight of
:func:`~dmt_mm.models.losses.dmt_rule.dmt_rule`. :func:`dmt_loss` checks its
arguments; ``_dmt_loss`` is the unchecked core that
:class:`~dmt_mm.models.losses.DMTLoss` calls on the training path.
"""
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .dmt_rule import (DMTRule, check_is_pseudo, check_like_label,
                       check_logits_label, check_nonnegative, dmt_rule,
                       dmt_rule_stats)


def _weighted_ce(logits: Tensor, label: Tensor, valid: Tensor,
                 w: Tensor) -> Tensor:
    """``sum(w * CE) / count(valid)`` without reading anything back."""
    safe_label = torch.where(valid, label, torch.zeros_like(label))
    ce = F.cross_entropy(logits, safe_label, reduction='none')
    return (ce * w.to(ce.dtype)).sum() / valid.sum().clamp(min=1).to(ce.dtype)


def _dmt_loss(logits: Tensor, label: Tensor, teacher_conf: Optional[Tensor],
              is_pseudo: Tensor, gamma1: float, gamma2: float,
              ignore_index: int, weight: Optional[Tensor], dynamic: bool
              ) -> Tuple[Tensor, Optional[Dict[str, Tensor]],
                         Optional[DMTRule], Optional[Tensor]]:
    """Unchecked core of :func:`dmt_loss`.

    ``is_pseudo`` is a bool ``(N, )`` tensor on the logits' device;
    ``teacher_conf`` None means no sample is pseudo-labelled.

    Returns:
        tuple: the loss, the statistics (None without ``teacher_conf``),
        the rule's output and the pseudo-target mask ``(N, *)`` (both None
        without ``teacher_conf``).
    """
    rule = pseudo = None
    if teacher_conf is None:
        valid = label != ignore_index
        w = valid.float()
        stats = None
    else:
        rule = dmt_rule(logits, label, teacher_conf, gamma1, gamma2,
                        ignore_index, dynamic)
        valid = rule.valid
        pseudo = is_pseudo.view((-1, ) + (1, ) * (label.dim() - 1)) & valid
        w = torch.where(pseudo, rule.weight, valid.to(rule.weight.dtype))
        stats = dmt_rule_stats(rule, pseudo)
    if weight is not None:
        w = w * weight.detach().to(w.dtype)
    return _weighted_ce(logits, label, valid, w), stats, rule, pseudo


def dmt_loss(
    student_logits: Tensor,
    label: Tensor,
    teacher_conf: Optional[Tensor],
    is_pseudo: Optional[Tensor],
    gamma1: float,
    gamma2: float,
    ignore_index: int = 255,
    weight: Optional[Tensor] = None,
    return_stats: bool = False,
    dynamic: bool = True
) -> Union[Tensor, Tuple[Tensor, Dict[str, Tensor]]]:
    """DMT dynamic loss over a batch mixing labelled and pseudo samples.

    ``loss = sum(w * CE(logits, y)) / count(y != ignore_index)``, where
    ``w = 1`` for targets of labelled samples and the DMT dynamic weight
    (see :func:`dmt_weights`) for targets of pseudo-labelled samples. The
    normaliser is the number of non-ignored targets in the whole batch, not
    the sum of the weights. The weights carry no gradient.

    Args:
        student_logits (Tensor): Student logits, float ``(N, C, *)``; ``*``
            is empty (classification) or ``(H, W)`` (segmentation).
        label (Tensor): Ground-truth or pseudo labels, long ``(N, *)``.
        teacher_conf (Tensor, optional): Teacher confidence, float
            ``(N, *)``; entries of labelled samples are not used. May be
            None when no sample is pseudo-labelled.
        is_pseudo (Tensor, optional): Bool ``(N, )``, True for
            pseudo-labelled samples. None means every sample is
            pseudo-labelled if ``teacher_conf`` is given, else none is.
        gamma1 (float): Exponent where student and teacher agree; >= 0.
        gamma2 (float): Exponent where they disagree and the student is not
            more confident than the teacher; >= 0.
        ignore_index (int): Label value to ignore. Defaults to 255.
        weight (Tensor, optional): Extra per-target weights ``(N, *)``
            (e.g. from an MMSeg pixel sampler), multiplied into ``w``.
            Defaults to None.
        return_stats (bool): Also return logging statistics, computed from
            the same softmax. Defaults to False.
        dynamic (bool): False trains every non-ignored pseudo target with
            weight 1 (plain cross entropy); the statistics are unchanged.
            Defaults to True.

    Returns:
        Tensor | tuple[Tensor, dict]: The scalar loss. With
        ``return_stats=True`` also a dict of detached 0-dim tensors over the
        non-ignored targets of pseudo-labelled samples (all 0 when there are
        none): ``mean_weight`` (mean weight applied), ``disagree``
        (fraction with ``argmax p != y``), ``student_wins`` (fraction where
        the student disagrees and is more confident: weight 0 when
        ``dynamic``), and ``pseudo_ratio`` (fraction of all non-ignored
        targets that belong to pseudo-labelled samples).
    """
    gamma1 = check_nonnegative(gamma1, 'gamma1')
    gamma2 = check_nonnegative(gamma2, 'gamma2')
    label = check_logits_label(student_logits, label, ignore_index)
    teacher_conf = check_like_label(teacher_conf, label, student_logits,
                                     'teacher_conf')
    weight = check_like_label(weight, label, student_logits, 'weight')
    is_pseudo = check_is_pseudo(is_pseudo, student_logits)
    if is_pseudo is None:
        is_pseudo = torch.full((student_logits.shape[0], ),
                               teacher_conf is not None,
                               dtype=torch.bool,
                               device=student_logits.device)
    if teacher_conf is None and bool(is_pseudo.any()):
        raise ValueError('teacher_conf is None but is_pseudo marks '
                         f'{int(is_pseudo.sum())} pseudo-labelled samples')
    loss, stats, _, _ = _dmt_loss(student_logits, label, teacher_conf,
                                  is_pseudo, gamma1, gamma2, ignore_index,
                                  weight, dynamic)
    if not return_stats:
        return loss
    if stats is None:
        zero = student_logits.new_zeros((), dtype=torch.float32)
        stats = dict(mean_weight=zero, disagree=zero.clone(),
                     student_wins=zero.clone(), pseudo_ratio=zero.clone())
    return loss, stats


__all__ = ['dmt_loss']
