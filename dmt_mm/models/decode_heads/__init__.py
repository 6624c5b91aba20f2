# Copyright (c) dmt_mm contributors. All rights reserved.
from .aspp_v2_head import ASPPV2Head

__all__ = ['ASPPV2Head']
