# Copyright (c) dmt_mm contributors. All rights reserved.
"""Read the targets of a DMT classification batch from its data samples.

Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised Learning",
Pattern Recognition 2022 (arXiv:2004.08514). :func:`unpack_cls_targets`
gives what the loss trains with; :func:`unpack_cls_truth` the hidden labels
of the pseudo-labelled samples, for the weight diagnostics only.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmpretrain.structures import DataSample
from torch import Tensor

from dmt_mm.models.losses.dmt_rule import to_device_async

#: Truth value of samples whose true label is not known (labelled samples).
NO_TRUTH = -1


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
      the pseudo label, a float or a one-element tensor; required for
      pseudo-labelled samples, ignored for labelled ones.
      ``PackInputs(algorithm_keys=('teacher_conf', ), meta_keys=(...,
      'is_pseudo'))`` puts both there.

    Whether the batch has pseudo-labelled samples is decided on the host
    (the flags are Python metainfo), nothing is read back from the device
    and host values reach it by asynchronous copies; a float confidence is
    checked to lie in ``[0, 1]``, a tensor one (already on the device) is
    not.

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
    labels, flags = [], []
    for i, ds in enumerate(data_samples):
        if 'gt_label' not in ds:
            if 'gt_score' in ds:
                raise ValueError(
                    'DMT needs hard labels but data sample '
                    f'{i} has only gt_score: remove batch augments (Mixup/'
                    'CutMix) from train_cfg/data_preprocessor; DMT mixes '
                    'inside the classifier')
            raise KeyError(f'data sample {i} has no gt_label')
        labels.append(torch.as_tensor(ds.gt_label).view(-1))
        flags.append(bool(ds.get('is_pseudo', False)))
    if sum(label.numel() for label in labels) != len(labels):
        i = next(i for i, y in enumerate(labels) if y.numel() != 1)
        raise ValueError(f'data sample {i} has {labels[i].numel()} labels; '
                         'DMT needs exactly one label per sample')
    labels = to_device_async(torch.cat(labels), device).long()
    is_pseudo = to_device_async(torch.tensor(flags), device)
    if not any(flags):
        return labels, None, is_pseudo
    confs = [1.0] * len(flags)
    for i, ds in enumerate(data_samples):
        if not flags[i]:
            continue
        if 'teacher_conf' not in ds:
            raise KeyError(
                f'pseudo-labelled data sample {i} has no teacher_conf; pack '
                "it with PackInputs(algorithm_keys=('teacher_conf', ))")
        conf = confs[i] = ds.teacher_conf
        if isinstance(conf, Tensor):
            if conf.numel() != 1:
                raise ValueError(f'teacher_conf of data sample {i} must have '
                                 f'one element, got shape {tuple(conf.shape)}')
        elif not 0.0 <= conf <= 1.0:
            raise ValueError(f'teacher_conf of data sample {i} must be a '
                             f'probability in [0, 1], got {conf}')
    if not any(isinstance(c, Tensor) for c in confs):
        teacher_conf = torch.tensor(confs, dtype=torch.float32)
        return labels, to_device_async(teacher_conf, device), is_pseudo
    teacher_conf = torch.cat([
        to_device_async(torch.as_tensor(c, dtype=torch.float32).view(-1),
                        device) for c in confs
    ])
    return labels, teacher_conf, is_pseudo


def unpack_cls_truth(data_samples: Sequence[DataSample],
                     device: Union[str, torch.device]) -> Optional[Tensor]:
    """Hidden true labels of the pseudo-labelled samples, or None.

    :class:`~dmt_mm.datasets.SemiClsDataset` puts ``true_label`` (an int)
    on a pseudo-labelled sample when its unlabelled set has labels; it is
    never trained on. Host values only, sent with one asynchronous copy.

    Returns:
        Tensor | None: long ``(N, )``, ``NO_TRUTH`` where unknown; None when
        no sample of the batch has one.
    """
    truth = [int(ds.true_label) if 'true_label' in ds else NO_TRUTH
             for ds in data_samples]
    if all(t == NO_TRUTH for t in truth):
        return None
    return to_device_async(torch.tensor(truth, dtype=torch.long), device)


__all__ = ['NO_TRUTH', 'unpack_cls_targets', 'unpack_cls_truth']
