# Copyright (c) dmt_mm contributors. All rights reserved.
from .dmt_segmentor import DMTSegmentor
from .state_bank import dmt_model_state

__all__ = ['DMTSegmentor', 'dmt_model_state']
