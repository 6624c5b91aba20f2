# Copyright (c) dmt_mm contributors. All rights reserved.
"""Render the segmentation pseudo-label gallery of one labelling pass.

One panel (row) per unlabelled image::

    image | pseudo label after the cut | teacher confidence |
    student's dynamic weight | ground truth

Label maps are coloured by MMSeg's :class:`SegLocalVisualizer` with the
dataset's classes and palette; ignored pixels (below the curriculum cut, or
255 in the ground truth) are hatched white/grey, a pattern no palette
colour can be confused with. Confidence and weight use one viridis scale,
0 (dark blue) to 1 (yellow).

The dynamic weight is the DMT rule of arXiv:2004.08514 (Feng et al.) applied
to the student's prediction at the start of its stage: ``p_y ** gamma1``
where student and teacher agree, 0 where the student disagrees and is more
confident, ``p_y ** gamma2`` otherwise.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

from .drawing import (colorbar, fit_size, hatch, hatch_swatch, hstack,
                      legend, resize, scalar_to_rgb, text_bar, text_block,
                      vstack)

__all__ = ['SegPanel', 'LabelColorizer', 'render_seg_panel',
           'render_seg_gallery', 'SEG_COLUMNS']

#: Column titles of a panel, in order.
SEG_COLUMNS = ('image', 'pseudo label (kept)', 'teacher confidence',
               'DMT weight (student)', 'ground truth')


@dataclass
class SegPanel:
    """What one row of the gallery shows (all maps ``(H, W)``).

    Attributes:
        name (str): Caption (e.g. the image file name).
        image (np.ndarray): RGB uint8 ``(H, W, 3)``.
        pseudo_label (np.ndarray): Teacher labels after the cut, ints,
            ``ignore_index`` where cut.
        confidence (np.ndarray): Teacher confidence in ``[0, 1]``.
        weight (np.ndarray, optional): Student's dynamic weight in
            ``[0, 1]`` (None: no DMTLoss, column drawn empty).
        gt (np.ndarray, optional): Ground truth (None: column omitted).
    """
    name: str
    image: np.ndarray
    pseudo_label: np.ndarray
    confidence: np.ndarray
    weight: Optional[np.ndarray] = None
    gt: Optional[np.ndarray] = None


class LabelColorizer:
    """Colour label maps with MMSeg's ``SegLocalVisualizer``.

    A private visualizer without vis backends (so nothing is written
    anywhere) draws the map at ``alpha=1`` (pure palette colours); values
    that are not class indices (e.g. 255) stay black and are hatched by the
    caller.

    Args:
        classes (Sequence[str]): Class names (the dataset's metainfo).
        palette (Sequence[Sequence[int]]): One RGB colour per class.
    """

    def __init__(self, classes: Sequence[str],
                 palette: Sequence[Sequence[int]]) -> None:
        if len(classes) != len(palette):
            raise ValueError(f'{len(classes)} classes but {len(palette)} '
                             'palette colours')
        self.classes = list(classes)
        self.palette = [tuple(int(c) for c in p) for p in palette]
        self._vis = SegLocalVisualizer(
            name=f'dmt_label_colorizer_{id(self)}', alpha=1.0)
        self._vis.set_dataset_meta(self.classes, self.palette)

    def __call__(self, label: np.ndarray) -> np.ndarray:
        """RGB ``(H, W, 3)`` uint8 of an integer label map ``(H, W)``."""
        label = np.asarray(label)
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=torch.from_numpy(label.astype(np.int64)[None]))
        blank = np.zeros(label.shape + (3, ), np.uint8)
        self._vis.add_datasample(
            'label', blank, sample, draw_pred=False, with_labels=False)
        out = self._vis.get_image()
        if out.shape[:2] != label.shape:  # matplotlib rounding, never seen
            out = resize(out, label.shape, nearest=True)
        return out


def _label_tile(label: np.ndarray, hw, colorize: LabelColorizer,
                ignore_index: int) -> np.ndarray:
    big = resize(np.asarray(label, np.int64), hw, nearest=True)
    rgb = colorize(big)
    return hatch(rgb, (big == ignore_index) | (big < 0)
                 | (big >= len(colorize.classes)))


def render_seg_panel(panel: SegPanel, colorize: LabelColorizer,
                     tile_size: int = 192, ignore_index: int = 255,
                     with_gt_column: bool = True) -> np.ndarray:
    """One row: image | pseudo label | confidence | weight | ground truth.

    Args:
        panel (SegPanel): The maps of one image.
        colorize (LabelColorizer): Palette colouring of label maps.
        tile_size (int): Longer side of each tile in pixels. Label maps are
            scaled with nearest neighbour. Defaults to 192.
        ignore_index (int): Label value drawn hatched. Defaults to 255.
        with_gt_column (bool): Draw a ground-truth tile (blank when the
            panel has no ground truth). Defaults to True.

    Returns:
        np.ndarray: RGB uint8 row with a caption line on top.
    """
    shape = panel.pseudo_label.shape
    for name in ('confidence', 'weight', 'gt'):
        arr = getattr(panel, name)
        if arr is not None and arr.shape[:2] != shape:
            raise ValueError(
                f'panel {panel.name}: {name} has shape {arr.shape[:2]} but '
                f'the pseudo label has shape {shape}')
    hw = fit_size(shape, tile_size)
    image = resize(panel.image, hw)
    blank = np.full(hw + (3, ), 64, np.uint8)
    tiles = [
        image,
        _label_tile(panel.pseudo_label, hw, colorize, ignore_index),
        scalar_to_rgb(resize(panel.confidence.astype(np.float32), hw,
                             nearest=True)),
    ]
    if panel.weight is None:
        tiles.append(blank)
    else:
        ignored = resize(panel.pseudo_label == ignore_index, hw, nearest=True)
        weight = scalar_to_rgb(resize(panel.weight.astype(np.float32), hw,
                                      nearest=True))
        tiles.append(hatch(weight, ignored))
    if with_gt_column:
        tiles.append(blank if panel.gt is None else _label_tile(
            panel.gt, hw, colorize, ignore_index))
    row = hstack(tiles)
    return vstack([text_bar(row.shape[1], panel.name, height=18), row],
                  gap=0)


def render_seg_gallery(panels: Sequence[SegPanel],
                       classes: Sequence[str],
                       palette: Sequence[Sequence[int]],
                       title: Sequence[str] = (),
                       tile_size: int = 192,
                       ignore_index: int = 255,
                       colorize: Optional[LabelColorizer] = None
                       ) -> np.ndarray:
    """The gallery of one labelling pass: title, column heads, panels, legend.

    Args:
        panels (Sequence[SegPanel]): One per image.
        classes, palette: The dataset's metainfo.
        title (Sequence[str]): Header lines (phase, teacher, keep ratio...).
        tile_size (int): Longer side of a tile. Defaults to 192.
        ignore_index (int): Label value drawn hatched. Defaults to 255.
        colorize (LabelColorizer, optional): Reused between calls to avoid
            building a visualizer per gallery.

    Returns:
        np.ndarray: RGB uint8 ``(H, W, 3)``.
    """
    if not panels:
        raise ValueError('render_seg_gallery needs at least one panel')
    colorize = colorize or LabelColorizer(classes, palette)
    with_gt = any(p.gt is not None for p in panels)
    rows = [
        render_seg_panel(p, colorize, tile_size, ignore_index, with_gt)
        for p in panels
    ]
    width = max(r.shape[1] for r in rows)
    tile_w = fit_size(panels[0].pseudo_label.shape, tile_size)[1]
    n_cols = len(SEG_COLUMNS) if with_gt else len(SEG_COLUMNS) - 1
    heads = hstack([text_bar(tile_w, t) for t in SEG_COLUMNS[:n_cols]])
    present = set()
    for p in panels:
        for arr in (p.pseudo_label, p.gt):
            if arr is not None:
                present.update(int(v) for v in np.unique(arr))
    entries: List = [(tuple(palette[c]), str(classes[c]))
                     for c in range(len(classes)) if c in present]
    entries.append((hatch_swatch(14), 'ignored (below the cut / 255)'))
    parts = []
    if title:
        parts.append(text_block(width, list(title), height=22, scale=0.5))
    parts += [heads] + rows + [
        legend(entries, width),
        colorbar(width, 'confidence, weight'),
    ]
    return vstack(parts, gap=4)
