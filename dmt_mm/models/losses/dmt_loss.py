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
from typing import Dict, Iterator, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

from .dmt_loss_functional import _dmt_loss, dmt_loss
from .dmt_rule import (check_int, check_nonnegative, dmt_weight_stats,
                       dmt_weights, to_device_async)
from .dmt_weight_truth import weight_truth_hist


def _pad_like_label(teacher_conf: Tensor, label: Tensor,
                    value: float = 0.0) -> Tensor:
    """Pad ``teacher_conf`` on the right/bottom to ``label``'s shape.

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
    return F.pad(teacher_conf, pad, mode='constant', value=value)


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
        last_weight_hist (Tensor | None): After each ``forward`` whose
            context has the hidden truth, the weight histogram ``(2,
            WEIGHT_BINS + 1)`` of the right and wrong pseudo labels (see
            :mod:`~dmt_mm.models.losses.dmt_weight_truth`; the rule's weight
            also when not ``dynamic``). None otherwise.
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
        self._truth: Optional[Tensor] = None
        self._has_context = False
        self.last_stats: Optional[Dict[str, Tensor]] = None
        self.last_weight_hist: Optional[Tensor] = None

    @property
    def loss_name(self) -> str:
        """str: Key of this loss in the loss dict."""
        return self._loss_name

    @property
    def has_pseudo_context(self) -> bool:
        """bool: Whether a pseudo context is set."""
        return self._has_context

    def set_pseudo_context(self,
                           teacher_conf: Optional[Tensor],
                           is_pseudo,
                           truth: Optional[Tensor] = None) -> None:
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
            truth (Tensor, optional): The hidden ground truth of the
                pseudo-labelled samples, integer ``(N, H', W')`` (255 where
                unknown, e.g. for labelled samples), padded like
                ``teacher_conf``; given, ``forward`` sets
                ``last_weight_hist``. Defaults to None.
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
        if truth is not None and (teacher_conf is None
                                  or truth.shape != teacher_conf.shape):
            raise ValueError(
                f'truth shape {tuple(truth.shape)} does not match '
                f'teacher_conf shape {_shape(teacher_conf)}')
        self._truth = truth
        self._teacher_conf = teacher_conf
        self._is_pseudo = is_pseudo.bool()
        self._has_context = True

    def clear_pseudo_context(self) -> None:
        """Forget the context set by :meth:`set_pseudo_context`."""
        self._teacher_conf = None
        self._is_pseudo = None
        self._truth = None
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
        loss, stats, rule, pseudo = _dmt_loss(cls_score, label, teacher_conf,
                                              is_pseudo, self.gamma1,
                                              self.gamma2, ignore_index,
                                              weight, self.dynamic)
        self.last_weight_hist = None
        if self._truth is not None and rule is not None:
            truth = _pad_like_label(
                to_device_async(self._truth, cls_score.device), label, 255)
            self.last_weight_hist = weight_truth_hist(
                rule.rule_weight, pseudo, label, truth, 255)
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


def _shape(t: Optional[Tensor]):
    return None if t is None else tuple(t.shape)


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
