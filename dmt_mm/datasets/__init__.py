# Copyright (c) dmt_mm contributors. All rights reserved.
from .digit_scenes import DigitScenesDataset
from .samplers import LabeledPseudoSampler
from .semi_seg_dataset import SemiSegDataset, pseudo_pipeline_from
from .transforms import LoadPseudoLabel, PackDMTSegInputs

__all__ = [
    'DigitScenesDataset', 'LabeledPseudoSampler', 'SemiSegDataset',
    'pseudo_pipeline_from', 'LoadPseudoLabel', 'PackDMTSegInputs'
]
