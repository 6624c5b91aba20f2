# Copyright (c) dmt_mm contributors. All rights reserved.
from .dmt_cls_head import DMTClsHead, dmt_mixup_loss, mix_batch, ramp_gamma

__all__ = ['DMTClsHead', 'dmt_mixup_loss', 'mix_batch', 'ramp_gamma']
