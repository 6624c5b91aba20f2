# Copyright (c) dmt_mm contributors. All rights reserved.
from .dst_randaugment import DSTRandAugment
from .formatting import PackDMTSegInputs
from .load_pseudo_label import LoadPseudoLabel

__all__ = ['DSTRandAugment', 'LoadPseudoLabel', 'PackDMTSegInputs']
