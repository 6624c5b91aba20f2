# Copyright (c) dmt_mm contributors. All rights reserved.
from .dmt_segmentor import DMTSegmentor

__all__ = ['DMTSegmentor']
