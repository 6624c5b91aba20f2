# Copyright (c) dmt_mm contributors. All rights reserved.
from .dmt_train_loop import DMTTrainLoop
from .schedule import Stage

__all__ = ['DMTTrainLoop', 'Stage']
