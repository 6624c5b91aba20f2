# Copyright (c) dmt_mm contributors. All rights reserved.
from typing import Optional

from mmcv.transforms import BaseTransform
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from dmt_mm.utils.curriculum import apply_class_thresholds
from dmt_mm.utils.pseudo_label_io import decode_confidence, read_pseudo_label


@TRANSFORMS.register_module()
class LoadPseudoLabel(BaseTransform):
    """Load a pseudo label and its teacher confidence for an unlabelled image.

    It takes the place of ``LoadAnnotations`` in the pipeline of
    pseudo-labelled samples (``SemiSegDataset`` makes that substitution), so
    every later transform that moves ``seg_fields`` (``RandomResize``,
    ``RandomCrop``, ``RandomFlip``, ...) moves the pseudo label and the
    confidence map with the image.

    The curriculum cut of DMT (arXiv:2004.08514) is applied here: a pixel
    whose stored confidence level is below its class threshold becomes
    ``ignore_index``.

    Required Keys:

    - pseudo_label_path (str): a map written by
      :func:`dmt_mm.utils.write_pseudo_label`.
    - pseudo_thresholds (np.ndarray, optional): ``(num_classes,)`` uint8
      confidence levels; pixels of class ``c`` below ``thresholds[c]`` are
      ignored. ``None`` keeps every pixel.
    - true_seg_map_path (str, optional): the image's ground truth, kept aside
      for the weight diagnostics (never trained on); read with MMSeg's
      ``LoadAnnotations``.

    Added Keys:

    - gt_seg_map (np.uint8, (H, W)): pseudo label after the cut.
    - teacher_conf (np.float32, (H, W)): teacher confidence.
    - true_seg_map (np.uint8, (H, W)): the ground truth, with
      ``true_seg_map_path`` only.
    - seg_fields: the keys above are appended.
    - is_pseudo (bool): ``True``.

    Args:
        ignore_index (int): Value of pixels below the cut. Defaults to 255.
    """

    def __init__(self, ignore_index: int = 255) -> None:
        if not 0 <= ignore_index <= 255:
            raise ValueError(
                f'ignore_index must be in [0, 255], got {ignore_index}')
        self.ignore_index = ignore_index
        self._load_truth = LoadAnnotations()

    def transform(self, results: dict) -> Optional[dict]:
        path = results['pseudo_label_path']
        label, level = read_pseudo_label(path)
        img = results.get('img')
        if img is not None and img.shape[:2] != label.shape:
            raise ValueError(
                f'pseudo label {path} has shape {label.shape} but its image '
                f'{results.get("img_path")} has shape {img.shape[:2]}: the '
                'pseudo labels were written for different images')
        results['gt_seg_map'] = apply_class_thresholds(
            label, level, results.get('pseudo_thresholds'), self.ignore_index,
            where=f'pseudo label {path}')
        results['teacher_conf'] = decode_confidence(level)
        seg_fields = results.setdefault('seg_fields', [])
        for key in ('gt_seg_map', 'teacher_conf'):
            if key not in seg_fields:
                seg_fields.append(key)
        if results.get('true_seg_map_path'):
            truth = self._load_truth(dict(
                seg_map_path=results['true_seg_map_path'], seg_fields=[],
                reduce_zero_label=results.get('reduce_zero_label', False)))
            results['true_seg_map'] = truth['gt_seg_map']
            seg_fields.append('true_seg_map')
        results['is_pseudo'] = True
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(ignore_index={self.ignore_index})'
