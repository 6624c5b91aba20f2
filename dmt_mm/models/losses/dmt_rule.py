# Copyright (c) dmt_mm contributors. All rights reserved.
"""The weight rule of DMT (Dynamic Mutual Training), shared by every loss.

Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised Learning",
Pattern Recognition 2022 (arXiv:2004.08514).

For one pseudo-labelled target (a pixel in segmentation, a sample in
classification) with pseudo label ``y`` and teacher confidence ``c_t``, let
``p`` be the student's softmax (no gradient), ``d = argmax p``,
``c_s = max p`` and ``p_y = p[y]``. The loss weight is::

    d == y                  ->  w = p_y ** gamma1   (agree)
    d != y and c_s >  c_t   ->  w = 0               (student wins)
    d != y and c_s <= c_t   ->  w = p_y ** gamma2   (teacher wins)

Ignored targets have ``w = 0``. With ``dynamic=False`` (the paper's "mutual
training without dynamic weights" ablation) every non-ignored target has
``w = 1``; the disagreement masks are the same.

Logits have shape ``(N, C, *)`` and targets ``(N, *)``, where ``*`` is empty
(classification) or spatial (segmentation). :func:`dmt_rule` computes the
weights and the masks in one pass and :func:`dmt_rule_stats` the logged
rates; neither checks anything nor reads a tensor back to the host: they are
what the training step calls (:class:`~dmt_mm.models.losses.DMTLoss` and
:class:`~dmt_mm.models.heads.DMTClsHead`, whose arguments are checked once,
when they are built). :func:`dmt_weights` and :func:`dmt_weight_stats` check
their arguments first, for direct users.
"""
import numbers
from typing import Dict, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

# ---------------------------------------------------------------------------
# argument checks (public functions and build time only)
# ---------------------------------------------------------------------------


def check_nonnegative(value, name: str) -> float:
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


def check_int(value, name: str) -> int:
    """Return ``value`` as an int, raising if it is not an integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{name} must be an int, got {value!r}')
    return int(value)


def _dtype_of(x) -> str:
    return f' of dtype {x.dtype}' if isinstance(x, Tensor) else ''


def check_logits_label(logits: Tensor,
                       label: Tensor,
                       ignore_index: int,
                       names: Tuple[str, str] = ('student_logits', 'label')
                       ) -> Tensor:
    """Check logits ``(N, C, *)`` against label ``(N, *)``; return long label.

    Raises a ValueError naming the bad values and ``num_classes`` when a
    non-ignored label is out of ``[0, C)`` (instead of a device-side assert
    deep inside ``cross_entropy``). Reads the label values, so it
    synchronises with the device: for direct users, not the training step.
    """
    lname, yname = names
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f'{lname} must be a floating point tensor, got '
                        f'{type(logits).__name__}{_dtype_of(logits)}')
    if logits.dim() < 2:
        raise ValueError(f'{lname} must have shape (N, C, *), got '
                         f'{tuple(logits.shape)}')
    if not isinstance(label, Tensor) or label.is_floating_point() \
            or label.is_complex() or label.dtype == torch.bool:
        raise TypeError(f'{yname} must be an integer tensor, got '
                        f'{type(label).__name__}{_dtype_of(label)}')
    expected = (logits.shape[0], ) + tuple(logits.shape[2:])
    if tuple(label.shape) != expected:
        raise ValueError(
            f'{yname} shape {tuple(label.shape)} does not match {lname} '
            f'shape {tuple(logits.shape)}: expected {yname} shape {expected}')
    check_int(ignore_index, 'ignore_index')
    label = label.long()
    num_classes = logits.shape[1]
    bad = (label != ignore_index) & ((label < 0) | (label >= num_classes))
    if bool(bad.any()):
        bad_values = torch.unique(label[bad])[:8].tolist()
        raise ValueError(
            f'{yname} contains {bad_values} which is out of range for '
            f'num_classes={num_classes} (valid: 0..{num_classes - 1}, or '
            f'ignore_index={ignore_index})')
    return label


def check_like_label(tensor: Optional[Tensor], label: Tensor, logits: Tensor,
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


def check_is_pseudo(is_pseudo, logits: Tensor) -> Optional[Tensor]:
    """Check ``is_pseudo`` has shape ``(N, )`` and return it as bool."""
    if is_pseudo is None:
        return None
    is_pseudo = torch.as_tensor(is_pseudo)
    if tuple(is_pseudo.shape) != (logits.shape[0], ):
        raise ValueError(
            f'is_pseudo must have shape (N,) = ({logits.shape[0]},), got '
            f'{tuple(is_pseudo.shape)} (student_logits shape '
            f'{tuple(logits.shape)})')
    return is_pseudo.to(device=logits.device, dtype=torch.bool)


def to_device_async(tensor: Tensor, device) -> Tensor:
    """Move a tensor made on the host to ``device`` without waiting.

    A plain ``.to('cuda')`` of pageable host memory waits for the copy, and
    so for the work already queued on the stream (a host-device sync); from
    pinned memory with ``non_blocking=True`` it is queued like a kernel.
    Tensors already on ``device`` are returned as they are.
    """
    device = torch.device(device)
    if tensor.device == device:
        return tensor
    if device.type == 'cuda' and tensor.device.type == 'cpu':
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


# ---------------------------------------------------------------------------
# the weight rule (single implementation, unchecked, no host-device sync)
# ---------------------------------------------------------------------------


class DMTRule(NamedTuple):
    """Output of :func:`dmt_rule`; every field is ``(N, *)``, no gradient.

    Attributes:
        weight (Tensor): float32 weight of each target as a pseudo target: the
            dynamic weight (1 everywhere when ``dynamic=False``), 0 on
            ignored targets.
        valid (Tensor): bool, the target is not ignored.
        disagree (Tensor): bool, ``argmax p != y`` (False where ignored).
        student_wins (Tensor): bool, ``disagree`` and ``max p > c_t``.
        rule_weight (Tensor): float32, the dynamic weight the rule gives
            (``weight`` itself when ``dynamic``; with ``dynamic=False`` the
            weight it would have given, for the diagnostics).
    """
    weight: Tensor
    valid: Tensor
    disagree: Tensor
    student_wins: Tensor
    rule_weight: Tensor


@torch.no_grad()
def dmt_rule(student_logits: Tensor,
             label: Tensor,
             teacher_conf: Tensor,
             gamma1: float,
             gamma2: float,
             ignore_index: int = 255,
             dynamic: bool = True) -> DMTRule:
    """The DMT weight rule and its masks, in one pass (unchecked).

    Nothing is validated and nothing is read back to the host: the caller
    guarantees the shapes and the label range (out-of-range labels that are
    not ``ignore_index`` are undefined behaviour).

    Args:
        student_logits (Tensor): Student logits ``(N, C, *)``; detached and
            softmaxed in at least float32 here.
        label (Tensor): Pseudo labels ``y``, integer ``(N, *)``.
        teacher_conf (Tensor): Teacher confidence ``c_t``, float ``(N, *)``.
        gamma1 (float): Exponent where student and teacher agree.
        gamma2 (float): Exponent where they disagree and ``c_s <= c_t``.
        ignore_index (int): Label value to ignore. Defaults to 255.
        dynamic (bool): False gives every valid target weight 1 (the masks
            are unchanged). Defaults to True.

    Returns:
        DMTRule: ``(weight, valid, disagree, student_wins, rule_weight)``.
    """
    logits = student_logits.detach()
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    probs = logits.softmax(dim=1)
    valid = label != ignore_index
    safe_label = torch.where(valid, label, torch.zeros_like(label))
    conf_s, decision = probs.max(dim=1)
    teacher_conf = teacher_conf.to(device=probs.device, dtype=probs.dtype)
    disagree = (decision != safe_label) & valid
    student_wins = disagree & (conf_s > teacher_conf)
    p_y = probs.gather(1, safe_label.unsqueeze(1)).squeeze(1)
    if gamma1 == gamma2:  # every published setting
        rule_weight = p_y.pow(gamma1)
    else:
        rule_weight = torch.where(disagree, p_y.pow(gamma2), p_y.pow(gamma1))
    rule_weight = rule_weight.masked_fill(student_wins | ~valid, 0.0)
    weight = rule_weight if dynamic else valid.to(probs.dtype)
    return DMTRule(weight, valid, disagree, student_wins, rule_weight)


def dmt_rule_stats(rule: DMTRule, mask: Tensor) -> Dict[str, Tensor]:
    """Statistics of a :func:`dmt_rule` output over the targets in ``mask``.

    No host-device sync: empty sets give 0 through a clamped denominator.

    Args:
        rule (DMTRule): Output of :func:`dmt_rule`.
        mask (Tensor): Bool ``(N, *)``, the (valid) pseudo targets to count.

    Returns:
        dict[str, Tensor]: Detached float 0-dim tensors: ``mean_weight``,
        ``disagree`` and ``student_wins`` (fractions of the masked targets)
        and ``pseudo_ratio`` (masked targets over all valid targets).
    """
    count = mask.sum().float()
    denom = count.clamp(min=1.0)
    return dict(
        mean_weight=(rule.weight * mask).sum() / denom,
        disagree=(rule.disagree & mask).sum().float() / denom,
        student_wins=(rule.student_wins & mask).sum().float() / denom,
        pseudo_ratio=count / rule.valid.sum().float().clamp(min=1.0))


# ---------------------------------------------------------------------------
# checked public functions
# ---------------------------------------------------------------------------


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
    gamma1 = check_nonnegative(gamma1, 'gamma1')
    gamma2 = check_nonnegative(gamma2, 'gamma2')
    label = check_logits_label(student_logits, pseudo_label, ignore_index)
    if teacher_conf is None:
        raise ValueError('teacher_conf is required by dmt_weights, got None')
    check_like_label(teacher_conf, label, student_logits, 'teacher_conf')
    return dmt_rule(student_logits, label, teacher_conf, gamma1, gamma2,
                    ignore_index).weight


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
    label = check_logits_label(student_logits, pseudo_label, ignore_index)
    if teacher_conf is None:
        raise ValueError(
            'teacher_conf is required by dmt_weight_stats, got None')
    check_like_label(teacher_conf, label, student_logits, 'teacher_conf')
    rule = dmt_rule(student_logits, label, teacher_conf, 0.0, 0.0,
                    ignore_index)
    stats = dmt_rule_stats(rule, rule.valid)
    return dict(
        disagree=stats['disagree'],
        student_wins=stats['student_wins'],
        num_valid=rule.valid.sum())


__all__ = [
    'DMTRule', 'dmt_rule', 'dmt_rule_stats', 'dmt_weights',
    'dmt_weight_stats', 'check_nonnegative', 'check_int',
    'check_logits_label', 'to_device_async'
]
