# Copyright (c) dmt_mm contributors. All rights reserved.
from .bundled_digits import load_source_digits
from .checkpoint import register_safe_globals
from .dist_utils import setup_cpu_distributed
from .curriculum import (class_thresholds_from_histogram, kept_counts,
                         miou_from_confusion, pseudo_label_quality,
                         threshold_from_histogram)
from .pseudo_label_io import (CONF_LEVELS, decode_confidence,
                              encode_confidence, read_pseudo_label,
                              write_pseudo_label)

__all__ = [
    'load_source_digits', 'register_safe_globals', 'setup_cpu_distributed',
    'class_thresholds_from_histogram',
    'kept_counts', 'miou_from_confusion', 'pseudo_label_quality',
    'threshold_from_histogram', 'CONF_LEVELS', 'decode_confidence',
    'encode_confidence', 'read_pseudo_label', 'write_pseudo_label'
]
