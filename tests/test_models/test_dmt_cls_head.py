# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMT classification: mixup loss, sample weights, head and classifier."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

import dmt_mm.models.backbones.wide_resnet  # noqa: F401
from dmt_mm.models.classifiers.dmt_image_classifier import DMTImageClassifier
from dmt_mm.models.heads.dmt_cls_head import (DMTClsHead, dmt_mixup_loss,
                                              mix_batch, ramp_gamma,
                                              unpack_cls_targets)
from dmt_mm.models.losses.dmt_loss import dmt_loss


def _build(cfg):
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def _np_log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def _np_softmax(z):
    return np.exp(_np_log_softmax(z))


def _np_weights(logits, labels, conf, is_pseudo, g1, g2):
    """The DMT rule written out in numpy (labelled samples 1)."""
    p = _np_softmax(logits)
    w = np.ones(len(labels))
    for i, (y, c, ps) in enumerate(zip(labels, conf, is_pseudo)):
        if not ps:
            continue
        d, cs, py = p[i].argmax(), p[i].max(), p[i, y]
        if d == y:
            w[i] = py**g1
        elif cs > c:
            w[i] = 0.0
        else:
            w[i] = py**g2
    return w


def _np_mixup_loss(logits, labels, w, perm, lam):
    ls = _np_log_softmax(logits)
    n = len(labels)
    labels = np.asarray(labels)
    perm = np.asarray(perm)
    ce_a = -ls[np.arange(n), labels]
    ce_b = -ls[np.arange(n), labels[perm]]
    w = np.asarray(w, dtype=np.float64)
    w_mix = lam * w + (1 - lam) * w[perm]
    return float((w_mix * (lam * ce_a + (1 - lam) * ce_b)).sum() / n)


# --------------------------------------------------------------- pure parts


def test_dmt_mixup_loss_by_hand():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-0.5, 1.5,
                                                               0.0]])
    labels = torch.tensor([0, 2, 1])
    weights = torch.tensor([1.0, 0.25, 0.5])
    perm = torch.tensor([2, 0, 1])
    lam = 0.7
    # Written out for sample 0: w_mix = 0.7 * 1 + 0.3 * 0.5 = 0.85,
    # CE(y=0) and CE(y[perm][0] = y[2] = 1).
    lse0 = math.log(math.exp(2.0) + math.exp(0.5) + math.exp(-1.0))
    term0 = 0.85 * (0.7 * (lse0 - 2.0) + 0.3 * (lse0 - 0.5))
    lse1 = math.log(math.exp(0.1) + math.exp(0.2) + math.exp(0.3))
    # sample 1: w_mix = 0.7 * .25 + 0.3 * 1 = .475; y = 2, y[perm[1]] = 0
    term1 = 0.475 * (0.7 * (lse1 - 0.3) + 0.3 * (lse1 - 0.1))
    lse2 = math.log(math.exp(-0.5) + math.exp(1.5) + math.exp(0.0))
    # sample 2: w_mix = 0.7 * .5 + 0.3 * .25 = .425; y = 1, y[perm[2]] = 2
    term2 = 0.425 * (0.7 * (lse2 - 1.5) + 0.3 * (lse2 - 0.0))
    expected = (term0 + term1 + term2) / 3
    loss = dmt_mixup_loss(logits, labels, weights, perm, lam)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert loss.item() == pytest.approx(
        _np_mixup_loss(logits.numpy(), labels.numpy(), weights.numpy(),
                       perm.numpy(), lam),
        rel=1e-6)


def test_dmt_mixup_loss_reduces_to_weighted_ce_and_has_no_weight_grad():
    torch.manual_seed(0)
    logits = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    weights = torch.rand(6, requires_grad=True)
    ident = torch.arange(6)
    loss = dmt_mixup_loss(logits, labels, weights, ident, 0.6)
    # identity perm: lam drops out
    expected = (weights.detach() *
                F.cross_entropy(logits, labels, reduction='none')).mean()
    torch.testing.assert_close(loss, expected)
    loss1 = dmt_mixup_loss(logits, labels, weights, torch.randperm(6), 1.0)
    torch.testing.assert_close(loss1, expected)
    loss.backward()
    assert weights.grad is None
    assert logits.grad is not None


def test_dmt_mixup_loss_argument_errors():
    logits = torch.zeros(3, 4)
    labels = torch.tensor([0, 1, 2])
    w = torch.ones(3)
    with pytest.raises(ValueError, match='permutation'):
        dmt_mixup_loss(logits, labels, w, torch.tensor([0, 0, 1]), 0.5)
    with pytest.raises(ValueError, match='lam'):
        dmt_mixup_loss(logits, labels, w, torch.arange(3), 1.5)
    with pytest.raises(ValueError, match=r'\[7\]'):
        dmt_mixup_loss(logits, torch.tensor([0, 7, 1]), w, torch.arange(3),
                       0.5)
    with pytest.raises(ValueError, match='weights'):
        dmt_mixup_loss(logits, labels, torch.ones(4), torch.arange(3), 0.5)
    with pytest.raises(TypeError, match='labels'):
        dmt_mixup_loss(logits, labels.float(), w, torch.arange(3), 0.5)


def test_mix_batch_properties():
    rng = np.random.default_rng(0)
    n = 9
    x = torch.arange(
        n, dtype=torch.float64).view(n, 1, 1, 1).expand(n, 2, 3,
                                                        3).contiguous()
    lams = []
    for _ in range(200):
        mixed, perm, lam = mix_batch(x, alpha=0.75, generator=rng)
        lams.append(lam)
        assert 0.5 <= lam <= 1.0
        assert sorted(perm.tolist()) == list(range(n))
        assert perm.dtype == torch.long
        torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    # Beta(0.75, 0.75) folded onto [0.5, 1] has mean about 0.78.
    assert 0.72 < float(np.mean(lams)) < 0.84
    assert min(lams) < 0.6 and max(lams) > 0.95

    # Same generator state -> same lam and perm.
    a = mix_batch(x, alpha=0.75, generator=np.random.default_rng(5))
    b = mix_batch(x, alpha=0.75, generator=np.random.default_rng(5))
    assert a[2] == b[2] and torch.equal(a[1], b[1])
    # Global RNGs when no generator is given.
    np.random.seed(3)
    torch.manual_seed(3)
    c = mix_batch(x)
    np.random.seed(3)
    torch.manual_seed(3)
    d = mix_batch(x)
    assert c[2] == d[2] and torch.equal(c[1], d[1])


def test_mix_batch_perm_is_the_one_applied_to_weights():
    """Recover the partner of every sample from the mixed inputs and check
    the loss mixes the weights and labels with that same partner."""
    rng = np.random.default_rng(1)
    n = 6
    x = torch.arange(n, dtype=torch.float64).view(n, 1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    weights = torch.tensor([1.0, 0.0, 0.5, 0.2, 1.0, 0.9])
    mixed, perm, lam = mix_batch(x, labels, weights, 0.75, rng)
    assert lam < 1.0
    partner = torch.round((mixed[:, 0] - lam * x[:, 0]) / (1 - lam)).long()
    assert torch.equal(partner, perm)
    logits = torch.randn(n, 3, dtype=torch.float64)
    expected = _np_mixup_loss(logits.numpy(), labels.numpy(), weights.numpy(),
                              partner.numpy(), lam)
    loss = dmt_mixup_loss(logits, labels, weights, perm, lam)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_mix_batch_errors():
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match='alpha'):
        mix_batch(x, alpha=0.0)
    with pytest.raises(ValueError, match='weights'):
        mix_batch(x, weights=torch.ones(5))
    with pytest.raises(TypeError, match='generator'):
        mix_batch(x, generator=torch.Generator())


def test_ramp_gamma_values():
    assert ramp_gamma(4.0, 0, 100) == pytest.approx(4.0 * math.exp(-5))
    assert ramp_gamma(4.0, 100, 100) == pytest.approx(4.0)
    assert ramp_gamma(4.0, 50, 100) == pytest.approx(4.0 * math.exp(-1.25))
    assert ramp_gamma(4.0, 250, 100) == pytest.approx(4.0)
    values = [ramp_gamma(3.0, t, 10) for t in range(11)]
    assert values == sorted(values)
    with pytest.raises(ValueError, match='total'):
        ramp_gamma(4.0, 1, 0)
    with pytest.raises(ValueError, match='gamma_max'):
        ramp_gamma(-1.0, 1, 10)


# ------------------------------------------------------------------ the head


def _head(**kwargs):
    cfg = dict(type='DMTClsHead', num_classes=3, in_channels=4)
    cfg.update(kwargs)
    return _build(cfg)


def test_dmt_sample_weights_by_hand():
    head = _head(gamma1=2.0, gamma2=3.0)
    logits = torch.tensor([
        [2.0, 0.0, 0.0],  # pseudo y=0, agree -> p0 ** 2
        [3.0, 0.0, 0.0],  # pseudo y=1, disagree, c_s > c_t -> 0
        [0.5, 0.0, 0.0],  # pseudo y=2, disagree, c_s <= c_t -> p2 ** 3
        [5.0, 0.0, 0.0],  # labelled y=1 (would be a student win) -> 1
        [0.0, 0.0, 1.0],  # labelled y=2 -> 1
    ])
    labels = torch.tensor([0, 1, 2, 1, 2])
    conf = torch.tensor([0.9, 0.5, 0.95, 0.1, 0.1])
    is_pseudo = torch.tensor([True, True, True, False, False])
    w, stats = head.dmt_sample_weights(
        logits, labels, conf, is_pseudo, return_stats=True)
    p = _np_softmax(logits.numpy())
    expected = [p[0, 0]**2, 0.0, p[2, 2]**3, 1.0, 1.0]
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(
        w.numpy(),
        _np_weights(logits.numpy(), labels.numpy(), conf.numpy(),
                    is_pseudo.numpy(), 2.0, 3.0),
        rtol=1e-6)
    assert not w.requires_grad
    assert stats['dmt_weight'].item() == pytest.approx(
        (p[0, 0]**2 + p[2, 2]**3) / 3, rel=1e-6)
    assert stats['dmt_disagree'].item() == pytest.approx(2 / 3)
    assert stats['dmt_student_wins'].item() == pytest.approx(1 / 3)
    assert stats['dmt_pseudo_ratio'].item() == pytest.approx(3 / 5)

    # Labelled samples always weigh 1, whatever is in teacher_conf.
    w_lab = head.dmt_sample_weights(logits, labels, None,
                                    torch.zeros(5, dtype=torch.bool))
    torch.testing.assert_close(w_lab, torch.ones(5))
    with pytest.raises(ValueError, match='teacher_conf is None'):
        head.dmt_sample_weights(logits, labels, None, is_pseudo)


def test_head_gamma_attributes_and_checks():
    head = _head(gamma1=4.0, gamma2=2.0)
    assert (head.gamma1, head.gamma2) == (4.0, 2.0)
    head.set_gamma_progress(0, 10)
    assert head.gamma1 == pytest.approx(4 * math.exp(-5))
    assert head.gamma2 == pytest.approx(2 * math.exp(-5))
    assert head.gamma1_max == 4.0
    assert _head(mixup_alpha=0).mixup_alpha is None
    assert not _head(mixup_alpha=None).use_mixup
    with pytest.raises(ValueError, match='gamma1'):
        _head(gamma1=-1.0)
    with pytest.raises(TypeError, match='loss'):
        _head(loss=dict(type='CrossEntropyLoss'))


def _samples(labels, pseudo, conf):
    out = []
    for y, ps, c in zip(labels, pseudo, conf):
        ds = DataSample(metainfo=dict(is_pseudo=ps)).set_gt_label(int(y))
        if c is not None:
            ds.teacher_conf = c
        out.append(ds)
    return out


def test_unpack_cls_targets():
    ds = _samples([1, 2, 0], [True, False, True],
                  [0.8, None, torch.tensor([0.4])])
    labels, conf, is_pseudo = unpack_cls_targets(ds, 'cpu')
    assert labels.tolist() == [1, 2, 0]
    assert is_pseudo.tolist() == [True, False, True]
    torch.testing.assert_close(conf, torch.tensor([0.8, 1.0, 0.4]))
    labels, conf, is_pseudo = unpack_cls_targets(
        _samples([1, 2], [False, False], [None, None]), 'cpu')
    assert conf is None and not is_pseudo.any()
    with pytest.raises(KeyError, match='teacher_conf'):
        unpack_cls_targets(_samples([1], [True], [None]), 'cpu')
    with pytest.raises(ValueError, match='1.5'):
        unpack_cls_targets(_samples([1], [True], [1.5]), 'cpu')
    only_score = DataSample().set_gt_score(torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match='gt_score'):
        unpack_cls_targets([only_score], 'cpu')


def test_head_unmixed_loss_matches_shared_dmt_loss():
    head = _head(gamma1=2.0, gamma2=2.0, cal_acc=True)
    torch.manual_seed(0)
    feats = (torch.randn(5, 4), )
    labels = [0, 1, 2, 1, 0]
    pseudo = [True, True, False, True, False]
    conf = [0.7, 0.99, None, 0.2, None]
    losses = head.loss(feats, _samples(labels, pseudo, conf))
    logits = head(feats)
    conf_t = torch.tensor([0.7, 0.99, 0.0, 0.2, 0.0])
    expected = dmt_loss(
        logits.detach(),
        torch.tensor(labels),
        conf_t,
        torch.tensor(pseudo),
        2.0,
        2.0,
        ignore_index=-100)
    torch.testing.assert_close(losses['loss'], expected)
    w = _np_weights(logits.detach().numpy(), labels, conf_t.numpy(), pseudo,
                    2.0, 2.0)
    assert losses['loss'].item() == pytest.approx(
        _np_mixup_loss(logits.detach().numpy(), labels, w, np.arange(5), 1.0),
        rel=1e-6)
    assert 'accuracy_top-1' in losses
    for key in ('dmt_weight', 'dmt_disagree', 'dmt_student_wins'):
        assert not losses[key].requires_grad
    # No pseudo sample: plain cross entropy, no statistics.
    plain = head.loss(feats, _samples(labels, [False] * 5, [None] * 5))
    torch.testing.assert_close(plain['loss'],
                               F.cross_entropy(logits, torch.tensor(labels)))
    assert 'dmt_weight' not in plain


# ------------------------------------------------------------ the classifier


def _classifier(**kwargs):
    head = dict(
        type='DMTClsHead',
        num_classes=4,
        in_channels=64,
        gamma1=2.0,
        gamma2=2.0,
        mixup_alpha=0.75)
    head.update(kwargs.pop('head', {}))
    cfg = dict(
        type='DMTImageClassifier',
        backbone=dict(type='WideResNet', depth=10, widen_factor=1),
        neck=dict(type='GlobalAveragePooling'),
        head=head)
    cfg.update(kwargs)
    model = _build(cfg)
    model.init_weights()
    model.train()
    return model


def _batch():
    torch.manual_seed(7)
    x = torch.randn(6, 3, 32, 32)
    labels = [0, 1, 2, 3, 1, 2]
    pseudo = [True, True, True, True, False, False]
    conf = [0.9, 0.3, 0.6, 0.27, None, None]
    return x, labels, pseudo, conf


def test_classifier_loss_equals_manual_composition():
    model = _classifier()
    reference = copy.deepcopy(model)
    x, labels, pseudo, conf = _batch()
    np.random.seed(11)
    torch.manual_seed(11)
    losses = model.loss(x, _samples(labels, pseudo, conf))

    # By hand: un-mixed no-grad forward (train mode: batch statistics),
    # numpy DMT weights, the same lam/perm, mixed forward, numpy loss.
    with torch.no_grad():
        logits_u = copy.deepcopy(reference)(x, mode='tensor').numpy()
    conf_np = np.array([c if c is not None else 1.0 for c in conf])
    w = _np_weights(logits_u, labels, conf_np, pseudo, 2.0, 2.0)
    np.random.seed(11)
    torch.manual_seed(11)
    mixed, perm, lam = mix_batch(x, alpha=0.75)
    logits_m = reference(mixed, mode='tensor')
    expected = _np_mixup_loss(logits_m.detach().numpy(), labels, w,
                              perm.numpy(), lam)
    assert losses['loss'].item() == pytest.approx(expected, rel=1e-5)
    assert losses['loss'].requires_grad
    p_w = w[:4]
    assert losses['dmt_weight'].item() == pytest.approx(p_w.mean(), rel=1e-5)
    assert losses['dmt_pseudo_ratio'].item() == pytest.approx(4 / 6)
    assert losses['dmt_gamma1'].item() == pytest.approx(2.0)
    for k, v in losses.items():
        if k != 'loss':
            assert not v.requires_grad and 'loss' not in k

    # BN running statistics are updated once, by the mixed forward only.
    for (name, a), b in zip(model.named_buffers(), reference.buffers()):
        torch.testing.assert_close(a, b, msg=name)


def test_weight_bn_modes():
    x, labels, pseudo, conf = _batch()
    tracked = {}
    for mode in ('batch', 'train', 'eval'):
        model = _classifier(weight_bn_mode=mode)
        model.loss(x, _samples(labels, pseudo, conf))
        tracked[mode] = int(model.backbone.norm_out.num_batches_tracked)
        assert model.training and model.backbone.training
        assert all(m.track_running_stats for m in model.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
    assert tracked == dict(batch=1, train=2, eval=1)
    with pytest.raises(ValueError, match='weight_bn_mode'):
        _classifier(weight_bn_mode='frozen')


def test_eval_mode_weights_use_running_stats():
    model = _classifier(weight_bn_mode='eval')
    x, labels, pseudo, conf = _batch()
    with torch.no_grad():
        model.eval()
        logits_eval = model(x, mode='tensor')
        model.train()
    head = model.head
    seen = {}
    original = head.sample_weights

    def spy(logits, *args, **kwargs):
        seen['logits'] = logits.clone()
        return original(logits, *args, **kwargs)

    head.sample_weights = spy
    model.loss(x, _samples(labels, pseudo, conf))
    torch.testing.assert_close(seen['logits'], logits_eval)


def test_labelled_only_without_mixup_is_plain_ce():
    model = _classifier(head=dict(mixup_alpha=None))
    x, labels, _, _ = _batch()
    losses = model.loss(x, _samples(labels, [False] * 6, [None] * 6))
    assert set(losses) == {'loss'}
    reference = copy.deepcopy(model)
    logits = reference(x, mode='tensor')
    torch.testing.assert_close(losses['loss'],
                               F.cross_entropy(logits, torch.tensor(labels)))


def test_no_mixup_with_pseudo_uses_same_forward_weights():
    model = _classifier(head=dict(mixup_alpha=0))
    x, labels, pseudo, conf = _batch()
    reference = copy.deepcopy(model)
    losses = model.loss(x, _samples(labels, pseudo, conf))
    assert int(model.backbone.norm_out.num_batches_tracked) == 1
    logits = reference(x, mode='tensor').detach().numpy()
    conf_np = np.array([c if c is not None else 1.0 for c in conf])
    w = _np_weights(logits, labels, conf_np, pseudo, 2.0, 2.0)
    assert losses['loss'].item() == pytest.approx(
        _np_mixup_loss(logits, labels, w, np.arange(6), 1.0), rel=1e-5)


def test_labelled_only_with_mixup_skips_weight_forward():
    model = _classifier()
    reference = copy.deepcopy(model)
    x, labels, _, _ = _batch()
    np.random.seed(2)
    torch.manual_seed(2)
    losses = model.loss(x, _samples(labels, [False] * 6, [None] * 6))
    assert set(losses) == {'loss'}
    assert int(model.backbone.norm_out.num_batches_tracked) == 1
    np.random.seed(2)
    torch.manual_seed(2)
    mixed, perm, lam = mix_batch(x)
    logits = reference(mixed, mode='tensor').detach().numpy()
    assert losses['loss'].item() == pytest.approx(
        _np_mixup_loss(logits, labels, np.ones(6), perm.numpy(), lam),
        rel=1e-5)


def test_classifier_gamma_and_train_step():
    from mmengine.optim import OptimWrapper
    model = _classifier()
    # The head owns the ramp; the classifier has no copy of it.
    assert not hasattr(model, 'set_gamma_progress')
    assert not hasattr(model, 'gamma1')
    model.head.set_gamma_progress(0, 100)
    assert model.head.gamma1 == pytest.approx(2.0 * math.exp(-5))
    assert model.head.gamma2 == pytest.approx(2.0 * math.exp(-5))
    model.head.gamma1 = 1.5

    x, labels, pseudo, conf = _batch()
    data = dict(
        inputs=[(img * 40 + 128).clamp(0, 255).to(torch.uint8) for img in x],
        data_samples=_samples(labels, pseudo, conf))
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    before = model.head.fc.weight.detach().clone()
    log_vars = model.train_step(data, optim)
    assert not torch.equal(before, model.head.fc.weight)
    assert log_vars['dmt_gamma1'].item() == pytest.approx(1.5)
    assert math.isfinite(log_vars['loss'].item())
    for key in ('dmt_weight', 'dmt_disagree', 'dmt_student_wins'):
        assert key in log_vars


def test_classifier_rejects_batch_augments_and_other_heads():
    with pytest.raises(ValueError, match='augments'):
        _classifier(train_cfg=dict(augments=dict(type='Mixup', alpha=0.8)))
    with pytest.raises(TypeError, match='DMTClsHead'):
        _build(
            dict(
                type='DMTImageClassifier',
                backbone=dict(type='WideResNet', depth=10, widen_factor=1),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=4,
                          in_channels=64)))
    assert isinstance(_classifier(), DMTImageClassifier)
    assert isinstance(_classifier().head, DMTClsHead)


# ----------------------------------------- dynamic=False and the hot path


def test_head_not_dynamic_weights_one_same_diagnostics():
    logits = torch.tensor([
        [2.0, 0.0, 0.0],  # pseudo y=0, agree
        [3.0, 0.0, 0.0],  # pseudo y=1, disagree, student wins
        [0.5, 0.0, 0.0],  # pseudo y=2, disagree, teacher more confident
        [5.0, 0.0, 0.0],  # labelled
    ])
    labels = torch.tensor([0, 1, 2, 1])
    conf = torch.tensor([0.9, 0.5, 0.95, 1.0])
    is_pseudo = torch.tensor([True, True, True, False])
    flat = _head(gamma1=2.0, gamma2=3.0, dynamic=False)
    dyn = _head(gamma1=2.0, gamma2=3.0)
    w, stats = flat.dmt_sample_weights(
        logits, labels, conf, is_pseudo, return_stats=True)
    _, dyn_stats = dyn.dmt_sample_weights(
        logits, labels, conf, is_pseudo, return_stats=True)
    assert w.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert stats['dmt_weight'].item() == 1.0
    assert stats['dmt_disagree'].item() == pytest.approx(2 / 3)
    assert stats['dmt_student_wins'].item() == pytest.approx(1 / 3)
    for key in ('dmt_disagree', 'dmt_student_wins', 'dmt_pseudo_ratio'):
        assert stats[key].item() == dyn_stats[key].item()
    # the un-mixed loss is plain cross entropy over the batch
    feats = (torch.randn(4, 4), )
    samples = _samples([0, 1, 2, 1], [True, True, True, False],
                       [0.9, 0.5, 0.95, None])
    losses = flat.loss(feats, samples)
    torch.testing.assert_close(
        losses['loss'],
        F.cross_entropy(flat(feats), torch.tensor([0, 1, 2, 1])))
    assert losses['dmt_weight'].item() == 1.0
    with pytest.raises(TypeError, match='dynamic'):
        _head(dynamic='no')


def test_classifier_not_dynamic_mixes_labels_with_weight_one():
    model = _classifier(head=dict(dynamic=False))
    reference = copy.deepcopy(model)
    dynamic = _classifier()
    dynamic.load_state_dict(model.state_dict())
    x, labels, pseudo, conf = _batch()
    np.random.seed(4)
    torch.manual_seed(4)
    losses = model.loss(x, _samples(labels, pseudo, conf))
    np.random.seed(4)
    torch.manual_seed(4)
    dyn = dynamic.loss(x, _samples(labels, pseudo, conf))
    np.random.seed(4)
    torch.manual_seed(4)
    mixed, perm, lam = mix_batch(x, alpha=0.75)
    logits = reference(mixed, mode='tensor').detach().numpy()
    assert losses['loss'].item() == pytest.approx(
        _np_mixup_loss(logits, labels, np.ones(6), perm.numpy(), lam),
        rel=1e-5)
    assert losses['dmt_weight'].item() == 1.0
    assert dyn['dmt_weight'].item() < 1.0
    for key in ('dmt_disagree', 'dmt_student_wins', 'dmt_pseudo_ratio'):
        assert losses[key].item() == pytest.approx(dyn[key].item())


@pytest.mark.parametrize('mixup_alpha', [0.75, None])
def test_classifier_loss_no_host_sync_rule_once(monkeypatch, mixup_alpha):
    import importlib

    from sync_guard import no_host_sync
    head_module = importlib.import_module('dmt_mm.models.heads.dmt_cls_head')
    calls = []
    rule = head_module.dmt_rule
    monkeypatch.setattr(head_module, 'dmt_rule',
                        lambda *a, **k: calls.append(1) or rule(*a, **k))
    model = _classifier(head=dict(mixup_alpha=mixup_alpha))
    x, labels, pseudo, conf = _batch()
    samples = _samples(labels, pseudo, conf)
    with no_host_sync():
        losses = model.loss(x, samples)
        losses['loss'].backward()
        # a labelled-only batch takes the other branch, also without a sync
        model.loss(x, _samples(labels, [False] * 6, [None] * 6))
    assert len(calls) == 1
    assert losses['dmt_gamma1'].item() == pytest.approx(2.0)
    assert model.head.fc.weight.grad is not None
