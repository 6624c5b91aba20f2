# Copyright (c) dmt_mm contributors. All rights reserved.
import copy
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Union

import mmcv
import numpy as np
from mmengine.dataset import Compose
from mmengine.fileio import get
from mmseg.registry import DATASETS

from dmt_mm.utils.pseudo_label_io import read_manifest
from .base_semi_dataset import (BaseSemiDataset, LabelingView,
                                build_sub_dataset, iter_infos, run_pipeline,
                                type_name)

# Pipeline steps swapped when the labelled pipeline is reused for
# pseudo-labelled samples.
_PSEUDO_SWAPS = {
    'LoadAnnotations': 'LoadPseudoLabel',
    'PackSegInputs': 'PackDMTSegInputs',
}


def pseudo_pipeline_from(pipeline: Sequence[dict]) -> List[dict]:
    """Turn a labelled training pipeline into the pseudo-labelled one.

    ``LoadAnnotations`` becomes ``LoadPseudoLabel`` and ``PackSegInputs``
    becomes ``PackDMTSegInputs``; every other transform is kept, so the pseudo
    label and teacher confidence go through the same augmentation as a
    ground-truth map. A pipeline that already uses ``LoadPseudoLabel`` is
    returned unchanged.
    """
    names = [type_name(s) for s in pipeline]
    if 'LoadPseudoLabel' in names:
        return list(pipeline)
    if 'LoadAnnotations' not in names:
        raise ValueError(
            'the training pipeline has no LoadAnnotations step, so there is '
            'no place to load pseudo labels; add LoadAnnotations (it is '
            f'replaced by LoadPseudoLabel for pseudo samples). Steps: {names}')
    out = []
    for step in pipeline:
        name = type_name(step)
        if name in _PSEUDO_SWAPS:
            new = dict(type=_PSEUDO_SWAPS[name])
            if name == 'PackSegInputs' and 'meta_keys' in step:
                new['meta_keys'] = tuple(step['meta_keys']) + ('is_pseudo', )
            out.append(new)
        else:
            out.append(copy.deepcopy(step))
    return out


def _without_annotations(pipeline: Sequence[dict]) -> List[dict]:
    return [
        copy.deepcopy(s) for s in pipeline
        if type_name(s) != 'LoadAnnotations'
    ]


@DATASETS.register_module()
class SemiSegDataset(BaseSemiDataset):
    """Labelled + pseudo-labelled segmentation data for DMT.

    Wraps one labelled dataset (or one per model, e.g. the two labelled
    subsets of DMT's VOC 1/106 setting) and one unlabelled dataset, all given
    as ordinary MMSeg dataset configs. The unlabelled one may be a bare image
    folder or split list without ``seg_map_path``; where it has annotations
    they are only used by the labelling pass to measure pseudo-label quality,
    never for training.

    Index layout: ``[labeled_0 | labeled_1 | ... | unlabeled]``. Which
    labelled subset is used and whether pseudo-labelled samples are served is
    the state set by the DMT procedure through
    :meth:`set_active` / :meth:`set_pseudo_source`; the
    :class:`LabeledPseudoSampler` reads it to mix batches at a fixed ratio.

    A pseudo-labelled sample runs the training pipeline with
    ``LoadAnnotations`` replaced by :class:`LoadPseudoLabel` and
    ``PackSegInputs`` by :class:`PackDMTSegInputs`, so the pseudo label and
    the teacher confidence are moved by the same transforms as the image.

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514.

    Args:
        labeled (dict | list[dict]): Labelled dataset config, or one config
            per model (in the order of the model's ``model_names``).
        unlabeled (dict): Unlabelled dataset config.
        labeled_phase0 (list[dict], optional): One labelled dataset config
            per model used in phase 0 only; ``labeled`` is then what every
            DMT phase trains on. The public code's VOC 1/106 runs train A and
            B on two different subsets in phase 0 and on the whole labelled
            set in DMT phases. Defaults to None (``labeled`` in every
            phase).
        pipeline (list[dict], optional): Training pipeline, used for
            sub-dataset configs that have none. Defaults to None.
        label_pipeline (list[dict]): Pipeline of the labelling pass (usually
            the test pipeline: teachers label at the original resolution).
        verify (str): Files checked when the dataset is built, so that a bad
            input fails before hours of training: ``'exist'`` checks that all
            images exist, ``'labeled'`` additionally decodes the labelled
            images and masks (corrupt files, label values >= number of
            classes), ``'all'`` also decodes the unlabelled images.
            Defaults to ``'labeled'``.
        num_workers (int): Threads used by the verification. Defaults to 4.
        ignore_index (int): Label value ignored by the loss (the verification
            accepts it in masks; pseudo labels below the cut get it).
            Defaults to 255.
    """

    def __init__(self,
                 labeled: Union[dict, Sequence[dict]],
                 unlabeled: dict,
                 labeled_phase0: Optional[Sequence[dict]] = None,
                 pipeline: Optional[Sequence[dict]] = None,
                 label_pipeline: Optional[Sequence[dict]] = None,
                 verify: str = 'labeled',
                 num_workers: int = 4,
                 ignore_index: int = 255) -> None:
        if verify not in ('none', 'exist', 'labeled', 'all'):
            raise ValueError("verify must be 'none', 'exist', 'labeled' or "
                             f"'all', got {verify!r}")
        if label_pipeline is None:
            raise ValueError('label_pipeline is required: the pipeline the '
                             'teachers label unlabelled images with (usually '
                             'the test pipeline)')
        labeled_cfgs = [labeled] if isinstance(labeled, dict) else list(labeled)
        if not labeled_cfgs:
            raise ValueError('labeled must be a dataset config or a non-empty '
                             'list of them')
        phase0_cfgs = list(labeled_phase0 or [])
        if labeled_phase0 is not None and (isinstance(labeled_phase0, dict)
                                           or len(phase0_cfgs) < 2):
            raise ValueError('labeled_phase0 must be a list with one dataset '
                             'config per model, got '
                             f'{type(labeled_phase0).__name__} of '
                             f'{len(phase0_cfgs)}')
        self.ignore_index = ignore_index
        self.labeled = [
            self._build(cfg, pipeline, f'labeled[{i}]')
            for i, cfg in enumerate(labeled_cfgs)
        ] + [
            self._build(cfg, pipeline, f'labeled_phase0[{i}]')
            for i, cfg in enumerate(phase0_cfgs)
        ]
        unl_cfg = copy.deepcopy(unlabeled)
        base_pipeline = unl_cfg.pop('pipeline', None) or pipeline
        if base_pipeline is None:
            base_pipeline = copy.deepcopy(labeled_cfgs[0].get('pipeline'))
        unl_cfg['pipeline'] = pseudo_pipeline_from(base_pipeline)
        self.unlabeled = self._build(unl_cfg, None, 'unlabeled')

        self.metainfo = copy.deepcopy(self.labeled[0].metainfo)
        self.num_classes = len(self.metainfo['classes'])
        for i, ds in enumerate(self.labeled[1:], 1):
            if len(ds.metainfo['classes']) != self.num_classes:
                raise ValueError(
                    f'labeled[{i}] has {len(ds.metainfo["classes"])} classes '
                    f'but labeled[0] has {self.num_classes}')
        if len(self.unlabeled.metainfo['classes']) != self.num_classes:
            raise ValueError(
                f'the unlabeled dataset has '
                f'{len(self.unlabeled.metainfo["classes"])} classes but the '
                f'labeled one has {self.num_classes}')

        self.has_unlabeled_gt = all(
            info.get('seg_map_path') for info in iter_infos(self.unlabeled))
        lp = list(label_pipeline)
        if not self.has_unlabeled_gt:
            lp = _without_annotations(lp)
        self.label_pipeline = Compose(lp)

        self._init_layout(num_phase0_sets=len(phase0_cfgs))
        self._img_root = self.unlabeled.data_prefix.get('img_path', '') or ''

        # The curriculum cut of the served pseudo labels (from their
        # manifest, see set_pseudo_source).
        self.pseudo_thresholds: Optional[np.ndarray] = None

        self._verify(verify, num_workers)

    # ------------------------------------------------------------------ build
    @staticmethod
    def _build(cfg: dict, pipeline, name: str):
        return build_sub_dataset(DATASETS, cfg, pipeline, name,
                                 'SemiSegDataset')

    def _verify(self, level: str, num_workers: int) -> None:
        if level == 'none':
            return
        missing = []
        for name, ds in self._sources():
            for info in iter_infos(ds):
                if not osp.isfile(info['img_path']):
                    missing.append(info['img_path'])
                seg = info.get('seg_map_path')
                if seg and not osp.isfile(seg):
                    missing.append(seg)
        if missing:
            more = f' and {len(missing) - 5} more' if len(missing) > 5 else ''
            raise FileNotFoundError(
                f'{len(missing)} dataset files do not exist: '
                f'{missing[:5]}{more}')
        if level == 'exist':
            return
        jobs = []
        for i, ds in enumerate(self.labeled):
            for info in iter_infos(ds):
                jobs.append((info['img_path'], info.get('seg_map_path'),
                             info.get('reduce_zero_label', False)))
        if level == 'all':
            jobs += [(info['img_path'], None, False)
                     for info in iter_infos(self.unlabeled)]
        with ThreadPoolExecutor(max(1, num_workers)) as pool:
            for err in pool.map(self._check_files, jobs):
                if err:
                    raise ValueError(err)

    def _check_files(self, job) -> Optional[str]:
        img_path, seg_path, reduce_zero = job
        try:
            img = mmcv.imfrombytes(get(img_path))
        except Exception as e:  # noqa: BLE001 - reported with the path
            return f'corrupt image {img_path}: {e}'
        if img is None:
            return f'corrupt image {img_path}: it could not be decoded'
        if seg_path is None:
            return None
        try:
            seg = mmcv.imfrombytes(get(seg_path), flag='unchanged',
                                   backend='pillow')
        except Exception as e:  # noqa: BLE001
            return f'corrupt annotation {seg_path}: {e}'
        if seg is None or seg.ndim != 2:
            return f'corrupt annotation {seg_path}: expected a 2-D label map'
        if seg.shape != img.shape[:2]:
            return (f'annotation {seg_path} has shape {seg.shape} but image '
                    f'{img_path} has shape {img.shape[:2]}')
        values = np.unique(seg)
        if reduce_zero:  # as LoadAnnotations: 0 -> ignore, k -> k - 1
            values = values[values != 0].astype(np.int64)
            values = np.where(values == 255, 255, values - 1)
        bad = values[(values != self.ignore_index) &
                     (values >= self.num_classes)]
        if bad.size:
            return (f'annotation {seg_path} contains label value(s) '
                    f'{bad.tolist()} >= num_classes {self.num_classes} '
                    f'(classes: {self.metainfo["classes"]}); only '
                    f'0..{self.num_classes - 1} and {self.ignore_index} '
                    '(ignore) are allowed')
        return None

    def _sources(self):
        for i, ds in enumerate(self.labeled):
            yield f'labeled[{i}]', ds
        yield 'unlabeled', self.unlabeled

    # ------------------------------------------------------------------ state
    def set_pseudo_source(self, source: Optional[str]) -> None:
        """Serve the pseudo labels in directory ``source`` (None: labelled
        only).

        The per-class curriculum thresholds are read from the directory's
        manifest (``thresholds_level``, uint8 confidence levels); without
        one, every pseudo-labelled pixel is kept.
        """
        thresholds = None
        if source is not None:
            if not osp.isdir(source):
                raise FileNotFoundError(
                    f'pseudo-label directory {source} does not exist')
            manifest = read_manifest(source) or {}
            if manifest.get('thresholds_level') is not None:
                thresholds = np.asarray(
                    manifest['thresholds_level'], dtype=np.uint8)
                if thresholds.shape != (self.num_classes, ):
                    raise ValueError(
                        f'{source}: the manifest has {thresholds.size} class '
                        f'thresholds but the dataset has {self.num_classes} '
                        'classes')
        self.pseudo_source = source
        self.pseudo_thresholds = thresholds

    # ------------------------------------------------------------------ items
    def pseudo_key(self, j: int) -> str:
        """File name (relative to the pseudo-label dir) of unlabelled ``j``."""
        img_path = self.unlabeled.get_data_info(j)['img_path']
        rel = (osp.relpath(img_path, self._img_root)
               if self._img_root else osp.basename(img_path))
        return osp.splitext(rel)[0] + '.png'

    def pseudo_label_path(self, j: int) -> str:
        """Path of the served pseudo label of unlabelled sample ``j``."""
        if self.pseudo_source is None:
            raise RuntimeError('no pseudo labels are served '
                               '(set_pseudo_source was not called)')
        return osp.join(self.pseudo_source, self.pseudo_key(j))

    def unlabeled_info(self, j: int, with_annotation: bool = False) -> dict:
        info = self.unlabeled.get_data_info(j)
        if not with_annotation:
            info.pop('seg_map_path', None)
        info['seg_fields'] = []
        return info

    def labeling_meta(self, j: int) -> dict:
        return dict(unlabeled_index=j, pseudo_key=self.pseudo_key(j))

    def get_sample(self, idx: int) -> dict:
        self._check_index(idx)
        if idx < self._unlabeled_offset:
            ds, local = self._locate_labeled(idx)
            info = ds.get_data_info(local)
            return run_pipeline(ds.pipeline, info, 'loading')
        if self.pseudo_source is None:
            raise RuntimeError(
                f'index {idx} is an unlabelled sample but no pseudo labels '
                'are set (set_pseudo_source was not called)')
        j = idx - self._unlabeled_offset
        info = self.unlabeled_info(j, with_annotation=True)
        truth = info.pop('seg_map_path', None)
        if truth is not None:  # never trained on: diagnostics only
            info['true_seg_map_path'] = truth
        info['pseudo_label_path'] = self.pseudo_label_path(j)
        info['pseudo_thresholds'] = self.pseudo_thresholds
        return run_pipeline(self.unlabeled.pipeline, info, 'loading')


__all__ = ['SemiSegDataset', 'pseudo_pipeline_from', 'LabelingView']
