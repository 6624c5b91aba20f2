# Copyright (c) dmt_mm contributors. All rights reserved.
"""Image classifier trained with DMT's dynamic loss and mixup."""
from contextlib import contextmanager, nullcontext
from typing import Dict, Iterator, List, Optional

import torch
import torch.nn as nn
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from dmt_mm.models.heads.dmt_cls_head import (DMTClsHead, mix_batch,
                                              unpack_cls_targets,
                                              unpack_cls_truth)

#: Values of ``weight_bn_mode`` (see :class:`DMTImageClassifier`).
WEIGHT_BN_MODES = ('batch', 'train', 'eval')


@contextmanager
def _frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """Normalise with batch statistics without updating running stats.

    In train mode a ``_BatchNorm`` with ``track_running_stats=False`` uses
    the batch statistics and leaves ``running_mean``, ``running_var`` and
    ``num_batches_tracked`` untouched; the flag is restored afterwards.
    """
    changed = [
        m for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and m.track_running_stats
    ]
    for m in changed:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in changed:
            m.track_running_stats = True


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Put ``module`` in eval mode, restoring every submodule's flag."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


@MODELS.register_module()
class DMTImageClassifier(ImageClassifier):
    """Image classifier trained with the DMT dynamic loss and mixup.

    Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", Pattern Recognition 2022 (arXiv:2004.08514), CIFAR-10
    experiments.

    A batch may mix labelled and pseudo-labelled samples; each
    :class:`~mmpretrain.structures.DataSample` carries ``gt_label`` (ground
    truth or pseudo label), the metainfo flag ``is_pseudo`` and, for pseudo
    samples, ``teacher_conf`` (teacher max softmax, a float or a 1-element
    tensor; see :func:`~dmt_mm.models.heads.dmt_cls_head.unpack_cls_targets`).

    :meth:`loss` with mixup on (``head.mixup_alpha > 0``):

    1. a no-grad forward of the student on the un-mixed batch gives the
       per-sample DMT weights (:meth:`DMTClsHead.sample_weights`;
       labelled samples 1); skipped when the batch has no pseudo-labelled
       sample (all weights 1);
    2. :func:`~dmt_mm.models.heads.dmt_cls_head.mix_batch` mixes the inputs
       with one ``lam = max(lam, 1 - lam)``, ``lam ~ Beta(alpha, alpha)``,
       and one permutation;
    3. the mixed batch is forwarded with gradient and
       :meth:`DMTClsHead.loss_mixed` mixes labels and weights the same way.

    With mixup off it is :meth:`DMTClsHead.loss` (weights from the same
    forward); without pseudo-labelled samples that is plain cross entropy.

    BatchNorm in the weight forward (``weight_bn_mode``). The public code
    runs it with the network in train mode, so BN normalises with the
    un-mixed batch's own statistics, and its running statistics are updated
    by both forwards of an iteration. Choices:

    - ``'batch'`` (default): train mode, batch statistics as in the public
      code, but running statistics (and ``num_batches_tracked``) are left
      untouched, so they are updated once per iteration, by the mixed
      forward that is trained on.
    - ``'train'``: exactly the public code (running statistics updated
      twice per iteration).
    - ``'eval'``: eval mode (running statistics, no dropout).

    The gamma ramp belongs to the head: the training loop calls
    ``model.head.set_gamma_progress(t, T)``
    (:meth:`DMTClsHead.set_gamma_progress`).

    The training step never reads a tensor back to the host: whether a batch
    has pseudo-labelled samples is known from the samples' metainfo, and the
    weights, their statistics and the mixed loss run unchecked (the head
    checked its arguments when it was built).

    Batch augments (``train_cfg.augments``) must not be set: they replace
    hard labels with mixed ``gt_score``; DMT mixes here instead.

    Args:
        backbone (dict): Backbone config, e.g. ``dict(type='WideResNet')``.
        neck (dict, optional): Neck config, e.g.
            ``dict(type='GlobalAveragePooling')``.
        head (dict): Config of a :class:`DMTClsHead` (or a subclass).
        weight_bn_mode (str): ``'batch'``, ``'train'`` or ``'eval'`` (see
            above). Defaults to ``'batch'``.
        pretrained (str, optional): See ``ImageClassifier``.
        train_cfg (dict, optional): Must not contain batch augments.
        data_preprocessor (dict, optional): See ``ImageClassifier``.
        init_cfg (dict, optional): See ``ImageClassifier``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 weight_bn_mode: str = 'batch',
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if head is None:
            raise ValueError('DMTImageClassifier needs a head (a DMTClsHead '
                             'config), got head=None')
        if weight_bn_mode not in WEIGHT_BN_MODES:
            raise ValueError(f'weight_bn_mode must be one of '
                             f'{WEIGHT_BN_MODES}, got {weight_bn_mode!r}')
        if train_cfg is not None and train_cfg.get('augments'):
            raise ValueError(
                'DMTImageClassifier mixes inside its loss; batch augments '
                'would replace the hard labels it needs. Remove '
                f"train_cfg.augments (got {train_cfg['augments']!r}) and set "
                'head.mixup_alpha instead')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not isinstance(self.head, DMTClsHead):
            raise TypeError('DMTImageClassifier needs a DMTClsHead, got '
                            f'{type(self.head).__name__}')
        if getattr(self.data_preprocessor, 'batch_augments', None) is not None:
            raise ValueError(
                'DMTImageClassifier mixes inside its loss; remove '
                'batch_augments from the data_preprocessor')
        self.weight_bn_mode = weight_bn_mode

    # ------------------------------------------------------------ the loss
    def _weight_forward_context(self):
        if self.weight_bn_mode == 'eval':
            return _eval_mode(self)
        if self.weight_bn_mode == 'batch':
            return _frozen_bn_stats(self)
        return nullcontext()

    def _has_sync_bn(self) -> bool:
        return any(isinstance(m, nn.SyncBatchNorm) for m in self.modules())

    @torch.no_grad()
    def _unmixed_logits(self, inputs: Tensor) -> Tensor:
        with self._weight_forward_context():
            return self.head(self.extract_feat(inputs))

    @property
    def last_weight_hist(self) -> Optional[Tensor]:
        """Tensor | None: The head's weight histogram of the last batch's
        right and wrong pseudo labels (see :meth:`DMTClsHead.sample_weights`).
        """
        return self.head.last_weight_hist

    def loss(self, inputs: Tensor,
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        """DMT loss of a batch of labelled and pseudo-labelled samples.

        Args:
            inputs (Tensor): Images ``(N, C, H, W)``.
            data_samples (list[DataSample]): With ``gt_label``, metainfo
                ``is_pseudo`` and, for pseudo samples, ``teacher_conf``.

        Returns:
            dict[str, Tensor]: ``loss``, plus (when the batch has
            pseudo-labelled samples) the detached statistics
            ``dmt_weight``, ``dmt_disagree``, ``dmt_student_wins``,
            ``dmt_pseudo_ratio``, ``dmt_gamma1`` and ``dmt_gamma2`` (see
            :meth:`DMTClsHead.sample_weights`). Their keys contain no
            ``loss``, so mmengine logs them without adding them to the loss.
        """
        if not self.head.use_mixup:
            return super().loss(inputs, data_samples)
        labels, teacher_conf, is_pseudo = unpack_cls_targets(
            data_samples, inputs.device)
        stats = None
        self.head.last_weight_hist = None  # a labelled-only batch has none
        # Under SyncBN every rank must run the same forwards.
        if teacher_conf is not None or self._has_sync_bn():
            logits = self._unmixed_logits(inputs)
            weights, stats = self.head.sample_weights(
                logits, labels, teacher_conf, is_pseudo,
                unpack_cls_truth(data_samples, inputs.device))
        else:
            weights = inputs.new_ones(inputs.shape[:1], dtype=torch.float32)
        mixed, perm, lam = mix_batch(inputs, alpha=self.head.mixup_alpha)
        feats = self.extract_feat(mixed)
        losses = self.head.loss_mixed(feats, labels, weights, perm, lam)
        if stats is not None:
            losses.update(stats)
        return losses


__all__ = ['DMTImageClassifier', 'WEIGHT_BN_MODES']
