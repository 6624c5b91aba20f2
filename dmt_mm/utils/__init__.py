# Copyright (c) dmt_mm contributors. All rights reserved.
from .bundled_digits import load_source_digits
from .checkpoint import register_safe_globals
from .dist_utils import setup_cpu_distributed
from .efficientnet_weights import (convert_efficientnet_lite,
                                   packaged_weights_path)
from .curriculum import (apply_class_thresholds, check_keep_ratios,
                         class_thresholds_from_histogram, kept_counts,
                         miou_from_confusion, num_kept, pseudo_label_quality,
                         rank_and_cut, threshold_from_histogram)
from .pseudo_label_io import (CLS_PSEUDO_DTYPE, CONF_LEVELS,
                              decode_confidence,
                              encode_confidence, load_cls_pseudo_labels,
                              publish_pseudo_dir, read_manifest,
                              read_pseudo_label, save_cls_pseudo_labels,
                              write_manifest, write_pseudo_label)
from .pseudo_label_writer import PseudoLabelWriter

__all__ = [
    'load_source_digits', 'register_safe_globals', 'setup_cpu_distributed',
    'convert_efficientnet_lite', 'packaged_weights_path',
    'apply_class_thresholds', 'check_keep_ratios',
    'class_thresholds_from_histogram', 'kept_counts', 'miou_from_confusion',
    'num_kept', 'pseudo_label_quality', 'rank_and_cut',
    'threshold_from_histogram', 'CLS_PSEUDO_DTYPE', 'CONF_LEVELS',
    'PseudoLabelWriter', 'decode_confidence', 'encode_confidence',
    'load_cls_pseudo_labels', 'publish_pseudo_dir', 'read_manifest',
    'read_pseudo_label', 'save_cls_pseudo_labels', 'write_manifest',
    'write_pseudo_label'
]
