# Copyright (c) dmt_mm contributors. All rights reserved.
from .mutual_training_hook import MutualTrainingHook

__all__ = ['MutualTrainingHook']
