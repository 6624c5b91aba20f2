# Copyright (c) dmt_mm contributors. All rights reserved.
from .efficientnet_lite import EfficientNetLite
from .wide_resnet import WideResNet

__all__ = ['EfficientNetLite', 'WideResNet']
