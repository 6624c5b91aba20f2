# Copyright (c) dmt_mm contributors. All rights reserved.
import copy
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import Compose
from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.registry import DATASETS

from dmt_mm.utils.curriculum import num_kept
from dmt_mm.utils.pseudo_label_io import (CLS_PSEUDO_DTYPE,
                                          load_cls_pseudo_labels)
from .base_semi_dataset import (BaseSemiDataset, build_sub_dataset,
                                run_pipeline, type_name)


def dmt_cls_pipeline(pipeline: Sequence[dict]) -> List[dict]:
    """Make a classification training pipeline pack what DMT needs.

    The ``PackInputs`` step gets ``teacher_conf`` and ``true_label`` (the
    hidden label of a pseudo sample, diagnostics only) in its
    ``algorithm_keys``
    and ``is_pseudo`` in its ``meta_keys`` (both set by
    :class:`SemiClsDataset` on every sample); all other steps are kept, so a
    pseudo label rides through the same augmentation as a true one.
    """
    steps = [copy.deepcopy(s) for s in pipeline]
    names = [type_name(s) for s in steps]
    if 'PackInputs' not in names:
        raise ValueError('the training pipeline must end with PackInputs (it '
                         'packs the pseudo label, teacher_conf and '
                         f'is_pseudo); steps: {names}')
    for step in steps:
        if type_name(step) != 'PackInputs':
            continue
        if not isinstance(step, dict):
            raise TypeError('give PackInputs as a config dict, got '
                            f'{type(step).__name__}')
        alg = tuple(step.get('algorithm_keys', ()))
        step['algorithm_keys'] = alg + tuple(
            k for k in ('teacher_conf', 'true_label') if k not in alg)
        if 'meta_keys' in step:
            meta = tuple(step['meta_keys'])
        else:
            meta = tuple(PackInputs.DEFAULT_META_KEYS)
        if 'is_pseudo' not in meta:
            step['meta_keys'] = meta + ('is_pseudo', )
    return steps


def _resolve_indices(cfg: dict, name: str) -> dict:
    """Read ``indices`` given as a split file (one index per line)."""
    cfg = copy.deepcopy(cfg)
    indices = cfg.get('indices')
    if not isinstance(indices, str):
        return cfg
    path = indices
    root = cfg.get('data_root')
    if not osp.isabs(path) and not osp.isfile(path) and root:
        path = osp.join(root, path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{name}.indices: split file {indices!r} does not exist (also '
            f'looked for {path!r}); write it with tools/dataset_converters/'
            'make_cifar_splits.py')
    values = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                values.append(int(line))
            except ValueError:
                raise ValueError(f'{path}:{n}: expected one integer index per '
                                 f'line, got {line!r}') from None
    if not values:
        raise ValueError(f'{name}.indices: split file {path} is empty')
    cfg['indices'] = values
    return cfg


def _build_checked(cfg: dict, pipeline, name: str):
    """Build a sub-dataset; check its ``indices`` against the full set."""
    cfg = _resolve_indices(cfg, name)
    indices = cfg.pop('indices', None)
    ds = build_sub_dataset(DATASETS, cfg, pipeline, name, 'SemiClsDataset')
    if indices is None:
        return ds
    n = len(ds)
    if isinstance(indices, int):
        if not 0 < indices <= n:
            raise ValueError(f'{name}.indices={indices} asks for more samples '
                             f'than the dataset has ({n})')
        indices = list(range(indices))
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size > n:
        raise ValueError(
            f'{name} lists {idx.size} samples but the dataset it selects '
            f'from has only {n}')
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise ValueError(
            f'{name}.indices has {bad.size} indices outside [0, {n}) of the '
            f'dataset, e.g. {bad[:5].tolist()}: was the split written for '
            'another dataset?')
    uniq, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f'{name}.indices repeats indices, e.g. '
                         f'{uniq[counts > 1][:5].tolist()}')
    ds.get_subset_(idx.tolist())
    return ds


@DATASETS.register_module()
class SemiClsDataset(BaseSemiDataset):
    """Labelled + pseudo-labelled classification data for DMT.

    Wraps a labelled and an unlabelled dataset, both ordinary MMPretrain
    dataset configs (e.g. ``CIFAR10`` with ``indices``, or a
    ``CustomDataset`` with an annotation file). ``indices`` may be a split
    file (one index per line, relative to ``data_root`` when not found as
    given), as written by ``tools/dataset_converters/make_cifar_splits.py``;
    the indices are checked against the full dataset. The labelled subset
    must contain every class. Labels of the unlabelled set, where it has
    them, are only used to report pseudo-label accuracy, never for training.

    Pseudo labels of a phase are one structured array (:data:`CLS_PSEUDO_DTYPE`:
    ``label``, ``conf``, ``kept``, one row per unlabelled sample) that the
    chain procedure writes to the work dir and hands over with
    :meth:`set_pseudo_source`. Only the samples above the curriculum cut
    (``kept``) are served; each gets the pseudo label as ``gt_label``, the
    teacher confidence as ``teacher_conf`` and ``is_pseudo=True``, then runs
    the same training pipeline as a labelled sample (whose ``PackInputs`` is
    extended by :func:`dmt_cls_pipeline`).

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514.

    Args:
        labeled (dict): Labelled dataset config.
        unlabeled (dict): Unlabelled dataset config.
        pipeline (list[dict], optional): Training pipeline, used for
            sub-dataset configs without one. Defaults to None.
        label_pipeline (list[dict]): Pipeline of the labelling pass (usually
            the test pipeline).
    """

    def __init__(self,
                 labeled: dict,
                 unlabeled: dict,
                 pipeline: Optional[Sequence[dict]] = None,
                 label_pipeline: Optional[Sequence[dict]] = None) -> None:
        if not isinstance(labeled, dict):
            raise TypeError('labeled must be one dataset config (dict), got '
                            f'{type(labeled).__name__}')
        if label_pipeline is None:
            raise ValueError('label_pipeline is required: the pipeline the '
                             'teacher labels unlabelled samples with (usually '
                             'the test pipeline)')
        subs = []
        for name, cfg in (('labeled', labeled), ('unlabeled', unlabeled)):
            cfg = copy.deepcopy(cfg)
            base = cfg.pop('pipeline', None) or pipeline
            if base is None:
                raise ValueError(f'{name} has no pipeline and SemiClsDataset '
                                 'got no pipeline either')
            cfg['pipeline'] = dmt_cls_pipeline(base)
            subs.append(_build_checked(cfg, None, name))
        self.labeled = [subs[0]]
        self.unlabeled = subs[1]
        self.metainfo = copy.deepcopy(self.labeled[0].metainfo)
        classes = self.metainfo.get('classes')
        if not classes:
            raise ValueError('the labeled dataset has no classes in its '
                             'metainfo; set metainfo=dict(classes=...)')
        self.num_classes = len(classes)
        unl_classes = self.unlabeled.metainfo.get('classes')
        if unl_classes and len(unl_classes) != self.num_classes:
            raise ValueError(
                f'the unlabeled dataset has {len(unl_classes)} classes but '
                f'the labeled one has {self.num_classes}')
        self._check_labeled_classes()
        self._hidden = _read_labels(self.unlabeled)
        self.has_unlabeled_gt = self._hidden is not None
        lp = [copy.deepcopy(s) for s in label_pipeline]
        self.label_pipeline = Compose(lp)
        self._init_layout()
        self.pseudo: Optional[np.ndarray] = None
        self._kept: Optional[np.ndarray] = None

    def _check_labeled_classes(self) -> None:
        ds = self.labeled[0]
        labels = _read_labels(ds)
        if labels is None:
            raise ValueError(
                'labelled samples have no gt_label (is the labelled '
                'annotation file without labels?)')
        bad = labels[labels >= self.num_classes]
        if bad.size:
            raise ValueError(
                f'labelled samples have labels {np.unique(bad).tolist()} >= '
                f'num_classes {self.num_classes}')
        counts = np.bincount(labels, minlength=self.num_classes)
        missing = [
            f'{c} ({self.metainfo["classes"][c]})'
            for c in np.flatnonzero(counts == 0)
        ]
        if missing:
            raise ValueError(
                f'the labelled subset ({len(ds)} samples) has no sample of '
                f'class(es) {", ".join(missing)}; every class needs at '
                'least one labelled sample')
        self.labeled_class_counts = counts.tolist()

    # ------------------------------------------------------------------ state
    def set_pseudo_source(self, source: Union[str, np.ndarray, None]) -> None:
        """Serve the pseudo labels in ``source`` (None: labelled only).

        Args:
            source (str | np.ndarray | None): A ``.npy`` file written by
                :func:`~dmt_mm.utils.pseudo_label_io.save_cls_pseudo_labels`
                or the array itself (:data:`CLS_PSEUDO_DTYPE`, one row per
                unlabelled sample).
        """
        if source is None:
            self.pseudo = None
            self._kept = None
            self.pseudo_source = None
            return
        arr = load_cls_pseudo_labels(source) if isinstance(source,
                                                           str) else source
        if arr.dtype != CLS_PSEUDO_DTYPE or arr.shape != (self.num_unlabeled,
                                                           ):
            raise ValueError(
                f'pseudo labels must be a {CLS_PSEUDO_DTYPE} array of shape '
                f'({self.num_unlabeled},), got {arr.dtype} {arr.shape}')
        kept = np.flatnonzero(arr['kept'])
        if kept.size == 0:
            raise ValueError('the pseudo labels keep no sample')
        self.pseudo = arr
        self._kept = kept
        self.pseudo_source = source if isinstance(source, str) else '<array>'

    def pseudo_indices(self) -> np.ndarray:
        """Global indices of the kept pseudo-labelled samples."""
        if self._kept is None:
            return np.zeros(0, dtype=np.int64)
        return self._unlabeled_offset + self._kept

    def num_pseudo_samples(self, keep_ratio: Optional[float]) -> int:
        """Samples kept at ``keep_ratio`` (see :func:`num_kept`)."""
        if keep_ratio is None:
            return self.num_unlabeled
        return num_kept(self.num_unlabeled, keep_ratio)

    # ------------------------------------------------------------------ items
    def unlabeled_info(self, j: int, with_annotation: bool = False) -> dict:
        info = self.unlabeled.get_data_info(j)
        if not with_annotation:
            info.pop('gt_label', None)
        return info

    def hidden_labels(self) -> Optional[np.ndarray]:
        """True labels of the unlabelled set (diagnostics), or None."""
        return None if self._hidden is None else self._hidden.copy()

    def get_sample(self, idx: int) -> dict:
        self._check_index(idx)
        if idx < self._unlabeled_offset:
            ds, local = self._locate_labeled(idx)
            info = ds.get_data_info(local)
            info['is_pseudo'] = False
            return run_pipeline(ds.pipeline, info, 'loading')
        if self.pseudo is None:
            raise RuntimeError(
                f'index {idx} is an unlabelled sample but no pseudo labels '
                'are set (set_pseudo_source was not called)')
        j = idx - self._unlabeled_offset
        row = self.pseudo[j]
        if not row['kept']:
            raise IndexError(f'unlabelled sample {j} is below the curriculum '
                             'cut and is not served')
        info = self.unlabeled_info(j)
        info['gt_label'] = int(row['label'])
        info['teacher_conf'] = float(row['conf'])
        info['is_pseudo'] = True
        if self._hidden is not None:  # never trained on: diagnostics only
            info['true_label'] = int(self._hidden[j])
        return run_pipeline(self.unlabeled.pipeline, info, 'loading')


def _read_labels(dataset) -> Optional[np.ndarray]:
    """``gt_label`` of every sample ``(N, )``, or None if one has none."""
    labels = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if 'gt_label' not in info:
            return None
        labels.append(int(np.asarray(info['gt_label']).reshape(-1)[0]))
    return np.asarray(labels, dtype=np.int64)


__all__ = ['SemiClsDataset', 'dmt_cls_pipeline']
