# Copyright (c) dmt_mm contributors. All rights reserved.
from .mutual_training_hook import MutualTrainingHook, format_summary

__all__ = ['MutualTrainingHook', 'format_summary']
