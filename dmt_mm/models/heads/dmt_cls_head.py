# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMT classification head and the mixup form of the dynamic loss.

Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised Learning",
Pattern Recognition 2022 (arXiv:2004.08514), CIFAR-10 experiments.

The classification loss of DMT mixes the batch *after* computing the dynamic
weights: a no-grad student forward on the un-mixed batch gives one weight
``w`` per sample (labelled samples ``w = 1``; pseudo-labelled samples the
DMT rule of :func:`dmt_mm.models.losses.dmt_loss.dmt_weights`); then one
``lam ~ Beta(alpha, alpha)``, ``lam = max(lam, 1 - lam)``, and one
permutation ``perm`` mix the inputs, the labels and the weights::

    x_mix = lam * x + (1 - lam) * x[perm]
    w_mix = lam * w + (1 - lam) * w[perm]
    loss  = sum(w_mix * (lam * CE(f(x_mix), y)
                         + (1 - lam) * CE(f(x_mix), y[perm]))) / N

A head only sees features, so the mixing lives in
:class:`~dmt_mm.models.classifiers.dmt_image_classifier.DMTImageClassifier`;
this module provides the pure pieces (:func:`mix_batch`,
:func:`dmt_mixup_loss`, :func:`ramp_gamma`) and :class:`DMTClsHead`.

MMPretrain's ``Mixup`` batch augment is not used: it mixes one-hot
``gt_score`` in the data preprocessor, draws ``lam`` without
``max(lam, 1 - lam)`` and does not expose ``lam`` or the permutation, which
the per-sample weights need.
"""
import math
import numbers
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from dmt_mm.models.losses.dmt_loss import dmt_weight_stats, dmt_weights

#: ``ignore_index`` handed to the shared DMT rule: classification has no
#: ignored targets, and 255 may be a valid class.
_NO_IGNORE = -100

# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------


def _check_nonneg(value, name: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f'{name} must be a scalar, got a tensor of '
                             f'shape {tuple(value.shape)}')
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a real number, got {value!r}')
    value = float(value)
    if not value >= 0:
        raise ValueError(f'{name} must be >= 0, got {value}')
    return value


def _check_lam(lam) -> float:
    lam = _check_nonneg(lam, 'lam')
    if lam > 1:
        raise ValueError(f'lam must be in [0, 1], got {lam}')
    return lam


def _check_logits_labels(logits: Tensor, labels: Tensor) -> Tensor:
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError('logits must be a floating point tensor, got '
                        f'{type(logits).__name__}' +
                        (f' of dtype {logits.dtype}' if isinstance(
                            logits, Tensor) else ''))
    if logits.dim() != 2:
        raise ValueError('logits must have shape (N, num_classes), got '
                         f'{tuple(logits.shape)}')
    if not isinstance(labels, Tensor) or labels.is_floating_point() \
            or labels.dtype == torch.bool or labels.is_complex():
        raise TypeError('labels must be an integer tensor, got ' +
                        (f'dtype {labels.dtype}' if isinstance(labels, Tensor)
                         else type(labels).__name__))
    if tuple(labels.shape) != (logits.shape[0], ):
        raise ValueError(f'labels must have shape (N,) = ({logits.shape[0]},)'
                         f', got {tuple(labels.shape)}')
    labels = labels.long()
    num_classes = logits.shape[1]
    bad = (labels < 0) | (labels >= num_classes)
    if bool(bad.any()):
        raise ValueError(
            f'labels contain {torch.unique(labels[bad])[:8].tolist()}, out of '
            f'range for num_classes={num_classes}')
    return labels


def _check_vector(tensor, n: int, name: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f'{name} must be a tensor, got '
                        f'{type(tensor).__name__}')
    if tuple(tensor.shape) != (n, ):
        raise ValueError(f'{name} must have shape (N,) = ({n},), got '
                         f'{tuple(tensor.shape)}')
    return tensor


def _check_perm(perm, n: int) -> Tensor:
    perm = _check_vector(perm, n, 'perm')
    if perm.is_floating_point() or perm.dtype == torch.bool:
        raise TypeError(f'perm must be an integer tensor, got {perm.dtype}')
    perm = perm.long()
    if not torch.equal(
            torch.sort(perm).values, torch.arange(n, device=perm.device)):
        raise ValueError(f'perm must be a permutation of 0..{n - 1}, got '
                         f'{perm.tolist()[:16]}')
    return perm


# ---------------------------------------------------------------------------
# pure functions
# ---------------------------------------------------------------------------


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
    gamma_max = _check_nonneg(gamma_max, 'gamma_max')
    step = _check_nonneg(step, 'step')
    if isinstance(
            total,
            bool) or not isinstance(total, numbers.Real) or not total > 0:
        raise ValueError(f'total must be a number > 0, got {total!r}')
    ratio = min(step / float(total), 1.0)
    return gamma_max * math.exp(-5.0 * (1.0 - ratio)**2)


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
    :func:`dmt_mixup_loss`; here they are only checked to match the batch.

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
        _check_vector(labels, n, 'labels')
    if weights is not None:
        _check_vector(weights, n, 'weights')
    if isinstance(
            alpha,
            bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
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


def dmt_mixup_loss(logits_mixed: Tensor, labels: Tensor, weights: Tensor,
                   perm: Tensor, lam: float) -> Tensor:
    """DMT loss of a mixed batch.

    ``loss = sum(w_mix * (lam * CE(logits, y) + (1 - lam) * CE(logits,
    y[perm]))) / N`` with ``w_mix = lam * w + (1 - lam) * w[perm]``, where
    ``w`` are the un-mixed per-sample weights (no gradient). Normalised by the
    batch size, not by the sum of the weights. With ``lam = 1`` (or the
    identity permutation) this is the un-mixed DMT loss
    ``sum(w * CE(logits, y)) / N``.

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
    labels = _check_logits_labels(logits_mixed, labels)
    n = logits_mixed.shape[0]
    weights = _check_vector(weights, n, 'weights')
    if not weights.is_floating_point():
        raise TypeError(f'weights must be floating point, got {weights.dtype}')
    perm = _check_perm(perm, n).to(labels.device)
    lam = _check_lam(lam)
    if n == 0:
        return logits_mixed.sum() * 0
    ce_a = F.cross_entropy(logits_mixed, labels, reduction='none')
    ce_b = F.cross_entropy(logits_mixed, labels[perm], reduction='none')
    w = weights.detach().to(device=ce_a.device, dtype=ce_a.dtype)
    w_mix = lam * w + (1.0 - lam) * w[perm]
    return (w_mix * (lam * ce_a + (1.0 - lam) * ce_b)).sum() / n


def unpack_cls_targets(data_samples: Sequence[DataSample],
                       device: Union[str, torch.device]
                       ) -> Tuple[Tensor, Optional[Tensor], Tensor]:
    """Read labels, teacher confidences and pseudo flags of a batch.

    Fields read from each :class:`~mmpretrain.structures.DataSample`:

    - ``gt_label``: the ground-truth label of a labelled sample or the
      pseudo label (teacher argmax) of a pseudo-labelled one, shape ``(1, )``.
    - metainfo ``is_pseudo`` (bool, default False): True for pseudo-labelled
      samples.
    - data field ``teacher_conf``: the teacher's confidence (max softmax) for
      the pseudo label, a float or a tensor with one element (e.g. shape
      ``(1, )``); required for pseudo-labelled samples, ignored for labelled
      ones. ``PackInputs(algorithm_keys=('teacher_conf', ), meta_keys=(...,
      'is_pseudo'))`` puts both there.

    Args:
        data_samples (Sequence[DataSample]): The batch.
        device (str | torch.device): Device of the returned tensors.

    Returns:
        tuple: ``labels`` (long ``(N, )``), ``teacher_conf`` (float ``(N, )``
        with 1.0 for labelled samples, or None when no sample is
        pseudo-labelled) and ``is_pseudo`` (bool ``(N, )``).
    """
    if len(data_samples) == 0:
        raise ValueError('data_samples is empty')
    labels = []
    for i, ds in enumerate(data_samples):
        if 'gt_label' not in ds:
            if 'gt_score' in ds:
                raise ValueError(
                    'DMT needs hard labels but data sample '
                    f'{i} has only gt_score: remove batch augments (Mixup/'
                    'CutMix) from train_cfg/data_preprocessor; DMT mixes '
                    'inside the classifier')
            raise KeyError(f'data sample {i} has no gt_label')
        label = torch.as_tensor(ds.gt_label).reshape(-1)
        if label.numel() != 1:
            raise ValueError(f'data sample {i} has {label.numel()} labels; '
                             'DMT needs exactly one label per sample')
        labels.append(label.to(device=device, dtype=torch.long))
    labels = torch.cat(labels)
    is_pseudo = torch.tensor(
        [bool(ds.metainfo.get('is_pseudo', False)) for ds in data_samples],
        dtype=torch.bool,
        device=device)
    if not bool(is_pseudo.any()):
        return labels, None, is_pseudo
    confs = []
    for i, (ds, pseudo) in enumerate(zip(data_samples, is_pseudo.tolist())):
        if not pseudo:
            confs.append(1.0)
            continue
        if 'teacher_conf' not in ds:
            raise KeyError(
                f'pseudo-labelled data sample {i} has no teacher_conf; pack '
                "it with PackInputs(algorithm_keys=('teacher_conf', ))")
        conf = torch.as_tensor(ds.teacher_conf).reshape(-1)
        if conf.numel() != 1:
            raise ValueError(f'teacher_conf of data sample {i} must have one '
                             f'element, got shape {tuple(conf.shape)}')
        conf = float(conf.item())
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f'teacher_conf of data sample {i} must be a '
                             f'probability in [0, 1], got {conf}')
        confs.append(conf)
    teacher_conf = torch.tensor(confs, dtype=torch.float32, device=device)
    return labels, teacher_conf, is_pseudo


# ---------------------------------------------------------------------------
# the head
# ---------------------------------------------------------------------------


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
    - :meth:`loss_mixed`: the mixup form (:func:`dmt_mixup_loss`), with
      weights computed beforehand by :meth:`dmt_sample_weights` on the
      un-mixed batch; :class:`DMTImageClassifier` drives it.

    ``gamma1`` and ``gamma2`` are plain attributes holding the *current*
    exponents (a hook may ramp them each iteration, see :func:`ramp_gamma`);
    ``gamma1_max`` and ``gamma2_max`` keep the configured values.

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
        self.gamma1_max = _check_nonneg(gamma1, 'gamma1')
        self.gamma2_max = _check_nonneg(gamma2, 'gamma2')
        self.gamma1 = self.gamma1_max
        self.gamma2 = self.gamma2_max
        if mixup_alpha is not None:
            mixup_alpha = _check_nonneg(mixup_alpha, 'mixup_alpha')
        self.mixup_alpha = mixup_alpha or None
        self.loss_weight = _check_nonneg(loss_weight, 'loss_weight')

    @property
    def use_mixup(self) -> bool:
        """bool: Whether DMT's mixup is enabled (``mixup_alpha > 0``)."""
        return self.mixup_alpha is not None

    def set_gamma_progress(self, step: Union[int, float],
                           total: Union[int, float]) -> None:
        """Set ``gamma1``/``gamma2`` to :func:`ramp_gamma` of their max."""
        self.gamma1 = ramp_gamma(self.gamma1_max, step, total)
        self.gamma2 = ramp_gamma(self.gamma2_max, step, total)

    def dmt_sample_weights(
        self,
        logits_unmixed: Tensor,
        labels: Tensor,
        teacher_conf: Optional[Tensor],
        is_pseudo: Tensor,
        return_stats: bool = False
    ) -> Union[Tensor, Tuple[Tensor, Dict[str, Tensor]]]:
        """Per-sample DMT weights of an un-mixed batch (no gradient).

        Labelled samples get 1; pseudo-labelled samples get the shared DMT
        rule (:func:`dmt_mm.models.losses.dmt_loss.dmt_weights`) with the
        current ``gamma1``/``gamma2``.

        Args:
            logits_unmixed (Tensor): Student logits ``(N, num_classes)``.
            labels (Tensor): Labels / pseudo labels, integer ``(N, )``.
            teacher_conf (Tensor, optional): Teacher confidence ``(N, )``;
                entries of labelled samples are not used. May be None when
                no sample is pseudo-labelled.
            is_pseudo (Tensor): Bool ``(N, )``.
            return_stats (bool): Also return logging statistics.

        Returns:
            Tensor | tuple[Tensor, dict]: Float weights ``(N, )``; with
            ``return_stats`` also detached 0-dim tensors over the
            pseudo-labelled samples (0 when there are none):
            ``dmt_weight`` (mean weight), ``dmt_disagree``,
            ``dmt_student_wins`` and ``dmt_pseudo_ratio`` (fraction of the
            batch that is pseudo-labelled).
        """
        labels = _check_logits_labels(logits_unmixed, labels)
        n = logits_unmixed.shape[0]
        if not isinstance(is_pseudo, Tensor):
            is_pseudo = torch.as_tensor(is_pseudo)
        is_pseudo = _check_vector(is_pseudo, n, 'is_pseudo').to(
            device=logits_unmixed.device, dtype=torch.bool)
        weights = torch.ones(
            n, dtype=torch.float32, device=logits_unmixed.device)
        zero = weights.new_zeros(())
        stats = dict(
            dmt_weight=zero,
            dmt_disagree=zero,
            dmt_student_wins=zero,
            dmt_pseudo_ratio=zero)
        if bool(is_pseudo.any()):
            if teacher_conf is None:
                raise ValueError(
                    'teacher_conf is None but is_pseudo marks '
                    f'{int(is_pseudo.sum())} pseudo-labelled samples')
            teacher_conf = _check_vector(teacher_conf, n, 'teacher_conf')
            teacher_conf = teacher_conf.to(logits_unmixed.device)
            logits_p = logits_unmixed.detach()[is_pseudo]
            labels_p = labels[is_pseudo]
            conf_p = teacher_conf[is_pseudo].float()
            w_p = dmt_weights(
                logits_p,
                labels_p,
                conf_p,
                self.gamma1,
                self.gamma2,
                ignore_index=_NO_IGNORE)
            weights[is_pseudo] = w_p.float()
            if return_stats:
                rates = dmt_weight_stats(
                    logits_p, labels_p, conf_p, ignore_index=_NO_IGNORE)
                stats = dict(
                    dmt_weight=w_p.float().mean(),
                    dmt_disagree=rates['disagree'],
                    dmt_student_wins=rates['student_wins'],
                    dmt_pseudo_ratio=is_pseudo.float().mean())
        weights = weights.detach()
        if return_stats:
            return weights, {k: v.detach() for k, v in stats.items()}
        return weights

    def loss_mixed(self, feats_mixed: Tuple[Tensor], labels: Tensor,
                   weights: Tensor, perm: Tensor, lam: float) -> dict:
        """DMT mixup loss from features of the mixed batch.

        Args:
            feats_mixed (tuple[Tensor]): Neck outputs of the mixed inputs;
                the last is used, ``(N, in_channels)``.
            labels (Tensor): Un-mixed labels, integer ``(N, )``.
            weights (Tensor): Un-mixed weights ``(N, )`` from
                :meth:`dmt_sample_weights`.
            perm (Tensor): Permutation from :func:`mix_batch`.
            lam (float): Mixing ratio from :func:`mix_batch`.

        Returns:
            dict[str, Tensor]: ``{'loss': scalar}``.
        """
        logits = self(feats_mixed)
        loss = dmt_mixup_loss(logits, labels, weights, perm, lam)
        return dict(loss=loss * self.loss_weight)

    def _get_loss(self, cls_score: Tensor, data_samples: List[DataSample],
                  **kwargs) -> dict:
        """Un-mixed DMT loss ``sum(w * CE) / N`` (weights from this forward).

        Returns ``loss`` plus, when the batch has pseudo-labelled samples,
        the statistics of :meth:`dmt_sample_weights` (logged, not summed:
        their keys do not contain ``loss``).
        """
        labels, teacher_conf, is_pseudo = unpack_cls_targets(
            data_samples, cls_score.device)
        weights, stats = self.dmt_sample_weights(
            cls_score, labels, teacher_conf, is_pseudo, return_stats=True)
        n = cls_score.shape[0]
        loss = dmt_mixup_loss(cls_score, labels, weights,
                              torch.arange(n, device=cls_score.device), 1.0)
        losses = dict(loss=loss * self.loss_weight)
        if self.cal_acc:
            acc = Accuracy.calculate(cls_score, labels, topk=self.topk)
            losses.update({
                f'accuracy_top-{k}': a
                for k, a in zip(self.topk, acc)
            })
        if teacher_conf is not None:
            losses.update(stats)
        return losses


__all__ = [
    'DMTClsHead', 'dmt_mixup_loss', 'mix_batch', 'ramp_gamma',
    'unpack_cls_targets'
]
