# Copyright (c) dmt_mm contributors. All rights reserved.
"""See what DMT is doing: pseudo-label galleries, run plots, scalar names."""
from .cls_gallery import render_cls_grid, select_near_threshold
from .dmt_visualization_hook import DMTVisualizationHook
from .scalars import (dmt_scalar_layout, labelling_scalars, stage_scalars,
                      write_tensorboard_layout)
from .seg_gallery import (LabelColorizer, SegPanel, render_seg_gallery,
                          render_seg_panel)

__all__ = [
    'DMTVisualizationHook', 'SegPanel', 'LabelColorizer',
    'render_seg_gallery', 'render_seg_panel', 'render_cls_grid',
    'select_near_threshold', 'dmt_scalar_layout', 'stage_scalars',
    'labelling_scalars', 'write_tensorboard_layout'
]
