# Copyright (c) dmt_mm contributors. All rights reserved.
"""The weight diagnostics: histograms of right / wrong pseudo labels."""
import pytest
import torch

from dmt_mm.engine.reporting import DMTReport
from dmt_mm.models.losses import DMTLoss
from dmt_mm.models.losses.dmt_weight_truth import (WEIGHT_BINS,
                                                   weight_truth_hist,
                                                   weight_truth_summary)


def _hist(weight, label, truth, mask=None, ignore_index=255):
    weight = torch.tensor(weight)
    mask = torch.ones_like(weight, dtype=torch.bool) if mask is None \
        else torch.tensor(mask)
    return weight_truth_hist(weight, mask, torch.tensor(label),
                             torch.tensor(truth), ignore_index)


def test_means_and_auc_by_hand():
    # right: 0.9, 0.5; wrong: 0.1, 0.5. Pairs right > wrong: 0.9>0.1,
    # 0.9>0.5, 0.5>0.1 and one tie (0.5, 0.5) -> (3 + 0.5) / 4.
    h = _hist([0.9, 0.5, 0.1, 0.5], [1, 2, 3, 4], [1, 2, 0, 0])
    assert h.shape == (2, WEIGHT_BINS + 1)
    assert h[0, :-1].sum() == 2 and h[1, :-1].sum() == 2
    s = weight_truth_summary(h)
    assert s['dmt_weight_correct'] == pytest.approx(0.7)
    assert s['dmt_weight_wrong'] == pytest.approx(0.3)
    assert s['dmt_weight_auc'] == pytest.approx(0.875)


def test_perfect_inverted_and_constant_rankings():
    perfect = weight_truth_summary(_hist([1.0, 0.8, 0.0], [0, 1, 2],
                                         [0, 1, 0]))
    assert perfect['dmt_weight_auc'] == pytest.approx(1.0)
    inverted = weight_truth_summary(_hist([0.0, 0.9], [0, 1], [0, 0]))
    assert inverted['dmt_weight_auc'] == pytest.approx(0.0)
    ce = weight_truth_summary(_hist([1.0, 1.0, 1.0], [0, 1, 2], [0, 0, 2]))
    assert ce['dmt_weight_auc'] == pytest.approx(0.5)  # weights all 1


def test_mask_and_unknown_truth_are_not_counted():
    h = _hist([0.9, 0.2, 0.3], [1, 2, 3], [1, 0, 255], mask=[True, False,
                                                           True])
    assert h[:, :-1].sum() == 1  # only the first target counts
    s = weight_truth_summary(h)
    assert s['dmt_weight_correct'] == pytest.approx(0.9)
    assert s['dmt_weight_wrong'] is None and s['dmt_weight_auc'] is None
    assert weight_truth_summary(None) == dict(
        dmt_weight_correct=None, dmt_weight_wrong=None, dmt_weight_auc=None)


def test_histograms_add_up_like_one_batch():
    a = _hist([0.9, 0.1], [0, 1], [0, 0])
    b = _hist([0.6, 0.7], [0, 1], [0, 0])
    both = _hist([0.9, 0.1, 0.6, 0.7], [0, 1, 0, 1], [0, 0, 0, 0])
    assert torch.allclose(a + b, both)
    # right {0.9, 0.6}, wrong {0.1, 0.7}: 0.9>0.1, 0.9>0.7, 0.6>0.1 -> 3/4
    assert weight_truth_summary(a + b)['dmt_weight_auc'] == pytest.approx(
        0.75)


def test_dmt_loss_histogram_of_pseudo_pixels_only():
    # 1 x 2 x 1 x 3 logits; pixel 0 right (label 0 = truth 0), pixel 1 wrong
    # (label 1, truth 0), pixel 2 ignored by the pseudo label.
    logits = torch.tensor([[[[2.0, 0.0, 1.0]], [[0.0, 0.5, 0.0]]]])
    label = torch.tensor([[[0, 1, 255]]])
    conf = torch.ones(1, 1, 3)
    truth = torch.tensor([[[0, 0, 1]]])
    for dynamic in (True, False):
        loss = DMTLoss(gamma1=2.0, gamma2=2.0, dynamic=dynamic)
        loss.set_pseudo_context(conf, torch.tensor([True]), truth)
        loss(logits, label)
        s = weight_truth_summary(loss.last_weight_hist)
        p = logits.softmax(1)[0, :, 0]
        # the rule's weights, also without dynamic weights: p_y ** gamma
        assert s['dmt_weight_correct'] == pytest.approx(
            float(p[0, 0]**2), abs=1e-6)
        assert s['dmt_weight_wrong'] == pytest.approx(
            float(p[1, 1]**2), abs=1e-6)
        assert s['dmt_weight_auc'] == 1.0
        loss.clear_pseudo_context()
        loss(logits, label)
        assert loss.last_weight_hist is None


def test_report_row_and_state_round_trip():
    report = DMTReport('mIoU', 'mutual', 'partner', ['a', 'b'])
    report.start_stage()
    report.add_weight_hist(_hist([0.9, 0.1], [0, 1], [0, 0]))
    state = report.state_dict()  # a checkpoint mid-stage
    resumed = DMTReport('mIoU', 'mutual', 'partner', ['a', 'b'])
    resumed.load_state_dict(state)
    for r in (report, resumed):
        r.add_weight_hist(_hist([0.6, 0.7], [0, 1], [0, 0]))
        stage = type('Stage', (), dict(index=1, model='A', phase=1,
                                       keep_ratio=0.2, length=10))
        row = r.finish_stage(stage)
        assert row['dmt_weight_correct'] == pytest.approx(0.75)
        assert row['dmt_weight_wrong'] == pytest.approx(0.4)
        assert row['dmt_weight_auc'] == pytest.approx(0.75)
