# Copyright (c) dmt_mm contributors. All rights reserved.
"""WideResNet backbone (WRN-28-2 of DMT's CIFAR-10 experiments)."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import DefaultScope

from dmt_mm.models.backbones.wide_resnet import WideBasicBlock, WideResNet


def _build(cfg):
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


def test_wrn_28_2_parameter_count_and_shapes():
    model = _build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='WideResNet', depth=28, widen_factor=2),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=128)))
    # 1,466,320 in the backbone + 128 * 10 + 10 in the linear head.
    assert _num_params(model.backbone) == 1_466_320
    assert _num_params(model) == 1_467_610
    assert 1.46e6 <= _num_params(model) <= 1.48e6
    assert model.backbone.out_channels == 128
    assert model.backbone.num_blocks == 4

    x = torch.rand(2, 3, 32, 32)
    feats = model.backbone(x)
    assert isinstance(feats, tuple) and len(feats) == 1
    assert feats[0].shape == (2, 128, 8, 8)
    # The final BN + ReLU: non-negative features.
    assert feats[0].min() >= 0
    assert model(x, mode='tensor').shape == (2, 10)


def test_depth_and_widen_factor_counts():
    # Conv weights only: a stem of 3*16*9 and per stage 2 3x3 convs per
    # block plus a 1x1 shortcut where the shape changes.
    for depth, k in ((10, 1), (16, 4), (28, 2)):
        net = WideResNet(depth=depth, widen_factor=k)
        n = (depth - 4) // 6
        widths = [16, 16 * k, 32 * k, 64 * k]
        convs = 3 * 16 * 9
        bn = 0
        for s in range(3):
            cin, cout = widths[s], widths[s + 1]
            convs += cin * cout * 9 + cout * cout * 9 + (n - 1) * 2 * (
                cout * cout * 9)
            if cin != cout or s > 0:
                convs += cin * cout
            bn += 2 * (cin + cout) + (n - 1) * 4 * cout
        bn += 2 * widths[3]
        assert _num_params(net) == convs + bn, (depth, k)


def test_out_indices():
    net = WideResNet(depth=10, widen_factor=1, out_indices=(0, 1, -1))
    outs = net(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 32, 32), (1, 32, 16, 16),
                                              (1, 64, 8, 8)]
    with pytest.raises(ValueError, match='out_indices'):
        WideResNet(depth=10, out_indices=(3, ))


@pytest.mark.parametrize('depth', [27, 26, 4, 8])
def test_bad_depth_raises(depth):
    with pytest.raises(ValueError, match=f'depth={depth}'):
        WideResNet(depth=depth)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='widen_factor=0'):
        WideResNet(widen_factor=0)
    with pytest.raises(TypeError, match='widen_factor'):
        WideResNet(widen_factor=2.0)
    with pytest.raises(TypeError, match='depth'):
        WideResNet(depth='28')
    with pytest.raises(ValueError, match='drop_rate'):
        WideResNet(drop_rate=1.0)
    with pytest.raises(ValueError, match='bn_momentum'):
        WideResNet(bn_momentum=0.0)
    with pytest.raises(ValueError, match='activate_before_residual'):
        WideResNet(activate_before_residual='none')


def test_leaky_relu_and_bn_momentum_config():
    net = _build(
        dict(
            type='WideResNet',
            depth=10,
            widen_factor=2,
            act_cfg=dict(type='LeakyReLU', negative_slope=0.1),
            bn_momentum=0.001))
    acts = [m for m in net.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 2 * 3 + 1
    assert all(a.negative_slope == 0.1 for a in acts)
    assert not any(type(m) is nn.ReLU for m in net.modules())
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.001 for m in bns)

    # One training forward moves the running mean by 0.001 of the batch
    # mean (PyTorch convention), here checked on the first block's BN.
    x = torch.randn(4, 3, 32, 32)
    net.train()
    with torch.no_grad():
        stem = net.conv1(x)
        net(x)
    bn1 = net.layer1[0].bn1
    expected = 0.001 * stem.mean(dim=(0, 2, 3))
    torch.testing.assert_close(bn1.running_mean, expected)
    # Leaky features can be negative inside the network: the final map goes
    # through the leaky activation, so its minimum is >= 0.1 * min pre-act.
    assert net(x)[0].min() < 0


def test_default_is_public_code_relu_and_momentum():
    net = WideResNet(depth=10)
    assert any(type(m) is nn.ReLU for m in net.modules())
    assert all(m.momentum == 0.1 for m in net.modules()
               if isinstance(m, nn.BatchNorm2d))
    assert net.activate_before_residual == 'all'


def _manual_block(block, x, act, shortcut_input):
    """Pre-activation block written out with functional ops (eval mode)."""

    def bn(m, t):
        return F.batch_norm(t, m.running_mean, m.running_var, m.weight, m.bias,
                            False, 0.0, m.eps)

    pre = act(bn(block.bn1, x))
    out = block.conv2(act(bn(block.bn2, block.conv1(pre))))
    if block.shortcut is None:
        return x + out
    return block.shortcut(pre if shortcut_input == 'pre' else x) + out


def _randomise_bn(module):
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + .5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))


def test_block_structure_by_hand():
    act = nn.ReLU()
    x = torch.randn(2, 8, 6, 6)
    identity = WideBasicBlock(8, 8, 1, 0.0, dict(type='ReLU'), 0.1).eval()
    _randomise_bn(identity)
    assert identity.shortcut is None
    torch.testing.assert_close(
        identity(x), _manual_block(identity, x, act, None))

    for abr, expected_input in ((True, 'pre'), (False, 'raw')):
        block = WideBasicBlock(8, 16, 2, 0.0, dict(type='ReLU'), 0.1,
                               abr).eval()
        _randomise_bn(block)
        assert block.shortcut.kernel_size == (1, 1)
        assert block.shortcut.stride == (2, 2)
        out = block(x)
        assert out.shape == (2, 16, 3, 3)
        torch.testing.assert_close(
            out, _manual_block(block, x, act, expected_input))


def test_activate_before_residual_variants():
    net_all = WideResNet(depth=10, activate_before_residual='all')
    net_first = WideResNet(depth=10, activate_before_residual='first')
    assert [
        b.activate_before_residual
        for b in (net_all.layer1[0], net_all.layer2[0], net_all.layer3[0])
    ] == [True, True, True]
    assert [
        b.activate_before_residual
        for b in (net_first.layer1[0], net_first.layer2[0],
                  net_first.layer3[0])
    ] == [True, False, False]
    # Same parameters, different function.
    net_first.load_state_dict(net_all.state_dict())
    _randomise_bn(net_all)
    _randomise_bn(net_first)
    net_all.eval()
    net_first.eval()
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(net_all(x)[0], net_first(x)[0])


def test_init_weights():
    net = WideResNet(depth=28, widen_factor=2)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(3.0)
            m.bias.data.fill_(2.0)
    net.init_weights()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    # Kaiming normal, fan_out, ReLU gain: std = sqrt(2 / (out * 3 * 3)).
    conv = net.layer3[1].conv1
    std = conv.weight.std().item()
    expected = math.sqrt(2.0 / (128 * 9))
    assert abs(std - expected) / expected < 0.03
    assert abs(conv.weight.mean().item()) < 0.1 * expected


def test_dropout_only_in_training():
    net = WideResNet(depth=10, widen_factor=1, drop_rate=0.5)
    x = torch.randn(2, 3, 32, 32)
    net.eval()
    torch.testing.assert_close(net(x)[0], net(x)[0])
    net.train()
    torch.manual_seed(0)
    a = net(x)[0]
    torch.manual_seed(1)
    b = net(x)[0]
    assert not torch.allclose(a, b)
