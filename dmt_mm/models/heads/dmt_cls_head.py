# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMT classification head: the dynamic loss and the gamma ramp.

Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised Learning",
Pattern Recognition 2022 (arXiv:2004.08514), CIFAR-10 experiments.

The classification loss of DMT mixes the batch *after* computing the dynamic
weights on the un-mixed batch (see
:mod:`dmt_mm.models.losses.dmt_mixup_loss`, whose :func:`mix_batch` and
:func:`dmt_mixup_loss` are re-exported here). A head only sees features, so
the mixing lives in
:class:`~dmt_mm.models.classifiers.dmt_image_classifier.DMTImageClassifier`;
this module has :class:`DMTClsHead` (the weights, both loss forms and the
gamma ramp, :func:`ramp_gamma`); the batch targets are read by
:mod:`~dmt_mm.models.heads.cls_targets`. MMPretrain's
``Mixup`` batch augment is not used: it mixes one-hot ``gt_score`` in the
data preprocessor, draws ``lam`` without ``max(lam, 1 - lam)`` and does not
expose ``lam`` or the permutation, which the per-sample weights need.
"""
import math
import numbers
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from dmt_mm.models.losses.dmt_mixup_loss import (NO_IGNORE, check_vector,
                                                 dmt_mixup_loss, mix_batch,
                                                 mixup_ce)
from dmt_mm.models.losses.dmt_rule import (check_logits_label,
                                           check_nonnegative, dmt_rule,
                                           dmt_rule_stats)
from dmt_mm.models.losses.dmt_weight_truth import weight_truth_hist
from dmt_mm.models.heads.cls_targets import (NO_TRUTH, unpack_cls_targets,
                                             unpack_cls_truth)


def ramp_gamma(gamma_max: float, step: Union[int, float],
               total: Union[int, float]) -> float:
    """DMT's ramp-up of gamma over a phase.

    ``gamma(t) = gamma_max * exp(-5 * (1 - t / T) ** 2)``: ``gamma_max *
    e**-5`` at ``t = 0``, ``gamma_max`` at ``t = T``; ``t`` is clipped to
    ``[0, T]`` so that gamma stays at ``gamma_max`` after the phase.

    Args:
        gamma_max (float): Final value, >= 0 (4 for CIFAR-10).
        step (int | float): Current step ``t`` of the phase, >= 0.
        total (int | float): Steps ``T`` of the phase, > 0.

    Returns:
        float: ``gamma(t)``.
    """
    gamma_max = check_nonnegative(gamma_max, 'gamma_max')
    step = check_nonnegative(step, 'step')
    if isinstance(total, bool) or not isinstance(total, numbers.Real) \
            or not total > 0:
        raise ValueError(f'total must be a number > 0, got {total!r}')
    ratio = min(step / float(total), 1.0)
    return gamma_max * math.exp(-5.0 * (1.0 - ratio)**2)


@MODELS.register_module()
class DMTClsHead(LinearClsHead):
    """Linear classification head with the DMT dynamic loss.

    Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", Pattern Recognition 2022 (arXiv:2004.08514).

    A linear layer on pooled features ``(N, in_channels)`` (e.g. WRN-28-2 +
    ``GlobalAveragePooling``: ``in_channels=128``). Training uses the DMT
    loss instead of the ``loss`` module of ``ClsHead``:

    - :meth:`loss` (what a plain ``ImageClassifier`` calls, and what
      :class:`DMTImageClassifier` calls when mixup is off): weights from the
      detached logits of the same forward, ``sum(w * CE) / N`` (the public
      code's no-mixup path). Without pseudo-labelled samples it is plain
      cross entropy.
    - :meth:`loss_mixed`: the mixup form, with weights computed beforehand
      by :meth:`sample_weights` on the un-mixed batch;
      :class:`DMTImageClassifier` drives it.

    The head owns the gamma ramp: ``gamma1``/``gamma2`` hold the *current*
    exponents, :meth:`set_gamma_progress` (called by the training loop every
    iteration) sets them to :func:`ramp_gamma` of ``gamma1_max``/
    ``gamma2_max``, the configured values. The arguments are checked here,
    once; the training path checks nothing and never reads a tensor back to
    the host.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Input feature channels.
        gamma1 (float): Exponent where student and teacher agree (the final
            value of the ramp). Defaults to 4.0 (CIFAR-10).
        gamma2 (float): Exponent where they disagree and the student is not
            more confident. Defaults to 4.0.
        mixup_alpha (float, optional): Beta parameter of DMT's mixup, read by
            :class:`DMTImageClassifier`; None or 0 disables mixup.
            Defaults to 0.75.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        dynamic (bool): False gives every pseudo-labelled sample weight 1
            (the paper's ablation without dynamic weights; mixup still mixes
            labels and weights); the statistics are still logged.
            Defaults to True.
        topk (int | tuple[int]): Top-k accuracy for ``cal_acc``.
        cal_acc (bool): Log training accuracy on un-mixed batches.
            Defaults to False.
        init_cfg (dict, optional): Defaults to Xavier-normal weights and zero
            bias for the linear layer.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 gamma1: float = 4.0,
                 gamma2: float = 4.0,
                 mixup_alpha: Optional[float] = 0.75,
                 loss_weight: float = 1.0,
                 dynamic: bool = True,
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='Xavier',
                     layer='Linear',
                     distribution='normal',
                     bias=0.),
                 **kwargs) -> None:
        if 'loss' in kwargs:
            raise TypeError('DMTClsHead computes its own weighted cross '
                            'entropy and takes no loss config; got '
                            f'loss={kwargs["loss"]!r}')
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            topk=topk,
            cal_acc=cal_acc,
            init_cfg=init_cfg,
            **kwargs)
        self.gamma1_max = check_nonnegative(gamma1, 'gamma1')
        self.gamma2_max = check_nonnegative(gamma2, 'gamma2')
        self.gamma1 = self.gamma1_max
        self.gamma2 = self.gamma2_max
        if mixup_alpha is not None:
            mixup_alpha = check_nonnegative(mixup_alpha, 'mixup_alpha')
        self.mixup_alpha = mixup_alpha or None
        self.loss_weight = check_nonnegative(loss_weight, 'loss_weight')
        if not isinstance(dynamic, bool):
            raise TypeError(f'dynamic must be a bool, got {dynamic!r}')
        self.dynamic = dynamic
        self.last_weight_hist: Optional[Tensor] = None

    @property
    def use_mixup(self) -> bool:
        """bool: Whether DMT's mixup is enabled (``mixup_alpha > 0``)."""
        return self.mixup_alpha is not None

    def set_gamma_progress(self, step: Union[int, float],
                           total: Union[int, float]) -> None:
        """Set ``gamma1``/``gamma2`` to :func:`ramp_gamma` of their max."""
        self.gamma1 = ramp_gamma(self.gamma1_max, step, total)
        self.gamma2 = ramp_gamma(self.gamma2_max, step, total)

    def sample_weights(
        self, logits_unmixed: Tensor, labels: Tensor,
        teacher_conf: Optional[Tensor], is_pseudo: Tensor,
        truth: Optional[Tensor] = None
    ) -> Tuple[Tensor, Optional[Dict[str, Tensor]]]:
        """Per-sample weights and statistics of an un-mixed batch.

        The training path: unchecked, one pass of the rule, no host-device
        sync. Arguments as :meth:`dmt_sample_weights` (``is_pseudo`` a bool
        tensor on the logits' device); ``truth`` (long ``(N, )``, the hidden
        labels of pseudo samples, ``NO_TRUTH`` elsewhere; optional) sets
        ``last_weight_hist``, the weight histogram of right and wrong pseudo
        labels (:mod:`~dmt_mm.models.losses.dmt_weight_truth`; the rule's
        weight also when not ``dynamic``), None without it.

        Returns:
            tuple: Float weights ``(N, )`` without gradient (all 1 when
            ``teacher_conf`` is None), and None or detached 0-dim
            statistics over the pseudo-labelled samples: ``dmt_weight``
            (mean weight applied), ``dmt_disagree``, ``dmt_student_wins``,
            ``dmt_pseudo_ratio`` (their fraction of the batch) and the
            current ``dmt_gamma1``, ``dmt_gamma2``.
        """
        self.last_weight_hist = None
        if teacher_conf is None:
            return logits_unmixed.new_ones(logits_unmixed.shape[:1],
                                           dtype=torch.float32), None
        rule = dmt_rule(logits_unmixed, labels, teacher_conf, self.gamma1,
                        self.gamma2, NO_IGNORE, self.dynamic)
        if truth is not None:
            self.last_weight_hist = weight_truth_hist(
                rule.rule_weight, is_pseudo, labels, truth, NO_TRUTH)
        weights = torch.where(is_pseudo, rule.weight, 1.0)
        stats = dmt_rule_stats(rule, is_pseudo)
        new = logits_unmixed.new_full  # a fill on the device, no copy
        return weights, dict(
            dmt_weight=stats['mean_weight'],
            dmt_disagree=stats['disagree'],
            dmt_student_wins=stats['student_wins'],
            dmt_pseudo_ratio=stats['pseudo_ratio'],
            dmt_gamma1=new((), self.gamma1, dtype=torch.float32),
            dmt_gamma2=new((), self.gamma2, dtype=torch.float32))

    def dmt_sample_weights(
        self,
        logits_unmixed: Tensor,
        labels: Tensor,
        teacher_conf: Optional[Tensor],
        is_pseudo: Tensor,
        return_stats: bool = False
    ) -> Union[Tensor, Tuple[Tensor, Dict[str, Tensor]]]:
        """Per-sample DMT weights of an un-mixed batch (checked; no grad).

        Labelled samples get 1; pseudo-labelled samples get the shared DMT
        rule with the current ``gamma1``/``gamma2`` (1 when not
        ``dynamic``).

        Args:
            logits_unmixed (Tensor): Student logits ``(N, num_classes)``.
            labels (Tensor): Labels / pseudo labels, integer ``(N, )``.
            teacher_conf (Tensor, optional): Teacher confidence ``(N, )``;
                entries of labelled samples are not used. May be None when
                no sample is pseudo-labelled.
            is_pseudo (Tensor): Bool ``(N, )``.
            return_stats (bool): Also return the statistics of
                :meth:`sample_weights` (zeros without pseudo samples).

        Returns:
            Tensor | tuple[Tensor, dict]: Float weights ``(N, )``, and the
            statistics with ``return_stats``.
        """
        labels = check_logits_label(logits_unmixed, labels, NO_IGNORE,
                                    ('logits', 'labels'))
        n = logits_unmixed.shape[0]
        is_pseudo = check_vector(torch.as_tensor(is_pseudo), n,
                                  'is_pseudo').to(logits_unmixed.device,
                                                  torch.bool)
        if teacher_conf is None and bool(is_pseudo.any()):
            raise ValueError(
                'teacher_conf is None but is_pseudo marks '
                f'{int(is_pseudo.sum())} pseudo-labelled samples')
        if teacher_conf is not None:
            teacher_conf = check_vector(teacher_conf, n, 'teacher_conf').to(
                logits_unmixed.device)
        weights, stats = self.sample_weights(logits_unmixed, labels,
                                             teacher_conf, is_pseudo)
        if not return_stats:
            return weights
        if stats is None:
            zero = weights.new_zeros(())
            stats = {k: zero for k in ('dmt_weight', 'dmt_disagree',
                                       'dmt_student_wins', 'dmt_pseudo_ratio')}
        return weights, stats

    def loss_mixed(self, feats_mixed: Tuple[Tensor], labels: Tensor,
                   weights: Tensor, perm: Tensor, lam: float) -> dict:
        """DMT mixup loss from features of the mixed batch (unchecked).

        Args:
            feats_mixed (tuple[Tensor]): Neck outputs of the mixed inputs;
                the last is used, ``(N, in_channels)``.
            labels (Tensor): Un-mixed labels, long ``(N, )``.
            weights (Tensor): Un-mixed weights ``(N, )`` from
                :meth:`sample_weights`.
            perm (Tensor): Permutation from :func:`mix_batch`.
            lam (float): Mixing ratio from :func:`mix_batch`.

        Returns:
            dict[str, Tensor]: ``{'loss': scalar}``.
        """
        loss = mixup_ce(self(feats_mixed), labels, weights, perm, lam)
        return dict(loss=loss * self.loss_weight)

    def _get_loss(self, cls_score: Tensor, data_samples: List[DataSample],
                  **kwargs) -> dict:
        """Un-mixed DMT loss ``sum(w * CE) / N`` (weights from this forward).

        Returns ``loss`` plus, when the batch has pseudo-labelled samples,
        the statistics of :meth:`sample_weights` (logged, not summed: their
        keys do not contain ``loss``).
        """
        labels, teacher_conf, is_pseudo = unpack_cls_targets(
            data_samples, cls_score.device)
        weights, stats = self.sample_weights(
            cls_score, labels, teacher_conf, is_pseudo,
            unpack_cls_truth(data_samples, cls_score.device))
        ce = F.cross_entropy(cls_score, labels, reduction='none')
        loss = (weights.to(ce.dtype) * ce).sum() / max(cls_score.shape[0], 1)
        losses = dict(loss=loss * self.loss_weight)
        if self.cal_acc:
            acc = Accuracy.calculate(cls_score, labels, topk=self.topk)
            losses.update({
                f'accuracy_top-{k}': a
                for k, a in zip(self.topk, acc)
            })
        if stats is not None:
            losses.update(stats)
        return losses


__all__ = [
    'DMTClsHead', 'dmt_mixup_loss', 'mix_batch', 'ramp_gamma',
    'unpack_cls_targets'
]
