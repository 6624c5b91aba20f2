# Copyright (c) dmt_mm contributors. All rights reserved.
from .dmt_loss import (DMTLoss, dmt_loss, dmt_pseudo_context, dmt_weight_stats,
                       dmt_weights)

__all__ = [
    'DMTLoss', 'dmt_loss', 'dmt_weights', 'dmt_weight_stats',
    'dmt_pseudo_context'
]
