# Copyright (c) dmt_mm contributors. All rights reserved.
from .labeled_pseudo_sampler import LabeledPseudoSampler

__all__ = ['LabeledPseudoSampler']
