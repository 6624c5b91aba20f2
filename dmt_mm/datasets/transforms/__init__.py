# Copyright (c) dmt_mm contributors. All rights reserved.
from .formatting import PackDMTSegInputs
from .load_pseudo_label import LoadPseudoLabel

__all__ = ['LoadPseudoLabel', 'PackDMTSegInputs']
