# Copyright (c) dmt_mm contributors. All rights reserved.
import numpy as np
import pytest
import torch

from dmt_mm.utils.curriculum import (class_thresholds_from_histogram,
                                     kept_counts, miou_from_confusion,
                                     pseudo_label_quality,
                                     threshold_from_histogram)
from dmt_mm.utils.pseudo_label_io import encode_confidence


def _hist(levels):
    return np.bincount(np.asarray(levels), minlength=256)


def test_threshold_hand_computed():
    # 10 pixels at levels 250 x2, 200 x3, 100 x5
    h = _hist([250] * 2 + [200] * 3 + [100] * 5)
    assert threshold_from_histogram(h, 0.2) == 250  # keep 2 of 10
    assert threshold_from_histogram(h, 0.3) == 200  # need 3 -> 5 kept
    assert threshold_from_histogram(h, 0.5) == 200
    assert threshold_from_histogram(h, 0.6) == 100
    assert threshold_from_histogram(h, 1.0) == 0


def test_rare_class_keeps_everything():
    h = _hist([240, 10])  # 2 pixels: 0.2 * 2 < 1 pixel
    assert threshold_from_histogram(h, 0.2) == 0
    assert threshold_from_histogram(np.zeros(256, int), 0.4) == 0


@pytest.mark.parametrize('ratio', [0, -0.1, 1.5])
def test_bad_ratio(ratio):
    with pytest.raises(ValueError, match='keep_ratio'):
        threshold_from_histogram(_hist([1]), ratio)


def test_per_class_matches_sorting_within_one_level():
    g = torch.Generator().manual_seed(0)
    conf = torch.rand(5000, generator=g) ** 0.3
    cls = torch.randint(0, 3, (5000, ), generator=g)
    level = encode_confidence(conf).long()
    hist = np.zeros((3, 256), np.int64)
    np.add.at(hist, (cls.numpy(), level.numpy()), 1)
    for r in (0.2, 0.6):
        thr = class_thresholds_from_histogram(hist, r)
        kept = kept_counts(hist, thr)
        for c in range(3):
            lv = np.sort(level[cls == c].numpy())[::-1]
            need = int(r * len(lv))
            # what sorting keeps: the need-th most confident level
            assert thr[c] == lv[need - 1]
            assert kept[c] >= need
            assert kept[c] - need < (lv == thr[c]).sum()


def test_miou_from_confusion_hand_computed():
    conf = np.array([[3, 1], [0, 4]])  # rows gt, cols pred
    # IoU0 = 3 / (4 + 3 - 3) = 0.75, IoU1 = 4 / (4 + 5 - 4) = 0.8
    assert miou_from_confusion(conf) == pytest.approx(77.5)
    # a class absent from the ground truth is not averaged
    conf3 = np.array([[3, 1, 0], [0, 4, 0], [0, 0, 0]])
    assert miou_from_confusion(conf3) == pytest.approx(77.5)


def test_pseudo_label_quality_before_and_after_cut():
    joint = np.zeros((2, 2, 256), np.int64)
    joint[0, 0, 200] = 3  # correct, confident
    joint[1, 0, 10] = 1  # wrong, unconfident
    joint[1, 1, 220] = 4
    q = pseudo_label_quality(joint, np.array([100, 0], np.uint8))
    assert q['miou'] == pytest.approx(77.5)
    assert q['kept_miou'] == pytest.approx(100.0)
