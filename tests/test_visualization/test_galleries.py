# Copyright (c) dmt_mm contributors. All rights reserved.
"""Rendering of the pseudo-label galleries (pure functions, no training)."""
import cv2
import numpy as np
import pytest

from dmt_mm.datasets.digit_scenes import DigitScenesDataset
from dmt_mm.visualization.cls_gallery import (CUT, RIGHT, WRONG,
                                              render_cls_grid,
                                              select_near_threshold)
from dmt_mm.visualization.drawing import (HATCH_COLORS, fit_size, hatch,
                                          scalar_to_rgb, text_block,
                                          wrap_text)
from dmt_mm.visualization.seg_gallery import (LabelColorizer, SegPanel,
                                              render_seg_gallery,
                                              render_seg_panel)

CLASSES = DigitScenesDataset.METAINFO['classes']
PALETTE = DigitScenesDataset.METAINFO['palette']


@pytest.fixture(scope='module')
def colorize():
    return LabelColorizer(CLASSES, PALETTE)


def _colors(img):
    return {tuple(int(v) for v in c) for c in img.reshape(-1, 3)}


def test_hatch_paints_only_the_mask_in_two_stripe_colours():
    img = np.full((16, 16, 3), 7, np.uint8)
    mask = np.zeros((16, 16), bool)
    mask[4:12, 2:14] = True
    out = hatch(img, mask)
    assert (out[~mask] == 7).all()
    assert _colors(out[mask]) == set(HATCH_COLORS)
    assert (img == 7).all()  # input untouched


def test_scalar_to_rgb_is_viridis_from_dark_to_yellow():
    rgb = scalar_to_rgb(np.array([[0.0, 1.0, np.nan]]))
    lo, hi, nan = rgb[0]
    assert lo[2] > lo[1] and lo.sum() < 200  # dark blue-purple
    assert hi[0] > 200 and hi[1] > 200 and hi[2] < 80  # yellow
    assert (nan == 0).all()


def test_label_colorizer_uses_the_dataset_palette_exactly(colorize):
    rng = np.random.default_rng(0)
    label = rng.integers(0, len(CLASSES), (20, 30))
    label[0, :5] = 255
    out = colorize(label)
    ref = np.array(PALETTE, np.uint8)[np.where(label == 255, 0, label)]
    valid = label != 255
    assert (out[valid] == ref[valid]).all()
    assert (out[~valid] == 0).all()  # not a class: left for the hatch


def test_label_colorizer_checks_palette_length():
    with pytest.raises(ValueError, match='11 classes but 3 palette'):
        LabelColorizer(CLASSES, PALETTE[:3])


def _panel(with_gt=True, with_weight=True, shape=(24, 32)):
    rng = np.random.default_rng(1)
    label = np.full(shape, 3)
    label[:, : shape[1] // 2] = 255  # left half below the cut
    return SegPanel(
        name='x.png',
        image=rng.integers(0, 255, shape + (3, ), dtype=np.uint8),
        pseudo_label=label,
        confidence=rng.random(shape),
        weight=rng.random(shape) if with_weight else None,
        gt=np.full(shape, 4) if with_gt else None)


def test_seg_panel_columns_show_palette_and_hatched_ignored(colorize):
    row = render_seg_panel(_panel(), colorize, tile_size=64)
    h, w = fit_size((24, 32), 64)  # (48, 64)
    assert row.shape == (18 + h, 5 * w + 4 * 4, 3)  # caption + 5 tiles
    tile = row[18:, w + 4:2 * w + 4]  # pseudo-label column
    assert _colors(tile[:, w // 2 + 1:]) == {tuple(PALETTE[3])}
    assert _colors(tile[:, :w // 2 - 1]) == set(HATCH_COLORS)
    gt = row[18:, 4 * (w + 4):]
    assert _colors(gt) == {tuple(PALETTE[4])}
    weight = row[18:, 3 * (w + 4):4 * w + 12]
    assert _colors(weight[:, :w // 2 - 1]) == set(HATCH_COLORS)


def test_seg_panel_rejects_mismatched_maps(colorize):
    p = _panel()
    p.confidence = p.confidence[:10]
    with pytest.raises(ValueError, match='confidence has shape'):
        render_seg_panel(p, colorize)


def test_seg_gallery_drops_the_gt_column_without_ground_truth(colorize):
    with_gt = render_seg_gallery([_panel(), _panel()], CLASSES, PALETTE,
                                 ['title'], tile_size=64, colorize=colorize)
    without = render_seg_gallery([_panel(False), _panel(False, False)],
                                 CLASSES, PALETTE, ['title'], tile_size=64,
                                 colorize=colorize)
    assert with_gt.dtype == np.uint8 and with_gt.ndim == 3
    assert with_gt.shape[1] - without.shape[1] == 64 + 4
    with pytest.raises(ValueError, match='at least one panel'):
        render_seg_gallery([], CLASSES, PALETTE)


def test_text_block_wraps_long_lines_at_spaces():
    text = 'a rather long line that cannot fit into a narrow bar'
    lines = wrap_text(text, 120)
    assert len(lines) >= 3 and ' '.join(lines) == text
    for line in lines:
        (w, _), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        assert w <= 120 - 6
    assert text_block(120, [text]).shape[0] == 22 * len(lines)


def test_select_near_threshold_picks_both_sides_of_the_cut():
    label = np.array([0, 0, 0, 0, 0, 1, 1, 2])
    conf = np.array([.9, .8, .7, .6, .5, .95, .4, .3])
    kept = conf >= 0.7
    picks = select_near_threshold(label, conf, kept, 3, num_per_class=2)
    rej, kep = picks[0]
    assert kep.tolist() == [2, 1]  # least confident kept, increasing
    assert rej.tolist() == [4, 3]  # most confident rejected, increasing
    assert picks[1][0].tolist() == [6] and picks[1][1].tolist() == [5]
    assert picks[2][1].size == 0  # class 2 keeps nothing
    with pytest.raises(ValueError, match='1-D of one length'):
        select_near_threshold(label, conf[:3], kept, 3)


def test_cls_grid_frames_right_and_wrong_and_draws_the_cut():
    n = 12
    label = np.arange(n) % 3
    conf = np.linspace(0.5, 1.0, n)
    kept = conf > 0.75
    truth = label.copy()
    truth[-1] = 0  # the most confident sample (class 2) is wrong
    images = {j: np.full((8, 8, 3), 20 * j, np.uint8) for j in range(n)}
    grid = render_cls_grid(images, label, conf, kept, ['a', 'b', 'c'], truth,
                           num_per_class=2, thumb=24, title=['t'])
    colors = _colors(grid)
    assert {RIGHT, WRONG, CUT} <= colors
    no_truth = render_cls_grid(images, label, conf, kept, ['a', 'b', 'c'],
                               None, num_per_class=2, thumb=24)
    assert WRONG not in _colors(no_truth)
