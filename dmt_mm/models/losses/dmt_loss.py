# Copyright (c) dmt_mm contributors. All rights reserved.
"""The dynamic loss of DMT (Dynamic Mutual Training).

Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised Learning",
Pattern Recognition 2022 (arXiv:2004.08514).

For one pseudo-labelled target (a pixel in segmentation, a sample in
classification) with pseudo label ``y`` and teacher confidence ``c_t``, let
``p`` be the student's softmax (no gradient), ``d = argmax p``,
``c_s = max p`` and ``p_y = p[y]``. The loss weight is::

    d == y                  ->  w = p_y ** gamma1   (agree)
    d != y and c_s >  c_t   ->  w = 0               (student wins)
    d != y and c_s <= c_t   ->  w = p_y ** gamma2   (teacher wins)

Labelled targets have ``w = 1``; ignored targets have ``w = 0``. The loss is
``sum(w * CE) / (number of non-ignored targets)``.

Everything here works on logits of shape ``(N, C, *)`` with targets of shape
``(N, *)``, where ``*`` is empty (classification) or spatial (segmentation).
The weight rule is implemented once, in :func:`_dmt_rule`, and shared by
:func:`dmt_weights`, :func:`dmt_weight_stats`, :func:`dmt_loss` and
:class:`DMTLoss`.
"""
import numbers
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------


def _check_gamma(value, name: str) -> float:
    """Return ``value`` as a float, raising if it is not a number >= 0."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f'{name} must be a scalar, got a tensor of shape '
                             f'{tuple(value.shape)}')
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a real number, got {value!r} '
                        f'({type(value).__name__})')
    value = float(value)
    if not value >= 0:  # also rejects NaN
        raise ValueError(f'{name} must be >= 0, got {value}')
    return value


def _check_logits_label(logits: Tensor, label: Tensor,
                        ignore_index: int) -> Tensor:
    """Check logits ``(N, C, *)`` against label ``(N, *)``; return long label.

    Raises a ValueError naming the bad value and ``num_classes`` when a
    non-ignored label is out of ``[0, C)`` (instead of a device-side assert
    deep inside ``cross_entropy``).
    """
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError('student_logits must be a floating point tensor, got '
                        f'{type(logits).__name__}' +
                        (f' of dtype {logits.dtype}' if isinstance(
                            logits, Tensor) else ''))
    if logits.dim() < 2:
        raise ValueError('student_logits must have shape (N, C, *), got '
                         f'{tuple(logits.shape)}')
    if not isinstance(label, Tensor) or label.is_floating_point() \
            or label.is_complex():
        raise TypeError(
            'label must be an integer tensor, got '
            f'{type(label).__name__}' +
            (f' of dtype {label.dtype}' if isinstance(label, Tensor) else ''))
    if label.dtype == torch.bool:
        raise TypeError('label must be an integer tensor, got dtype '
                        f'{label.dtype}')
    expected = (logits.shape[0], ) + tuple(logits.shape[2:])
    if tuple(label.shape) != expected:
        raise ValueError(
            f'label shape {tuple(label.shape)} does not match student_logits '
            f'shape {tuple(logits.shape)}: expected label shape {expected}')
    if isinstance(ignore_index,
                  bool) or not isinstance(ignore_index, numbers.Integral):
        raise TypeError(f'ignore_index must be an int, got {ignore_index!r}')
    label = label.long()
    num_classes = logits.shape[1]
    bad = (label != ignore_index) & ((label < 0) | (label >= num_classes))
    if bool(bad.any()):
        bad_values = torch.unique(label[bad])[:8].tolist()
        raise ValueError(
            f'label contains {bad_values} which is out of range for '
            f'num_classes={num_classes} (valid: 0..{num_classes - 1}, or '
            f'ignore_index={ignore_index})')
    return label


def _check_like_label(tensor: Optional[Tensor], label: Tensor, logits: Tensor,
                      name: str) -> Optional[Tensor]:
    """Check that ``tensor`` (if given) has the label's shape ``(N, *)``."""
    if tensor is None:
        return None
    if not isinstance(tensor, Tensor):
        raise TypeError(f'{name} must be a tensor or None, got '
                        f'{type(tensor).__name__}')
    if name == 'teacher_conf' and not tensor.is_floating_point():
        raise TypeError('teacher_conf must be a floating point tensor of '
                        f'probabilities in [0, 1], got dtype {tensor.dtype}')
    if tuple(tensor.shape) != tuple(label.shape):
        raise ValueError(
            f'{name} shape {tuple(tensor.shape)} does not match label shape '
            f'{tuple(label.shape)} (student_logits shape '
            f'{tuple(logits.shape)})')
    return tensor


def _check_is_pseudo(is_pseudo: Optional[Tensor],
                     logits: Tensor) -> Optional[Tensor]:
    """Check ``is_pseudo`` has shape ``(N, )`` and return it as bool."""
    if is_pseudo is None:
        return None
    if not isinstance(is_pseudo, Tensor):
        is_pseudo = torch.as_tensor(is_pseudo)
    if tuple(is_pseudo.shape) != (logits.shape[0], ):
        raise ValueError(
            f'is_pseudo must have shape (N,) = ({logits.shape[0]},), got '
            f'{tuple(is_pseudo.shape)} (student_logits shape '
            f'{tuple(logits.shape)})')
    return is_pseudo.to(device=logits.device, dtype=torch.bool)


# ---------------------------------------------------------------------------
# the weight rule (single implementation)
# ---------------------------------------------------------------------------


@torch.no_grad()
def _dmt_rule(probs: Tensor, label: Tensor, teacher_conf: Tensor,
              gamma1: float, gamma2: float,
              ignore_index: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Apply the DMT weight rule to student probabilities.

    Args:
        probs (Tensor): Student softmax, ``(N, C, *)``, no gradient.
        label (Tensor): Pseudo label ``y``, long ``(N, *)``, already checked.
        teacher_conf (Tensor): Teacher confidence ``c_t``, ``(N, *)``.
        gamma1 (float): Exponent where student and teacher agree.
        gamma2 (float): Exponent where they disagree and ``c_s <= c_t``.
        ignore_index (int): Label value to ignore.

    Returns:
        tuple[Tensor]: ``(weight, valid, disagree, student_wins)``, each
        ``(N, *)``; ``weight`` is float and 0 on ignored targets, the others
        are bool masks (``disagree`` and ``student_wins`` are False on
        ignored targets).
    """
    valid = label != ignore_index
    safe_label = torch.where(valid, label, torch.zeros_like(label))
    conf_s, decision = probs.max(dim=1)
    p_y = probs.gather(1, safe_label.unsqueeze(1)).squeeze(1)
    teacher_conf = teacher_conf.to(device=probs.device, dtype=probs.dtype)
    disagree = (decision != safe_label) & valid
    student_wins = disagree & (conf_s > teacher_conf)
    weight = torch.where(disagree, p_y.pow(gamma2), p_y.pow(gamma1))
    weight = torch.where(student_wins | ~valid, torch.zeros_like(weight),
                         weight)
    return weight, valid, disagree, student_wins


def _softmax(logits: Tensor) -> Tensor:
    """Detached class-dim softmax, computed in at least float32."""
    logits = logits.detach()
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return logits.softmax(dim=1)


def dmt_weights(student_logits: Tensor,
                pseudo_label: Tensor,
                teacher_conf: Tensor,
                gamma1: float,
                gamma2: float,
                ignore_index: int = 255) -> Tensor:
    """DMT dynamic weights of pseudo-labelled targets (no gradient).

    Args:
        student_logits (Tensor): Student logits, float ``(N, C, *)``; ``*``
            is empty for classification or ``(H, W)`` for segmentation.
        pseudo_label (Tensor): Pseudo labels (teacher argmax), long
            ``(N, *)``.
        teacher_conf (Tensor): Teacher confidence (teacher max softmax),
            float ``(N, *)``.
        gamma1 (float): Exponent where ``argmax p == y``; must be >= 0.
        gamma2 (float): Exponent where ``argmax p != y`` and
            ``max p <= teacher_conf``; must be >= 0.
        ignore_index (int): Label value that gets weight 0.
            Defaults to 255.

    Returns:
        Tensor: Float weights ``(N, *)`` without gradient.
    """
    gamma1 = _check_gamma(gamma1, 'gamma1')
    gamma2 = _check_gamma(gamma2, 'gamma2')
    label = _check_logits_label(student_logits, pseudo_label, ignore_index)
    if teacher_conf is None:
        raise ValueError('teacher_conf is required by dmt_weights, got None')
    _check_like_label(teacher_conf, label, student_logits, 'teacher_conf')
    weight = _dmt_rule(
        _softmax(student_logits), label, teacher_conf, gamma1, gamma2,
        ignore_index)[0]
    return weight


def dmt_weight_stats(student_logits: Tensor,
                     pseudo_label: Tensor,
                     teacher_conf: Tensor,
                     ignore_index: int = 255) -> Dict[str, Tensor]:
    """Disagreement statistics of the DMT rule, for logging.

    Rates are over the non-ignored pseudo targets and are 0 when there are
    none.

    Args:
        student_logits (Tensor): Student logits, float ``(N, C, *)``.
        pseudo_label (Tensor): Pseudo labels, long ``(N, *)``.
        teacher_conf (Tensor): Teacher confidence, float ``(N, *)``.
        ignore_index (int): Label value to skip. Defaults to 255.

    Returns:
        dict[str, Tensor]: Detached 0-dim tensors: ``disagree`` (fraction
        with ``argmax p != y``), ``student_wins`` (fraction with
        ``argmax p != y`` and ``max p > teacher_conf``, i.e. weight 0) and
        ``num_valid`` (number of non-ignored targets, long).
    """
    label = _check_logits_label(student_logits, pseudo_label, ignore_index)
    if teacher_conf is None:
        raise ValueError(
            'teacher_conf is required by dmt_weight_stats, got None')
    _check_like_label(teacher_conf, label, student_logits, 'teacher_conf')
    _, valid, disagree, student_wins = _dmt_rule(
        _softmax(student_logits), label, teacher_conf, 0.0, 0.0, ignore_index)
    num_valid = valid.sum()
    denom = num_valid.clamp(min=1).float()
    return dict(
        disagree=disagree.sum().float() / denom,
        student_wins=student_wins.sum().float() / denom,
        num_valid=num_valid)


# ---------------------------------------------------------------------------
# the loss
# ---------------------------------------------------------------------------


def dmt_loss(
    student_logits: Tensor,
    label: Tensor,
    teacher_conf: Optional[Tensor],
    is_pseudo: Optional[Tensor],
    gamma1: float,
    gamma2: float,
    ignore_index: int = 255,
    weight: Optional[Tensor] = None,
    return_stats: bool = False
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

    Returns:
        Tensor | tuple[Tensor, dict]: The scalar loss. With
        ``return_stats=True`` also a dict of detached 0-dim tensors over the
        non-ignored targets of pseudo-labelled samples (all 0 when there are
        none): ``mean_weight`` (mean dynamic weight), ``disagree``
        (fraction with ``argmax p != y``), ``student_wins`` (fraction with
        weight 0 because the student disagrees and is more confident), and
        ``pseudo_ratio`` (fraction of all non-ignored targets that belong
        to pseudo-labelled samples).
    """
    gamma1 = _check_gamma(gamma1, 'gamma1')
    gamma2 = _check_gamma(gamma2, 'gamma2')
    label = _check_logits_label(student_logits, label, ignore_index)
    teacher_conf = _check_like_label(teacher_conf, label, student_logits,
                                     'teacher_conf')
    weight = _check_like_label(weight, label, student_logits, 'weight')
    is_pseudo = _check_is_pseudo(is_pseudo, student_logits)
    if is_pseudo is None:
        is_pseudo = torch.full((student_logits.shape[0], ),
                               teacher_conf is not None,
                               dtype=torch.bool,
                               device=student_logits.device)
    any_pseudo = bool(is_pseudo.any())
    if any_pseudo and teacher_conf is None:
        raise ValueError('teacher_conf is None but is_pseudo marks '
                         f'{int(is_pseudo.sum())} pseudo-labelled samples')

    valid = label != ignore_index
    pseudo_mask = is_pseudo.view((-1, ) + (1, ) * (label.dim() - 1))
    pseudo_mask = pseudo_mask.expand_as(label) & valid
    with torch.no_grad():
        if any_pseudo:
            dyn_w, _, disagree, student_wins = _dmt_rule(
                _softmax(student_logits), label, teacher_conf, gamma1, gamma2,
                ignore_index)
            w = torch.where(pseudo_mask, dyn_w, valid.to(dyn_w.dtype))
        else:
            w = valid.float()
        if weight is not None:
            w = w * weight.detach().to(w.dtype)

    num_valid = valid.sum()
    if int(num_valid) == 0:
        loss = student_logits.sum() * 0
    else:
        safe_label = torch.where(valid, label, torch.zeros_like(label))
        ce = F.cross_entropy(student_logits, safe_label, reduction='none')
        loss = (ce * w.to(ce.dtype)).sum() / num_valid.to(ce.dtype)

    if not return_stats:
        return loss
    zero = student_logits.new_zeros((), dtype=torch.float32).detach()
    num_pseudo = pseudo_mask.sum()
    if any_pseudo and int(num_pseudo) > 0:
        denom = num_pseudo.float()
        stats = dict(
            mean_weight=(dyn_w * pseudo_mask).sum().float() / denom,
            disagree=(disagree & pseudo_mask).sum().float() / denom,
            student_wins=(student_wins & pseudo_mask).sum().float() / denom,
            pseudo_ratio=denom / num_valid.float())
    else:
        stats = dict(
            mean_weight=zero.clone(),
            disagree=zero.clone(),
            student_wins=zero.clone(),
            pseudo_ratio=zero.clone())
    stats = {k: v.detach() for k, v in stats.items()}
    return loss, stats


# ---------------------------------------------------------------------------
# the MMSeg loss module
# ---------------------------------------------------------------------------


def _pad_like_label(teacher_conf: Tensor, label: Tensor) -> Tensor:
    """Zero-pad ``teacher_conf`` on the right/bottom to ``label``'s shape.

    MMSeg's data preprocessor pads ``gt_sem_seg`` (with 255) to the batch
    shape on the right and bottom; a confidence map stored next to the
    pseudo label is not padded, so it may be smaller.
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

    Works with any MMSeg decode head, which calls
    ``loss_decode(seg_logits, seg_label, weight=seg_weight,
    ignore_index=...)`` with ``seg_logits`` ``(N, C, H, W)`` resized to the
    label size and ``seg_label`` ``(N, H, W)``. A head cannot pass the
    teacher confidence or which samples are pseudo-labelled, so the
    segmentor sets them around the head's loss::

        loss_module.set_pseudo_context(teacher_conf, is_pseudo)
        try:
            losses = decode_head.loss(feats, data_samples, train_cfg)
        finally:
            loss_module.clear_pseudo_context()

    (or ``with dmt_pseudo_context(model, teacher_conf, is_pseudo): ...``,
    which does this for every ``DMTLoss`` inside ``model``).

    Without a context (labelled-only data) the loss is plain cross entropy
    averaged over non-ignored pixels. With one, targets of pseudo-labelled
    samples get the DMT dynamic weight; the loss is still normalised by the
    number of non-ignored targets (see :func:`dmt_loss`).

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

    Attributes:
        last_stats (dict[str, Tensor] | None): After each ``forward`` with a
            pseudo context, detached 0-dim tensors over the non-ignored
            pseudo targets: ``dmt_weight`` (mean dynamic weight),
            ``dmt_disagree``, ``dmt_student_wins`` and ``dmt_pseudo_ratio``
            (fraction of non-ignored pixels that are pseudo-labelled). None
            after a forward without a context.
    """

    def __init__(self,
                 gamma1: float = 5.0,
                 gamma2: float = 5.0,
                 loss_weight: float = 1.0,
                 ignore_index: int = 255,
                 loss_name: str = 'loss_dmt') -> None:
        super().__init__()
        self.gamma1 = _check_gamma(gamma1, 'gamma1')
        self.gamma2 = _check_gamma(gamma2, 'gamma2')
        if isinstance(loss_weight,
                      bool) or not isinstance(loss_weight, numbers.Real):
            raise TypeError(
                f'loss_weight must be a real number, got {loss_weight!r}')
        self.loss_weight = float(loss_weight)
        if isinstance(ignore_index,
                      bool) or not isinstance(ignore_index, numbers.Integral):
            raise TypeError(
                f'ignore_index must be an int, got {ignore_index!r}')
        self.ignore_index = int(ignore_index)
        if not isinstance(loss_name, str):
            raise TypeError(f'loss_name must be a str, got {loss_name!r}')
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
                           is_pseudo: Tensor) -> None:
        """Set the teacher confidence and pseudo flags of the next batch.

        Args:
            teacher_conf (Tensor, optional): Teacher confidence, float
                ``(N, H', W')``, zero (or anything) for labelled samples.
                It may be smaller than the (padded) label passed to
                ``forward``; it is zero-padded on the right/bottom. May be
                None when no sample is pseudo-labelled.
            is_pseudo (Tensor): Bool ``(N, )``, True for pseudo-labelled
                samples.
        """
        if teacher_conf is not None and not isinstance(teacher_conf, Tensor):
            raise TypeError('teacher_conf must be a tensor or None, got '
                            f'{type(teacher_conf).__name__}')
        if not isinstance(is_pseudo, Tensor):
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
            label (Tensor): Labels ``(N, H, W)``, long.
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
        if not self._has_context:
            loss = dmt_loss(
                cls_score,
                label,
                None,
                None,
                self.gamma1,
                self.gamma2,
                ignore_index=ignore_index,
                weight=weight)
            self.last_stats = None
            return self.loss_weight * loss

        teacher_conf = self._teacher_conf
        is_pseudo = self._is_pseudo.to(cls_score.device)
        if teacher_conf is not None:
            teacher_conf = _pad_like_label(
                teacher_conf.to(cls_score.device), label)
        loss, stats = dmt_loss(
            cls_score,
            label,
            teacher_conf,
            is_pseudo,
            self.gamma1,
            self.gamma2,
            ignore_index=ignore_index,
            weight=weight,
            return_stats=True)
        self.last_stats = dict(
            dmt_weight=stats['mean_weight'],
            dmt_disagree=stats['disagree'],
            dmt_student_wins=stats['student_wins'],
            dmt_pseudo_ratio=stats['pseudo_ratio'])
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        """Extra repr."""
        return (f'gamma1={self.gamma1}, gamma2={self.gamma2}, '
                f'loss_weight={self.loss_weight}, '
                f'ignore_index={self.ignore_index}, '
                f'loss_name={self._loss_name!r}')


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
