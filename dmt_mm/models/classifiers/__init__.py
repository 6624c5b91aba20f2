# Copyright (c) dmt_mm contributors. All rights reserved.
from .dmt_image_classifier import DMTImageClassifier

__all__ = ['DMTImageClassifier']
