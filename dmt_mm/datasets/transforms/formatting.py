# Copyright (c) dmt_mm contributors. All rights reserved.
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

DEFAULT_META_KEYS = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                     'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                     'reduce_zero_label', 'is_pseudo')


@TRANSFORMS.register_module()
class PackDMTSegInputs(PackSegInputs):
    """``PackSegInputs`` that also packs the teacher confidence.

    Besides what :class:`mmseg.datasets.transforms.PackSegInputs` packs, the
    ``teacher_conf`` map (float32, (H, W)) written by
    :class:`LoadPseudoLabel` becomes ``data_sample.teacher_conf``
    (``PixelData`` of shape (1, H, W)), the hidden ``true_seg_map`` (where
    loaded) ``data_sample.true_sem_seg`` (long, (1, H, W)) and ``is_pseudo``
    becomes a meta key.

    Args:
        meta_keys (Sequence[str]): Meta keys to pack. Defaults to mmseg's keys
            plus ``'is_pseudo'``.
    """

    def __init__(self, meta_keys=DEFAULT_META_KEYS) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        conf = results.get('teacher_conf')
        if conf is not None:
            conf = np.ascontiguousarray(conf, dtype=np.float32)
            packed['data_samples'].set_data(
                dict(teacher_conf=PixelData(data=torch.from_numpy(conf)[None])))
        truth = results.get('true_seg_map')
        if truth is not None:  # hidden ground truth, diagnostics only
            truth = np.ascontiguousarray(truth).astype(np.int64)
            packed['data_samples'].set_data(
                dict(true_sem_seg=PixelData(data=torch.from_numpy(truth)[None])))
        return packed
