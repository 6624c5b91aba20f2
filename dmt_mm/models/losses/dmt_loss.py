# Copyright (c) dmt_mm contributors. All rights reserved.
"""The dynamic loss of DMT (Dynamic Mutual Training).

Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised Learning",
Pattern Recognition 2022 (arXiv:2004.08514).

``loss = sum(w * CE) / (number of non-ignored targets)``, where labelled
targets have ``w = 1`` and pseudo-labelled targets the DMT weight of
:func:`~dmt_mm.models.losses.dmt_rule.dmt_rule` (computed from the student's
own detached logits, so it carries no gradient). :func:`dmt_loss` is the
checked function; :class:`DMTLoss` is the MMSeg ``loss_decode`` that checks
its arguments once, when it is built, and never synchronises with the device
in :meth:`DMTLoss.forward`.
"""
import numbers
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

from .dmt_rule import (check_is_pseudo, check_like_label, check_int,
                       check_logits_label, check_nonnegative, dmt_rule,
                       dmt_rule_stats, dmt_weight_stats, dmt_weights,
                       to_device_async)

def _weighted_ce(logits: Tensor, label: Tensor, valid: Tensor,
                 w: Tensor) -> Tensor:
    """``sum(w * CE) / count(valid)`` without reading anything back."""
    safe_label = torch.where(valid, label, torch.zeros_like(label))
    ce = F.cross_entropy(logits, safe_label, reduction='none')
    return (ce * w.to(ce.dtype)).sum() / valid.sum().clamp(min=1).to(ce.dtype)


def _dmt_loss(logits: Tensor, label: Tensor, teacher_conf: Optional[Tensor],
              is_pseudo: Tensor, gamma1: float, gamma2: float,
              ignore_index: int, weight: Optional[Tensor], dynamic: bool
              ) -> Tuple[Tensor, Optional[Dict[str, Tensor]]]:
    """Unchecked core of :func:`dmt_loss`; stats None without teacher_conf.

    ``is_pseudo`` is a bool ``(N, )`` tensor on the logits' device;
    ``teacher_conf`` None means no sample is pseudo-labelled.
    """
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
    return _weighted_ce(logits, label, valid, w), stats


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
    loss, stats = _dmt_loss(student_logits, label, teacher_conf, is_pseudo,
                            gamma1, gamma2, ignore_index, weight, dynamic)
    if not return_stats:
        return loss
    if stats is None:
        zero = student_logits.new_zeros((), dtype=torch.float32)
        stats = dict(mean_weight=zero, disagree=zero.clone(),
                     student_wins=zero.clone(), pseudo_ratio=zero.clone())
    return loss, stats


def _pad_like_label(teacher_conf: Tensor, label: Tensor) -> Tensor:
    """Zero-pad ``teacher_conf`` on the right/bottom to ``label``'s shape.

    MMSeg's data preprocessor pads ``gt_sem_seg`` (with 255) to the batch
    shape on the right and bottom; a confidence map stored next to the
    pseudo label is not padded, so it may be smaller. Shapes only: no sync.
    """
    if teacher_conf.dim() != label.dim() or \
            teacher_conf.shape[0] != label.shape[0]:
        raise ValueError(
            f'teacher_conf shape {tuple(teacher_conf.shape)} does not match '
            f'label shape {tuple(label.shape)}')
    conf_size = tuple(teacher_conf.shape[1:])
    label_size = tuple(label.shape[1:])
    if conf_size == label_size:
        return teacher_conf
    if any(c > s for c, s in zip(conf_size, label_size)):
        raise ValueError(
            f'teacher_conf shape {tuple(teacher_conf.shape)} is larger than '
            f'label shape {tuple(label.shape)}; it can only be padded')
    pad = []
    for c, s in zip(reversed(conf_size), reversed(label_size)):
        pad += [0, s - c]
    return F.pad(teacher_conf, pad, mode='constant', value=0.0)


@MODELS.register_module()
class DMTLoss(nn.Module):
    """DMT dynamic loss as an MMSeg ``loss_decode``.

    Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", Pattern Recognition 2022 (arXiv:2004.08514).

    Works with any MMSeg decode head, which calls ``loss_decode(seg_logits
    (N, C, H, W), seg_label (N, H, W), weight=..., ignore_index=...)``. A
    head cannot pass the teacher confidence or which samples are
    pseudo-labelled, so the segmentor sets them around the head's loss with
    :meth:`set_pseudo_context` / :meth:`clear_pseudo_context`, or with
    ``with dmt_pseudo_context(model, teacher_conf, is_pseudo): ...`` (every
    ``DMTLoss`` inside ``model``).

    Without a context (labelled-only data) the loss is plain cross entropy
    averaged over non-ignored pixels. With one, targets of pseudo-labelled
    samples get the DMT dynamic weight; the loss is still normalised by the
    number of non-ignored targets (see :func:`dmt_loss`). The arguments are
    checked here, once: :meth:`forward` checks nothing and never reads a
    tensor back to the host.

    Args:
        gamma1 (float): Exponent where student and teacher agree. A plain
            attribute; a schedule may change it. Defaults to 5.0.
        gamma2 (float): Exponent where they disagree and the student is not
            more confident. A plain attribute. Defaults to 5.0.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        ignore_index (int): Label to ignore when ``forward`` gets none.
            Defaults to 255.
        loss_name (str): Key of the loss in the loss dict; must start with
            ``loss_`` to be back-propagated. Defaults to ``'loss_dmt'``.
        dynamic (bool): False gives every non-ignored pseudo-labelled pixel
            weight 1 (plain cross entropy: the paper's mutual training
            without dynamic weights); the statistics are still computed.
            Defaults to True.

    Attributes:
        last_stats (dict[str, Tensor] | None): After each ``forward`` with a
            pseudo context, detached 0-dim tensors over the non-ignored
            pseudo targets: ``dmt_weight`` (mean weight applied: 1 when not
            ``dynamic``), ``dmt_disagree``, ``dmt_student_wins`` and
            ``dmt_pseudo_ratio`` (fraction of non-ignored pixels that are
            pseudo-labelled). None after a forward without a context.
    """

    def __init__(self,
                 gamma1: float = 5.0,
                 gamma2: float = 5.0,
                 loss_weight: float = 1.0,
                 ignore_index: int = 255,
                 loss_name: str = 'loss_dmt',
                 dynamic: bool = True) -> None:
        super().__init__()
        self.gamma1 = check_nonnegative(gamma1, 'gamma1')
        self.gamma2 = check_nonnegative(gamma2, 'gamma2')
        if isinstance(loss_weight,
                      bool) or not isinstance(loss_weight, numbers.Real):
            raise TypeError(
                f'loss_weight must be a real number, got {loss_weight!r}')
        self.loss_weight = float(loss_weight)
        self.ignore_index = check_int(ignore_index, 'ignore_index')
        if not isinstance(loss_name, str):
            raise TypeError(f'loss_name must be a str, got {loss_name!r}')
        if not isinstance(dynamic, bool):
            raise TypeError(f'dynamic must be a bool, got {dynamic!r}')
        self.dynamic = dynamic
        self._loss_name = loss_name
        self._teacher_conf: Optional[Tensor] = None
        self._is_pseudo: Optional[Tensor] = None
        self._has_context = False
        self.last_stats: Optional[Dict[str, Tensor]] = None

    @property
    def loss_name(self) -> str:
        """str: Key of this loss in the loss dict."""
        return self._loss_name

    @property
    def has_pseudo_context(self) -> bool:
        """bool: Whether a pseudo context is set."""
        return self._has_context

    def set_pseudo_context(self, teacher_conf: Optional[Tensor],
                           is_pseudo) -> None:
        """Set the teacher confidence and pseudo flags of the next batch.

        Args:
            teacher_conf (Tensor, optional): Teacher confidence, float
                ``(N, H', W')``, zero (or anything) for labelled samples.
                It may be smaller than the (padded) label passed to
                ``forward``; it is zero-padded on the right/bottom. None
                when no sample is pseudo-labelled (the loss is then plain
                cross entropy).
            is_pseudo (Tensor | Sequence[bool]): ``(N, )``, True for
                pseudo-labelled samples; host or device.
        """
        if teacher_conf is not None and not isinstance(teacher_conf, Tensor):
            raise TypeError('teacher_conf must be a tensor or None, got '
                            f'{type(teacher_conf).__name__}')
        is_pseudo = torch.as_tensor(is_pseudo)
        if is_pseudo.dim() != 1:
            raise ValueError('is_pseudo must have shape (N,), got '
                             f'{tuple(is_pseudo.shape)}')
        if teacher_conf is not None and (teacher_conf.dim() < 1
                                         or teacher_conf.shape[0]
                                         != is_pseudo.shape[0]):
            raise ValueError(
                f'teacher_conf shape {tuple(teacher_conf.shape)} does not '
                f'match is_pseudo shape {tuple(is_pseudo.shape)}')
        self._teacher_conf = teacher_conf
        self._is_pseudo = is_pseudo.bool()
        self._has_context = True

    def clear_pseudo_context(self) -> None:
        """Forget the context set by :meth:`set_pseudo_context`."""
        self._teacher_conf = None
        self._is_pseudo = None
        self._has_context = False

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: Optional[int] = None,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            cls_score (Tensor): Logits ``(N, C, H, W)`` at label size.
            label (Tensor): Labels ``(N, H, W)``, long, each in ``[0, C)``
                or ``ignore_index`` (as MMSeg's pipeline guarantees; not
                re-checked here).
            weight (Tensor, optional): Pixel weights ``(N, H, W)`` (e.g.
                from a pixel sampler), multiplied into the DMT weights.
                Defaults to None.
            ignore_index (int, optional): Label to ignore; None uses
                ``self.ignore_index``. Defaults to None.
            **kwargs: Other arguments of MMSeg losses (e.g. ``avg_factor``);
                not used.

        Returns:
            Tensor: ``loss_weight * dmt_loss(...)``, a scalar.
        """
        if ignore_index is None:
            ignore_index = self.ignore_index
        teacher_conf = is_pseudo = None
        if self._teacher_conf is not None:
            device = cls_score.device
            teacher_conf = _pad_like_label(
                to_device_async(self._teacher_conf, device), label)
            is_pseudo = to_device_async(self._is_pseudo, device)
        loss, stats = _dmt_loss(cls_score, label, teacher_conf, is_pseudo,
                                self.gamma1, self.gamma2, ignore_index,
                                weight, self.dynamic)
        if not self._has_context:
            self.last_stats = None
        elif stats is None:  # a context without pseudo-labelled samples
            zero = cls_score.new_zeros((), dtype=torch.float32)
            self.last_stats = {k: zero for k in _STAT_KEYS.values()}
        else:
            self.last_stats = {
                _STAT_KEYS[k]: v.detach()
                for k, v in stats.items()
            }
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        """Extra repr."""
        return (f'gamma1={self.gamma1}, gamma2={self.gamma2}, '
                f'loss_weight={self.loss_weight}, '
                f'ignore_index={self.ignore_index}, '
                f'loss_name={self._loss_name!r}, dynamic={self.dynamic}')


#: Keys of :func:`dmt_rule_stats` -> keys logged by :class:`DMTLoss`.
_STAT_KEYS = dict(
    mean_weight='dmt_weight',
    disagree='dmt_disagree',
    student_wins='dmt_student_wins',
    pseudo_ratio='dmt_pseudo_ratio')


@contextmanager
def dmt_pseudo_context(model: nn.Module, teacher_conf: Optional[Tensor],
                       is_pseudo: Tensor) -> Iterator[int]:
    """Set a pseudo context on every :class:`DMTLoss` inside ``model``.

    The context is cleared on exit, also when the body raises. Useful when a
    segmentor has several heads (decode and auxiliary) using ``DMTLoss``.

    Args:
        model (nn.Module): Module to search (e.g. a segmentor).
        teacher_conf (Tensor, optional): Teacher confidence
            ``(N, H', W')``.
        is_pseudo (Tensor): Bool ``(N, )``.

    Yields:
        int: The number of ``DMTLoss`` modules the context was set on.
    """
    losses = [m for m in model.modules() if isinstance(m, DMTLoss)]
    try:
        for m in losses:
            m.set_pseudo_context(teacher_conf, is_pseudo)
        yield len(losses)
    finally:
        for m in losses:
            m.clear_pseudo_context()


__all__ = [
    'DMTLoss', 'dmt_loss', 'dmt_pseudo_context', 'dmt_weights',
    'dmt_weight_stats'
]
