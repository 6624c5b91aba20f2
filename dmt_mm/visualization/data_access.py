# Copyright (c) dmt_mm contributors. All rights reserved.
"""What the DMT gallery reads from a running DMT training.

Every read of engine or dataset state the gallery needs is here, so that an
engine change is adapted in one place. Segmentation: a
:class:`SemiSegDataset` and a :class:`DMTSegmentor`; classification: a
:class:`SemiClsDataset`.
"""
from typing import List, Optional, Tuple

import mmcv
import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.fileio import get
from mmengine.model import is_model_wrapper

from dmt_mm.datasets.transforms import LoadPseudoLabel
from dmt_mm.models.losses.dmt_loss import DMTLoss

__all__ = [
    'unwrap', 'seg_pseudo_label', 'cls_pseudo_labels', 'unlabeled_image',
    'student_and_losses', 'student_logits'
]


def unwrap(model):
    """The model inside a DDP (or other) wrapper."""
    return model.module if is_model_wrapper(model) else model


def seg_pseudo_label(dataset, j: int) -> Tuple[np.ndarray, np.ndarray]:
    """The active student's pseudo label of unlabelled image ``j``.

    Applies the curriculum cut exactly as training does (the same
    :class:`LoadPseudoLabel` transform).

    Returns:
        tuple: ``label`` int64 ``(H, W)`` with ``dataset.ignore_index``
        below the cut, and ``confidence`` float32 ``(H, W)`` of the teacher.
    """
    if not dataset.pseudo_enabled:
        raise RuntimeError('the dataset serves no pseudo labels (phase 0?)')
    results = LoadPseudoLabel(ignore_index=dataset.ignore_index).transform(
        dict(
            pseudo_label_path=dataset.pseudo_label_path(j),
            pseudo_thresholds=dataset.pseudo_thresholds))
    return (results['gt_seg_map'].astype(np.int64),
            results['teacher_conf'].astype(np.float32))


def cls_pseudo_labels(dataset) -> Tuple[np.ndarray, np.ndarray, np.ndarray,
                                        Optional[np.ndarray]]:
    """The classification pass's ``(label, conf, kept, truth)``, each ``(N,)``.

    ``truth`` holds the unlabelled set's hidden labels (None without them).
    """
    if dataset.pseudo is None:
        raise RuntimeError('the dataset serves no pseudo labels (phase 0?)')
    arr = dataset.pseudo
    truth = dataset.hidden_labels() if hasattr(dataset,
                                               'hidden_labels') else None
    return (np.asarray(arr['label']), np.asarray(arr['conf']),
            np.asarray(arr['kept'], dtype=bool), truth)


def unlabeled_image(dataset, j: int) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` of unlabelled sample ``j`` at its original size.

    Read from ``img_path`` when the data info has one; an in-memory ``img``
    (MMPretrain's CIFAR, MNIST) is taken as stored (RGB, or grey).
    """
    info = dataset.unlabeled_info(j)
    if info.get('img_path'):
        img = mmcv.imfrombytes(get(info['img_path']), channel_order='rgb')
    elif info.get('img') is not None:
        img = np.asarray(info['img'])
    else:
        raise KeyError(f'unlabelled sample {j} has neither img_path nor img '
                       'in its data info')
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return img


def student_and_losses(runner) -> Tuple[torch.nn.Module, List[DMTLoss]]:
    """The active student (DMTSegmentor's slot) and its DMTLoss modules."""
    model = unwrap(runner.model)
    student = getattr(model, 'student', model)
    return student, [m for m in student.modules() if isinstance(m, DMTLoss)]


@torch.no_grad()
def student_logits(student, dataset, j: int) -> Tuple[torch.Tensor, dict]:
    """The student's logits ``(C, H, W)`` (original size) on unlabelled ``j``.

    Runs the labelling pipeline and ``student.test_step`` in eval mode (the
    training mode is restored).

    Returns:
        tuple: the logits on the CPU and the packed sample (with
        ``gt_sem_seg`` where the unlabelled set has ground truth).
    """
    packed = dataset.labeling_view([j])[0]
    was_training = student.training
    student.eval()
    try:
        sample = student.test_step(pseudo_collate([packed]))[0]
    finally:
        student.train(was_training)
    return sample.seg_logits.data.float().cpu(), packed
