# Copyright (c) dmt_mm contributors. All rights reserved.
from .wide_resnet import WideResNet

__all__ = ['WideResNet']
