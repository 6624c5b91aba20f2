# Copyright (c) dmt_mm contributors. All rights reserved.
"""What the segmentation and classification DMT datasets share.

:class:`BaseSemiDataset` holds the index layout ``[labeled_0 | labeled_1 |
... | unlabeled]`` and the state that the DMT procedures drive
(which labelled subset is active, whether pseudo labels are served), which
:class:`LabeledPseudoSampler` reads to mix batches. The task-specific
subclasses (:class:`SemiSegDataset`, :class:`SemiClsDataset`) build the
sub-datasets, inject pseudo labels and verify their files.
"""
import copy
import os.path as osp
from typing import Iterator, List, Optional, Sequence

import numpy as np
from torch.utils.data import Dataset

from dmt_mm.utils.randomness import seeded_rngs


def type_name(step) -> str:
    """The ``type`` of a pipeline step given as a dict or an object."""
    t = step.get('type') if isinstance(step, dict) else type(step).__name__
    return t if isinstance(t, str) else getattr(t, '__name__', str(t))


def iter_infos(dataset) -> Iterator[dict]:
    """Data infos of an mmengine dataset (``data_list`` may be serialized)."""
    for i in range(len(dataset)):
        yield dataset.get_data_info(i)


def run_pipeline(pipeline, info: dict, what: str) -> dict:
    """Run ``pipeline`` and name the image in any error it raises."""
    try:
        out = pipeline(info)
    except Exception as e:
        where = info.get('img_path') or f'sample {info.get("sample_idx")}'
        msg = f'{e} (while {what} {where})'
        try:
            new = type(e)(msg)
        except Exception:  # noqa: BLE001 - exotic constructor
            new = RuntimeError(msg)
        raise new from e
    if out is None:
        raise RuntimeError(f'the pipeline dropped {info.get("img_path")} '
                           f'while {what} it')
    return out


def build_sub_dataset(registry, cfg: dict, pipeline, name: str,
                      owner: str):
    """Build one wrapped dataset and refuse an empty one.

    Args:
        registry (Registry): ``DATASETS`` of the task's package.
        cfg (dict): The dataset config. Its ``pipeline`` is used when set,
            else ``pipeline``.
        pipeline (list[dict], optional): Fallback pipeline.
        name (str): Name in error messages, e.g. ``'labeled[0]'``.
        owner (str): Class name of the wrapper, for error messages.

    Raises:
        FileNotFoundError: A local ``ann_file`` or ``data_prefix`` folder of
            the config does not exist. The message names the config key and
            its value, which may come from a base config the user's config
            inherits (a dict in a child config is merged into the base's).
    """
    cfg = copy.deepcopy(cfg)
    if not cfg.get('pipeline'):
        if pipeline is None:
            raise ValueError(f'{name} has no pipeline and {owner} got no '
                             'pipeline either')
        cfg['pipeline'] = copy.deepcopy(list(pipeline))
    cfg['lazy_init'] = True
    ds = registry.build(cfg)
    # Local paths the dataset resolved against data_root, checked before
    # loading so that the error names the config key, not only the path.
    prefix = cfg.get('data_prefix') or {}
    if not isinstance(prefix, dict):  # MMPretrain: a folder
        prefix = dict(img_path=prefix)
    resolved = getattr(ds, 'data_prefix', None) or {}
    checks = [('ann_file', cfg.get('ann_file'),
               getattr(ds, 'ann_file', None), osp.isfile)]
    checks += [(f'data_prefix.{k}', v, resolved.get(k), osp.isdir)
               for k, v in prefix.items()]
    for key, value, path, exists in checks:
        if (cfg.get('backend_args') is None and isinstance(value, str)
                and value and isinstance(path, str) and '://' not in path
                and not exists(path)):
            raise FileNotFoundError(
                f'{owner}: {name}.{key}={value!r} (data_root='
                f'{cfg.get("data_root")!r}) does not exist: {path}. If your '
                f'config does not set {name}.{key}, it is inherited from a '
                'base config (a dict in a config is merged into its base\'s '
                'dict): set it, or replace the whole dict with '
                'dict(_delete_=True, ...)')
    try:
        ds.full_init()
        empty = len(ds) == 0
    except ValueError:
        # mmengine cannot serialize an empty data list
        if ds.load_data_list():
            raise
        empty = True
    if empty:
        prefix = getattr(ds, 'data_prefix', {})
        raise ValueError(
            f'the {name} dataset is empty (ann_file='
            f'{getattr(ds, "ann_file", None)!r}, data_prefix={prefix}); DMT '
            'needs both labelled and unlabelled samples')
    return ds


class LabelingView(Dataset):
    """The unlabelled samples under the labelling pipeline.

    Item ``i`` is the packed output of the owner's ``label_pipeline`` for
    unlabelled sample ``indices[i]``; its data sample carries the meta keys
    the owner's :meth:`BaseSemiDataset.labeling_meta` returns (at least
    ``unlabeled_index``). Ground truth, where the unlabelled set has it, is
    loaded for diagnostics only.
    """

    def __init__(self, owner: 'BaseSemiDataset', indices: Sequence[int]):
        self.owner = owner
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        j = self.indices[i]
        info = self.owner.unlabeled_info(j, with_annotation=True)
        out = run_pipeline(self.owner.label_pipeline, info, 'labelling')
        out['data_samples'].set_metainfo(self.owner.labeling_meta(j))
        return out


class BaseSemiDataset(Dataset):
    """Labelled subsets + one unlabelled set, in one index space.

    Index layout: ``[labeled_0 | labeled_1 | ... | unlabeled]``. Subclasses
    call :meth:`_init_layout` once their sub-datasets are built and implement
    :meth:`get_sample`, :meth:`set_pseudo_source`, :meth:`unlabeled_info`.
    An item is ``dataset[i]`` or, as :class:`LabeledPseudoSampler` yields
    it, ``dataset[(i, seed)]``: the sample's random transforms then run
    under ``seed``, so they do not depend on which worker loads it or on
    what that worker drew before (exact resume).

    The DMT procedures drive two pieces of state: which labelled subset is
    served (:meth:`set_active`) and which pseudo labels
    (:meth:`set_pseudo_source`, the same contract for segmentation and
    classification: the path the labelling pass wrote, or None).

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514.
    """

    labeled: List
    unlabeled: object
    label_pipeline: object

    def _init_layout(self, num_phase0_sets: int = 0) -> None:
        """Index the sub-datasets.

        Args:
            num_phase0_sets (int): How many of the last ``self.labeled``
                sets are phase-0-only sets (one per model); 0 when every
                phase trains on the same labelled sets.
        """
        offsets = np.cumsum([0] + [len(ds) for ds in self.labeled])
        self._labeled_offsets = offsets
        self._unlabeled_offset = int(offsets[-1])
        n = len(self.labeled)
        self._dmt_sets = list(range(n - num_phase0_sets))
        self._phase0_sets = (list(range(n - num_phase0_sets, n))
                             if num_phase0_sets else self._dmt_sets)
        # State driven by the DMT procedures.
        self._active_set = 0
        self.pseudo_source: Optional[str] = None

    # ------------------------------------------------------------------ state
    @property
    def num_labeled_sets(self) -> int:
        """Labelled sets per model in DMT phases: 1 (shared) or one per
        model."""
        return len(self._dmt_sets)

    @property
    def num_phase0_sets(self) -> int:
        """Labelled sets per model in phase 0: 1 (shared) or one per
        model."""
        return len(self._phase0_sets)

    def _set_index(self, model_index: int, phase: int) -> int:
        sets = self._phase0_sets if phase == 0 else self._dmt_sets
        return sets[model_index if len(sets) > 1 else 0]

    def set_active(self, model_index: int, phase: int = 1) -> None:
        """Serve the labelled samples of model ``model_index`` in ``phase``
        (with one shared set, that set)."""
        sets = self._phase0_sets if phase == 0 else self._dmt_sets
        if model_index < 0 or (len(sets) > 1 and model_index >= len(sets)):
            raise ValueError(f'model index {model_index} has no labelled '
                             f'set; there are {len(sets)}')
        self._active_set = self._set_index(model_index, phase)

    def set_pseudo_source(self, source: Optional[str]) -> None:
        """Serve the pseudo labels of one labelling pass.

        Args:
            source (str, optional): What the labelling pass wrote (see
                :mod:`dmt_mm.utils.pseudo_label_io`): segmentation, the
                directory of PNGs with its manifest; classification, the
                ``.npy`` array. None serves labelled samples only.
        """
        raise NotImplementedError

    @property
    def pseudo_enabled(self) -> bool:
        """bool: Whether pseudo-labelled samples are served."""
        return self.pseudo_source is not None

    def labeled_indices(self) -> np.ndarray:
        """Global indices of the served labelled samples."""
        k = self._active_set
        return np.arange(self._labeled_offsets[k], self._labeled_offsets[k + 1])

    def pseudo_indices(self) -> np.ndarray:
        """Global indices of the pseudo-labelled samples served now."""
        return np.arange(self._unlabeled_offset, len(self))

    def num_pseudo_samples(self, keep_ratio: Optional[float]) -> int:
        """Pseudo-labelled samples a phase with ``keep_ratio`` serves.

        Defines the length of a DMT epoch. Segmentation keeps every image
        (the curriculum ignores pixels), so the default is all of them.
        """
        return self.num_unlabeled

    @property
    def num_unlabeled(self) -> int:
        return len(self.unlabeled)

    def num_labeled(self, model_index: int = 0, phase: int = 1) -> int:
        """Labelled samples model ``model_index`` trains on in ``phase``."""
        return len(self.labeled[self._set_index(model_index, phase)])

    def _locate_labeled(self, idx: int):
        """The labelled dataset and local index of global index ``idx``."""
        k = int(np.searchsorted(self._labeled_offsets, idx, 'right')) - 1
        return self.labeled[k], idx - int(self._labeled_offsets[k])

    def _check_index(self, idx: int) -> None:
        if idx < 0 or idx >= len(self):
            raise IndexError(f'index {idx} out of range for {len(self)}')

    # ------------------------------------------------------------- labelling
    def unlabeled_info(self, j: int, with_annotation: bool = False) -> dict:
        raise NotImplementedError

    def labeling_meta(self, j: int) -> dict:
        """Meta keys added to unlabelled sample ``j`` in the labelling pass."""
        return dict(unlabeled_index=j)

    def labeling_view(self, indices: Optional[Sequence[int]] = None
                      ) -> LabelingView:
        """Dataset of unlabelled samples for the labelling pass."""
        if indices is None:
            indices = range(len(self.unlabeled))
        return LabelingView(self, indices)

    def __len__(self) -> int:
        return self._unlabeled_offset + len(self.unlabeled)

    def __getitem__(self, idx) -> dict:
        if isinstance(idx, (tuple, list)):
            idx, seed = idx
            with seeded_rngs(int(seed)):
                return self.get_sample(int(idx))
        return self.get_sample(idx)

    def get_sample(self, idx: int) -> dict:
        """The packed sample at global index ``idx``."""
        raise NotImplementedError
