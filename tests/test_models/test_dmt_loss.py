# Copyright (c) dmt_mm contributors. All rights reserved.
"""Tests of the DMT dynamic loss against hand-computed values.

Logit rows are logs of small integers, so the student's softmax is known in
closed form: ``[ln 6, ln 3, ln 1] -> p = [0.6, 0.3, 0.1]``. Expected values
are computed with ``math``/``numpy`` from those probabilities.
"""
import importlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dmt_mm.models.losses.dmt_loss import (DMTLoss, dmt_loss,
                                           dmt_pseudo_context,
                                           dmt_weight_stats, dmt_weights)
from dmt_mm.models.losses.dmt_rule import dmt_rule, dmt_rule_stats
from sync_guard import no_host_sync

G1, G2 = 2.0, 3.0  # distinct so that the branches can be told apart
LOGITS_A = [math.log(6), math.log(3), math.log(1)]  # p = [.6, .3, .1]
LOGITS_B = [math.log(1), math.log(1), math.log(2)]  # p = [.25, .25, .5]
P_A = np.array([0.6, 0.3, 0.1])
P_B = np.array([0.25, 0.25, 0.5])


def np_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_closed_form_probabilities():
    np.testing.assert_allclose(np_softmax(LOGITS_A), P_A, rtol=1e-12)
    np.testing.assert_allclose(np_softmax(LOGITS_B), P_B, rtol=1e-12)


# ---------------------------------------------------------------------------
# dmt_weights: every branch of the rule
# ---------------------------------------------------------------------------


def test_weights_each_branch_classification():
    logits = torch.tensor([LOGITS_A] * 5)  # student: d = 0, c_s = 0.6
    tie = float(torch.softmax(logits[:1], dim=1).max())  # c_t == c_s
    label = torch.tensor([0, 0, 1, 1, 2])
    conf = torch.tensor([0.5, 0.99, 0.5, 0.9, tie])
    w = dmt_weights(logits, label, conf, G1, G2)
    expected = [
        0.6**G1,  # agree (c_t below c_s): gamma1
        0.6**G1,  # agree (c_t above c_s): still gamma1
        0.0,  # disagree, c_s = 0.6 > c_t = 0.5: student wins
        0.3**G2,  # disagree, c_s = 0.6 <= c_t = 0.9: gamma2
        0.1**G2,  # disagree, c_s == c_t (tie): gamma2, not 0
    ]
    assert w.shape == (5, )
    assert w.dtype == torch.float32
    assert not w.requires_grad
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-5)
    assert w[4] > 0


def test_weights_segmentation_shape_and_ignore():
    # (N=1, C=3, H=2, W=2); pixel (i, j) logits chosen per pixel
    logits = torch.tensor([LOGITS_A, LOGITS_B, LOGITS_A, LOGITS_B])
    logits = logits.t().reshape(1, 3, 2, 2).contiguous()
    label = torch.tensor([[[0, 2], [255, 0]]])
    conf = torch.tensor([[[0.1, 0.1, 0.9, 0.9]]]).reshape(1, 2, 2)
    w = dmt_weights(logits, label, conf, G1, G2, ignore_index=255)
    # (0,0): p=A, y=0 agree -> .6**G1
    # (0,1): p=B, d=2, y=2 agree -> .5**G1
    # (1,0): ignored -> 0 (and no out-of-range gather)
    # (1,1): p=B, d=2, y=0 disagree, c_s=.5 <= c_t=.9 -> .25**G2
    expected = np.array([[[0.6**G1, 0.5**G1], [0.0, 0.25**G2]]])
    assert w.shape == (1, 2, 2)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-5)


def test_weights_no_grad_and_gamma_zero():
    logits = torch.tensor([LOGITS_A, LOGITS_A], requires_grad=True)
    w = dmt_weights(logits, torch.tensor([0, 1]), torch.tensor([0.1, 0.1]),
                    0.0, 0.0)
    assert not w.requires_grad
    # gamma 0: agree -> 1, but a winning student still zeroes the weight
    np.testing.assert_allclose(w.numpy(), [1.0, 0.0])


def test_weight_stats():
    logits = torch.tensor([LOGITS_A] * 4 + [LOGITS_B])
    label = torch.tensor([0, 1, 2, 255, 2])
    conf = torch.tensor([0.5, 0.5, 0.9, 0.5, 0.2])
    stats = dmt_weight_stats(logits, label, conf, ignore_index=255)
    # valid: 4; disagree: rows 1, 2; student wins: row 1 (.6 > .5)
    assert int(stats['num_valid']) == 4
    assert float(stats['disagree']) == pytest.approx(2 / 4)
    assert float(stats['student_wins']) == pytest.approx(1 / 4)
    # nothing valid: rates are 0, not NaN
    stats = dmt_weight_stats(logits[:1], torch.tensor([255]),
                             torch.tensor([0.5]))
    assert float(stats['disagree']) == 0.0
    assert float(stats['student_wins']) == 0.0


# ---------------------------------------------------------------------------
# dmt_loss
# ---------------------------------------------------------------------------


def _mixed_batch():
    """Batch of 2 images 1x3: sample 0 labelled, sample 1 pseudo."""
    rows = [LOGITS_A, LOGITS_B, LOGITS_A, LOGITS_A, LOGITS_B, LOGITS_A]
    logits = torch.tensor(rows).reshape(2, 1, 3, 3).permute(0, 3, 1, 2)
    logits = logits.contiguous()  # (N=2, C=3, H=1, W=3)
    label = torch.tensor([[[1, 255, 0]], [[0, 2, 1]]])
    conf = torch.tensor([[[0.0, 0.0, 0.0]], [[0.3, 0.3, 0.5]]])
    is_pseudo = torch.tensor([False, True])
    probs = [P_A, P_B, P_A, P_A, P_B, P_A]
    ys = [1, None, 0, 0, 2, 1]
    weights = [
        1.0,  # labelled
        0.0,  # labelled but ignored
        1.0,  # labelled
        0.6**G1,  # pseudo, agree
        0.5**G1,  # pseudo, agree
        0.0,  # pseudo, disagree with c_s = .6 > c_t = .5
    ]
    return logits, label, conf, is_pseudo, probs, ys, weights


def test_loss_mixed_labelled_and_pseudo():
    logits, label, conf, is_pseudo, probs, ys, weights = _mixed_batch()
    loss = dmt_loss(logits, label, conf, is_pseudo, G1, G2)
    ce = [-math.log(p[y]) if y is not None else 0.0 for p, y in zip(probs, ys)]
    count = 5  # non-ignored targets over the whole batch
    expected = sum(w * c for w, c in zip(weights, ce)) / count
    assert loss.dim() == 0
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_loss_normalised_by_count_not_weight_sum():
    logits = torch.tensor([LOGITS_A, LOGITS_A, LOGITS_B])
    label = torch.tensor([0, 1, 2])
    conf = torch.tensor([0.5, 0.9, 0.5])
    loss = dmt_loss(logits, label, conf, torch.tensor([True] * 3), G1, G2)
    w = np.array([0.6**G1, 0.3**G2, 0.5**G1])
    ce = -np.log([0.6, 0.3, 0.5])
    assert float(loss) == pytest.approx((w * ce).sum() / 3, rel=1e-5)
    assert float(loss) != pytest.approx((w * ce).sum() / w.sum(), rel=1e-3)


def test_loss_without_pseudo_is_cross_entropy():
    logits = torch.tensor([LOGITS_A, LOGITS_B, LOGITS_A])
    label = torch.tensor([1, 255, 2])
    loss = dmt_loss(logits, label, None, torch.tensor([False] * 3), G1, G2)
    expected = (-math.log(0.3) - math.log(0.1)) / 2  # ignored not counted
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # is_pseudo None and no teacher_conf: also all labelled
    loss2 = dmt_loss(logits, label, None, None, G1, G2)
    assert float(loss2) == pytest.approx(expected, rel=1e-5)


def test_loss_gradient_through_logits_only():
    logits, label, conf, is_pseudo, probs, ys, weights = _mixed_batch()
    logits = logits.clone().requires_grad_(True)
    loss = dmt_loss(logits, label, conf, is_pseudo, G1, G2)
    loss.backward()
    # analytic: w * (softmax - onehot) / count; weights are constants
    count = 5
    expected = np.zeros((6, 3))
    for i, (p, y, w) in enumerate(zip(probs, ys, weights)):
        if y is None:
            continue
        onehot = np.eye(3)[y]
        expected[i] = w * (p - onehot) / count
    grad = logits.grad.permute(0, 2, 3, 1).reshape(6, 3).numpy()
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_loss_return_stats():
    logits, label, conf, is_pseudo, *_ = _mixed_batch()
    loss, stats = dmt_loss(
        logits, label, conf, is_pseudo, G1, G2, return_stats=True)
    assert float(loss) == pytest.approx(
        float(dmt_loss(logits, label, conf, is_pseudo, G1, G2)))
    # over the 3 pseudo targets: weights .6**G1, .5**G1, 0; 1 disagreement,
    # which the student wins; 3 of 5 valid targets are pseudo
    assert float(stats['mean_weight']) == pytest.approx(
        (0.6**G1 + 0.5**G1) / 3, rel=1e-5)
    assert float(stats['disagree']) == pytest.approx(1 / 3)
    assert float(stats['student_wins']) == pytest.approx(1 / 3)
    assert float(stats['pseudo_ratio']) == pytest.approx(3 / 5)
    assert all(not v.requires_grad for v in stats.values())
    # no pseudo targets: zeros, not NaN
    _, stats = dmt_loss(
        logits,
        label,
        conf,
        torch.tensor([False, False]),
        G1,
        G2,
        return_stats=True)
    assert all(float(v) == 0.0 for v in stats.values())


def test_loss_extra_weight_multiplies():
    logits = torch.tensor([LOGITS_A, LOGITS_A])
    label = torch.tensor([0, 0])
    conf = torch.tensor([0.5, 0.5])
    extra = torch.tensor([0.5, 2.0])
    loss = dmt_loss(
        logits, label, conf, torch.tensor([True, False]), G1, G2, weight=extra)
    ce = -math.log(0.6)
    expected = (0.5 * 0.6**G1 * ce + 2.0 * 1.0 * ce) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_loss_all_ignored_is_zero_with_grad():
    logits = torch.tensor([LOGITS_A, LOGITS_B], requires_grad=True)
    loss = dmt_loss(logits, torch.tensor([255, 255]), torch.ones(2),
                    torch.tensor([True, True]), G1, G2)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_loss_errors():
    logits = torch.tensor([LOGITS_A, LOGITS_B])
    conf = torch.tensor([0.5, 0.5])
    pseudo = torch.tensor([True, True])
    with pytest.raises(ValueError, match=r'\[3\].*num_classes=3'):
        dmt_loss(logits, torch.tensor([0, 3]), conf, pseudo, G1, G2)
    with pytest.raises(ValueError, match=r'\[-1\].*num_classes=3'):
        dmt_loss(logits, torch.tensor([-1, 0]), conf, pseudo, G1, G2)
    with pytest.raises(ValueError, match=r'\[7\].*num_classes=3'):
        dmt_weights(logits, torch.tensor([7, 0]), conf, G1, G2)
    with pytest.raises(ValueError, match='gamma1.*-1'):
        dmt_loss(logits, torch.tensor([0, 1]), conf, pseudo, -1.0, G2)
    with pytest.raises(ValueError, match='gamma2.*-0.5'):
        dmt_weights(logits, torch.tensor([0, 1]), conf, G1, -0.5)
    with pytest.raises(ValueError, match=r'label shape \(3,\)'):
        dmt_loss(logits, torch.tensor([0, 1, 2]), conf, pseudo, G1, G2)
    with pytest.raises(ValueError, match=r'teacher_conf shape \(2, 1\)'):
        dmt_loss(logits, torch.tensor([0, 1]), conf[:, None], pseudo, G1, G2)
    with pytest.raises(ValueError, match=r'is_pseudo.*\(3,\)'):
        dmt_loss(logits, torch.tensor([0, 1]), conf, torch.tensor([True] * 3),
                 G1, G2)
    with pytest.raises(ValueError, match='teacher_conf is None'):
        dmt_loss(logits, torch.tensor([0, 1]), None, pseudo, G1, G2)
    with pytest.raises(TypeError, match='teacher_conf.*uint8'):
        dmt_loss(logits, torch.tensor([0, 1]), (conf * 255).to(torch.uint8),
                 pseudo, G1, G2)
    with pytest.raises(TypeError, match='integer'):
        dmt_loss(logits, torch.tensor([0.0, 1.0]), conf, pseudo, G1, G2)


# ---------------------------------------------------------------------------
# DMTLoss module
# ---------------------------------------------------------------------------


def test_module_registered_and_defaults():
    from mmseg.registry import MODELS
    loss = MODELS.build(dict(type='DMTLoss'))
    assert isinstance(loss, DMTLoss)
    assert (loss.gamma1, loss.gamma2) == (5.0, 5.0)
    assert loss.loss_weight == 1.0 and loss.ignore_index == 255
    assert loss.loss_name == 'loss_dmt'
    with pytest.raises(ValueError, match='gamma2'):
        DMTLoss(gamma2=-1)


def test_module_context_padding_and_stats():
    module = DMTLoss(gamma1=G1, gamma2=G2, loss_weight=2.0)
    logits, label, conf, is_pseudo, *_ = _mixed_batch()
    # pad label to (1, 5) on the right with 255, as the preprocessor does
    label_pad = torch.full((2, 2, 5), 255, dtype=torch.long)
    label_pad[:, :1, :3] = label
    logits_pad = torch.randn(2, 3, 2, 5)
    logits_pad[:, :, :1, :3] = logits
    module.set_pseudo_context(conf, is_pseudo)  # (2, 1, 3): not padded
    assert module.has_pseudo_context
    out = module(logits_pad, label_pad, weight=None, ignore_index=255)
    expected = 2.0 * dmt_loss(logits, label, conf, is_pseudo, G1, G2)
    assert float(out) == pytest.approx(float(expected), rel=1e-5)
    stats = module.last_stats
    assert set(stats) == {
        'dmt_weight', 'dmt_disagree', 'dmt_student_wins', 'dmt_pseudo_ratio'
    }
    assert float(stats['dmt_student_wins']) == pytest.approx(1 / 3)
    # gamma is a plain attribute, read at forward time
    module.gamma1 = 0.0
    out0 = module(logits_pad, label_pad)
    assert float(out0) == pytest.approx(
        2.0 * float(dmt_loss(logits, label, conf, is_pseudo, 0.0, G2)),
        rel=1e-5)
    # a confidence map larger than the label is an error
    module.set_pseudo_context(torch.zeros(2, 3, 5), is_pseudo)
    with pytest.raises(ValueError, match=r'\(2, 3, 5\).*\(2, 2, 5\)'):
        module(logits_pad, label_pad)
    module.clear_pseudo_context()
    assert not module.has_pseudo_context
    module(logits_pad, label_pad)
    assert module.last_stats is None


def test_module_without_context_matches_mmseg_ce():
    from mmseg.models.losses import CrossEntropyLoss
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5)
    label = torch.randint(0, 3, (2, 4, 5))
    label[0, :2] = 255
    weight = torch.rand(2, 4, 5)
    ours = DMTLoss(gamma1=G1, gamma2=G2)
    ref = CrossEntropyLoss(avg_non_ignore=True)
    for w in (None, weight):
        a = ours(logits, label, weight=w, ignore_index=255)
        b = ref(logits, label, weight=w, ignore_index=255)
        assert float(a) == pytest.approx(float(b), rel=1e-5)


def test_pseudo_context_manager_clears_on_error():
    model = torch.nn.ModuleDict(
        dict(a=DMTLoss(), b=torch.nn.Sequential(DMTLoss())))
    with pytest.raises(RuntimeError):
        with dmt_pseudo_context(model, torch.ones(1, 2, 2),
                                torch.tensor([True])) as n:
            assert n == 2
            assert model['a'].has_pseudo_context
            assert model['b'][0].has_pseudo_context
            raise RuntimeError('boom')
    assert not model['a'].has_pseudo_context
    assert not model['b'][0].has_pseudo_context


# ---------------------------------------------------------------------------
# as loss_decode of a stock MMSeg decode head
# ---------------------------------------------------------------------------


def _fcn_head_and_batch():
    import mmseg.models  # noqa: F401  registers FCNHead
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='FCNHead',
            in_channels=8,
            channels=8,
            num_convs=1,
            num_classes=3,
            dropout_ratio=0.0,
            loss_decode=dict(type='DMTLoss', gamma1=G1, gamma2=G2)))
    inputs = (torch.randn(2, 8, 4, 4), )
    label = torch.randint(0, 3, (2, 8, 8))
    label[:, 6:, :] = 255  # bottom padding by the data preprocessor
    label[:, :, 7:] = 255  # right padding
    label[0, 0, 0] = 255
    samples = []
    for i in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=label[i:i + 1].clone())
        samples.append(s)
    return head, inputs, label, samples


def _head_logits(head, inputs, size):
    from mmseg.models.utils import resize
    with torch.no_grad():
        logits = head.forward(inputs)
    return resize(
        logits, size=size, mode='bilinear', align_corners=head.align_corners)


@pytest.mark.filterwarnings('ignore:``build_loss`` would be deprecated')
def test_as_fcn_head_loss_decode():
    from mmseg.models.losses import CrossEntropyLoss
    head, inputs, label, samples = _fcn_head_and_batch()
    assert isinstance(head.loss_decode, DMTLoss)

    # without a context: cross entropy over non-ignored pixels
    losses = head.loss(inputs, samples, train_cfg=None)
    assert 'loss_dmt' in losses
    logits = _head_logits(head, inputs, label.shape[1:])
    ce = CrossEntropyLoss(avg_non_ignore=True)(logits, label, ignore_index=255)
    assert float(losses['loss_dmt'].detach()) == pytest.approx(
        float(ce), rel=1e-5)
    assert head.loss_decode.last_stats is None

    # with a context: teacher confidence unpadded (6x7), label padded (8x8)
    conf = torch.rand(2, 6, 7)
    is_pseudo = torch.tensor([False, True])
    head.loss_decode.set_pseudo_context(conf, is_pseudo)
    try:
        losses = head.loss(inputs, samples, train_cfg=None)
    finally:
        head.loss_decode.clear_pseudo_context()
    conf_full = torch.zeros(2, 8, 8)
    conf_full[:, :6, :7] = conf
    expected, stats = dmt_loss(
        logits, label, conf_full, is_pseudo, G1, G2, return_stats=True)
    assert float(losses['loss_dmt'].detach()) == pytest.approx(
        float(expected), rel=1e-5)
    assert float(losses['loss_dmt'].detach()) != pytest.approx(
        float(ce), rel=1e-3)
    assert losses['loss_dmt'].requires_grad
    last = head.loss_decode.last_stats
    assert float(last['dmt_weight']) == pytest.approx(
        float(stats['mean_weight']))
    assert float(last['dmt_disagree']) == pytest.approx(
        float(stats['disagree']))
    assert float(last['dmt_student_wins']) == pytest.approx(
        float(stats['student_wins']))
    assert 0 < float(stats['disagree']) < 1  # the rule was exercised


# ---------------------------------------------------------------------------
# dynamic=False: the ablation without dynamic weights
# ---------------------------------------------------------------------------


def test_loss_not_dynamic_is_plain_ce_with_the_same_diagnostics():
    logits, label, conf, is_pseudo, probs, ys, _ = _mixed_batch()
    loss, stats = dmt_loss(logits, label, conf, is_pseudo, G1, G2,
                           return_stats=True, dynamic=False)
    # every non-ignored target weighs 1: CE averaged over the 5 valid ones
    ce = [-math.log(p[y]) for p, y in zip(probs, ys) if y is not None]
    assert float(loss) == pytest.approx(sum(ce) / 5, rel=1e-6)
    assert float(loss) == pytest.approx(
        float(F.cross_entropy(logits, label, ignore_index=255)), rel=1e-6)
    # the weight applied to the 3 pseudo targets is 1; the rates are those
    # of the dynamic rule (1 disagreement of 3, won by the student)
    _, dyn = dmt_loss(logits, label, conf, is_pseudo, G1, G2,
                      return_stats=True)
    assert float(stats['mean_weight']) == 1.0
    for key in ('disagree', 'student_wins', 'pseudo_ratio'):
        assert float(stats[key]) == float(dyn[key])
    assert float(stats['student_wins']) == pytest.approx(1 / 3)
    assert float(stats['pseudo_ratio']) == pytest.approx(3 / 5)


def test_module_not_dynamic():
    logits, label, conf, is_pseudo, probs, ys, _ = _mixed_batch()
    module = DMTLoss(gamma1=G1, gamma2=G2, dynamic=False)
    assert 'dynamic=False' in repr(module)
    with pytest.raises(TypeError, match='dynamic'):
        DMTLoss(dynamic=1)
    module.set_pseudo_context(conf, is_pseudo)
    out = module(logits, label)
    ce = [-math.log(p[y]) for p, y in zip(probs, ys) if y is not None]
    assert float(out) == pytest.approx(sum(ce) / 5, rel=1e-6)
    assert float(module.last_stats['dmt_weight']) == 1.0
    assert float(module.last_stats['dmt_disagree']) == pytest.approx(1 / 3)
    assert float(module.last_stats['dmt_student_wins']) == pytest.approx(1 /
                                                                         3)


def test_rule_weights_and_masks_in_one_pass():
    logits = torch.tensor([LOGITS_A] * 4)
    label = torch.tensor([0, 1, 2, 255])
    conf = torch.tensor([0.5, 0.5, 0.9, 0.5])
    rule = dmt_rule(logits, label, conf, G1, G2)
    np.testing.assert_allclose(rule.weight.numpy(),
                               [0.6**G1, 0.0, 0.1**G2, 0.0], rtol=1e-6)
    assert rule.valid.tolist() == [True, True, True, False]
    assert rule.disagree.tolist() == [False, True, True, False]
    assert rule.student_wins.tolist() == [False, True, False, False]
    flat = dmt_rule(logits, label, conf, G1, G2, dynamic=False)
    assert flat.weight.tolist() == [1.0, 1.0, 1.0, 0.0]
    assert flat.disagree.tolist() == rule.disagree.tolist()
    stats = dmt_rule_stats(rule, rule.valid)
    assert float(stats['disagree']) == pytest.approx(2 / 3)
    assert float(stats['student_wins']) == pytest.approx(1 / 3)
    # an empty mask gives zeros, not NaN
    empty = dmt_rule_stats(rule, torch.zeros(4, dtype=torch.bool))
    assert all(float(v) == 0.0 for v in empty.values())


# ---------------------------------------------------------------------------
# the hot path: no host-device sync, the rule once per batch
# ---------------------------------------------------------------------------


def test_no_host_sync_guard_catches_the_old_checks():
    logits, label, conf, is_pseudo, *_ = _mixed_batch()
    with no_host_sync(), pytest.raises(AssertionError, match='sync'):
        dmt_loss(logits, label, conf, is_pseudo, G1, G2)  # checked function


def test_module_forward_has_no_host_sync_and_runs_the_rule_once(monkeypatch):
    mod = importlib.import_module('dmt_mm.models.losses.dmt_loss_functional')
    calls = []
    rule = mod.dmt_rule
    monkeypatch.setattr(mod, 'dmt_rule',
                        lambda *a, **k: calls.append(1) or rule(*a, **k))
    logits, label, conf, is_pseudo, *_ = _mixed_batch()
    logits = logits.clone().requires_grad_(True)
    module = DMTLoss(gamma1=G1, gamma2=G2)
    small = conf[:, :, :2]  # unpadded confidence, zero-padded by forward
    expected = dmt_loss(logits, label, F.pad(small, (0, 1)), is_pseudo, G1,
                        G2)
    calls.clear()
    module.set_pseudo_context(small, [False, True])  # host flags
    with no_host_sync():
        out = module(logits, label)
        out.backward()
        module.clear_pseudo_context()
        module(logits, label)  # no context: plain cross entropy
    assert len(calls) == 1
    assert float(out.detach()) == pytest.approx(
        float(expected.detach()), rel=1e-6)
    assert logits.grad is not None
    truth = torch.zeros(small.shape, dtype=torch.long)  # hidden truth
    module.set_pseudo_context(small, [False, True], truth)
    with no_host_sync():  # the weight histogram stays on the device too
        module(logits, label)
    assert module.last_weight_hist is not None


def test_to_device_async_keeps_tensors_already_there():
    from dmt_mm.models.losses.dmt_rule import to_device_async
    t = torch.arange(3)
    assert to_device_async(t, 'cpu') is t
    assert to_device_async(t, torch.device('cpu')) is t
