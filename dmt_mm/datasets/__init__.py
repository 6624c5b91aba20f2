# Copyright (c) dmt_mm contributors. All rights reserved.
from .base_semi_dataset import BaseSemiDataset, LabelingView
from .digit_scenes import DigitScenesDataset
from .samplers import LabeledPseudoSampler
from .semi_cls_dataset import SemiClsDataset, dmt_cls_pipeline
from .semi_seg_dataset import SemiSegDataset, pseudo_pipeline_from
from .transforms import LoadPseudoLabel, PackDMTSegInputs

__all__ = [
    'BaseSemiDataset', 'LabelingView', 'DigitScenesDataset',
    'LabeledPseudoSampler', 'SemiSegDataset', 'pseudo_pipeline_from',
    'SemiClsDataset', 'dmt_cls_pipeline', 'LoadPseudoLabel',
    'PackDMTSegInputs'
]
