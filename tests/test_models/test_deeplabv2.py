# Copyright (c) dmt_mm contributors. All rights reserved.
"""DeepLab-v2: ASPPV2Head, the ResNet-101 config and the torchvision weight
converter."""
import copy
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torchvision.models import resnet18, resnet101

from dmt_mm.models.decode_heads.aspp_v2_head import ASPPV2Head

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_PATH = osp.join(ROOT, 'configs', '_base_', 'models', 'deeplabv2_r101.py')
CONVERTER_PATH = osp.join(ROOT, 'tools', 'model_converters',
                          'torchvision2mmseg.py')


def _load_converter():
    spec = importlib.util.spec_from_file_location('torchvision2mmseg',
                                                  CONVERTER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_converter()


def _randomize_bn(model, seed=0):
    """Give every BN distinct affine params and running stats, so that a
    mismatched BN mapping would change the features."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)


def _torchvision_features(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def _seg_samples(n, h, w, num_classes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        label = torch.randint(0, num_classes, (1, h, w), generator=gen)
        label[:, :2, :] = 255  # a band of ignored pixels
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label)
        sample.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w)))
        samples.append(sample)
    return samples


@pytest.fixture(scope='module')
def cfg():
    # dmt_mm's package __init__ is not needed here: the head module is
    # imported above by its path, which registers ASPPV2Head.
    return Config.fromfile(CFG_PATH, import_custom_modules=False)


@pytest.fixture(scope='module')
def r101_pair(cfg):
    """torchvision ResNet-101 (OS 8) and our backbone with its weights."""
    torch.manual_seed(0)
    tv = resnet101(
        weights=None, replace_stride_with_dilation=[False, True, True])
    _randomize_bn(tv)
    tv.eval()
    from mmengine.registry import DefaultScope
    # module-scoped: build under mmseg's scope whatever scope a previous
    # test file's Runner left current
    with DefaultScope.overwrite_default_scope('mmseg'):
        ours = MODELS.build(copy.deepcopy(cfg.model.backbone))
    ours.load_state_dict(
        converter.convert_torchvision_resnet(tv.state_dict()), strict=True)
    ours.eval()
    return tv, ours


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------
def test_config_is_a_clean_diff_over_the_mmseg_base(cfg):
    model = cfg.model
    assert model.type == 'EncoderDecoder'
    assert model.pretrained is None
    assert model.auxiliary_head is None
    backbone = model.backbone
    assert backbone.type == 'ResNet'
    assert backbone.depth == 101
    assert backbone.deep_stem is False
    assert tuple(backbone.strides) == (1, 2, 1, 1)
    assert tuple(backbone.dilations) == (1, 1, 2, 4)
    assert backbone.contract_dilation is True
    assert tuple(backbone.out_indices) == (3, )
    assert backbone.norm_eval is False
    head = model.decode_head
    assert head.type == 'ASPPV2Head'
    assert tuple(head.dilations) == (6, 12, 18, 24)
    assert head.in_channels == 2048 and head.num_classes == 21
    # _delete_ dropped the DeepLab-v3 head's keys
    assert 'norm_cfg' not in head
    assert head.dropout_ratio == 0.0
    # ImageNet mean/std in RGB from the base
    pre = model.data_preprocessor
    assert pre.type == 'SegDataPreProcessor'
    assert pre.mean == [123.675, 116.28, 103.53]
    assert pre.std == [58.395, 57.12, 57.375]
    assert pre.bgr_to_rgb is True


# --------------------------------------------------------------------------
# backbone vs torchvision
# --------------------------------------------------------------------------
def test_r101_matches_torchvision_dilated_resnet(r101_pair):
    tv, ours = r101_pair
    x = torch.randn(1, 3, 65, 65, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = ours(x)
        expected = _torchvision_features(tv, x)
    assert isinstance(feats, tuple) and len(feats) == 1
    assert feats[0].shape == (1, 2048, 9, 9)  # output stride 8
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(
        feats[0], expected, rtol=1e-4, atol=1e-4 * max(1.0, scale))


def test_r101_layout_matches_torchvision(r101_pair):
    tv, ours = r101_pair
    n_tv = sum(p.numel() for n, p in tv.named_parameters()
               if not n.startswith('fc.'))
    n_ours = sum(p.numel() for p in ours.parameters())
    assert n_ours == n_tv == 42_500_160
    # every conv has torchvision's stride, dilation and padding
    tv_convs = {
        n: m
        for n, m in tv.named_modules() if isinstance(m, nn.Conv2d)
    }
    our_convs = {
        n: m
        for n, m in ours.named_modules() if isinstance(m, nn.Conv2d)
    }
    assert tv_convs.keys() == our_convs.keys()
    for name, conv in tv_convs.items():
        mine = our_convs[name]
        assert (mine.stride, mine.dilation, mine.padding) == \
            (conv.stride, conv.dilation, conv.padding), name
    # the first block of a dilated stage uses the previous dilation
    assert ours.layer3[0].conv2.dilation == (1, 1)
    assert ours.layer3[1].conv2.dilation == (2, 2)
    assert ours.layer4[0].conv2.dilation == (2, 2)
    assert ours.layer4[2].conv2.dilation == (4, 4)


# --------------------------------------------------------------------------
# converter
# --------------------------------------------------------------------------
def test_convert_drops_fc_and_unwraps():
    sd = resnet18(weights=None).state_dict()
    out = converter.convert_torchvision_resnet(sd)
    assert list(out) == [k for k in sd if not k.startswith('fc.')]
    assert all(out[k] is sd[k] for k in out)
    wrapped = {'module.' + k: v for k, v in sd.items()}
    for ckpt in (dict(state_dict=wrapped), dict(model=sd)):
        again = converter.convert_torchvision_resnet(ckpt)
        assert list(again) == list(out)


@pytest.mark.parametrize(
    'bad, exc',
    [([1, 2], TypeError),
     (dict(weight=torch.zeros(1)), ValueError),
     ({'conv1.weight': torch.zeros(1)}, ValueError),
     ({'conv1.weight': torch.zeros(1), 'bn1.weight': 3,
       'layer1.0.conv1.weight': torch.zeros(1)}, ValueError)])
def test_convert_rejects_non_resnet(bad, exc):
    with pytest.raises(exc):
        converter.convert_torchvision_resnet(bad)


def test_cli_output_loads_through_pretrained_init_cfg(tmp_path):
    torch.manual_seed(0)
    tv = resnet18(weights=None)
    _randomize_bn(tv, seed=3)
    src = tmp_path / 'resnet18_tv.pth'
    dst = tmp_path / 'out' / 'resnet18_mmseg.pth'
    torch.save(dict(model=tv.state_dict()), src)
    converter.main([str(src), str(dst)])

    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'}
    assert not any(k.startswith('fc.') for k in ckpt['state_dict'])

    backbone = MODELS.build(
        dict(
            type='ResNet',
            depth=18,
            init_cfg=dict(type='Pretrained', checkpoint=str(dst))))
    backbone.init_weights()  # mmengine's PretrainedInit path
    expected = tv.state_dict()
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, expected[key]), key
    # the converted keys cover the backbone exactly (strict matching)
    backbone.load_state_dict(ckpt['state_dict'], strict=True)


# --------------------------------------------------------------------------
# ASPPV2Head
# --------------------------------------------------------------------------
def test_head_is_registered_and_has_no_conv_seg():
    head = MODELS.build(
        dict(type='ASPPV2Head', in_channels=8, channels=4, num_classes=3))
    assert isinstance(head, ASPPV2Head)
    assert not hasattr(head, 'conv_seg')
    assert head.dropout is None
    assert head.dilations == (6, 12, 18, 24)
    names = [n for n, _ in head.named_parameters()]
    assert names == [
        f'aspp_convs.{i}.{p}' for i in range(4) for p in ('weight', 'bias')
    ]
    for conv, d in zip(head.aspp_convs, head.dilations):
        assert conv.kernel_size == (3, 3)
        assert conv.dilation == (d, d) and conv.padding == (d, d)
        assert conv.in_channels == 8 and conv.out_channels == 3


def test_head_output_is_sum_of_dilated_convs():
    torch.manual_seed(0)
    head = ASPPV2Head(
        in_channels=5, channels=7, num_classes=4, dilations=(1, 2, 3, 6))
    head.init_weights()
    with torch.no_grad():
        for conv in head.aspp_convs:  # non-zero biases for the check
            conv.bias.normal_()
    x = torch.randn(2, 5, 11, 13)
    out = head((torch.zeros(1), x))  # in_index=-1 picks the last feature
    assert out.shape == (2, 4, 11, 13)
    expected = sum(
        F.conv2d(x, c.weight, c.bias, padding=d, dilation=d)
        for c, d in zip(head.aspp_convs, (1, 2, 3, 6)))
    torch.testing.assert_close(out, expected)


def test_head_large_dilation_reduces_to_center_taps():
    """On a 9x9 map (ResNet OS 8 on a 65x65 crop) a 3x3 conv with dilation
    >= 9 sees only its centre tap: the head is a 1x1 conv whose weight is the
    sum of the centre taps."""
    torch.manual_seed(0)
    head = ASPPV2Head(
        in_channels=6, channels=1, num_classes=3, dilations=(12, 18, 24))
    head.init_weights()
    with torch.no_grad():
        for conv in head.aspp_convs:
            conv.bias.normal_()
    x = torch.randn(1, 6, 9, 9)
    with torch.no_grad():
        out = head([x])
    w = sum(c.weight[:, :, 1, 1] for c in head.aspp_convs)  # (3, 6)
    b = sum(c.bias for c in head.aspp_convs)
    expected = torch.einsum('oc,nchw->nohw', w, x) + b.view(1, 3, 1, 1)
    torch.testing.assert_close(out, expected)


def test_head_init_normal_001_bias_zero():
    torch.manual_seed(0)
    head = ASPPV2Head(in_channels=256, channels=512, num_classes=21)
    head.init_weights()
    for conv in head.aspp_convs:
        w = conv.weight
        assert abs(w.mean().item()) < 1e-3
        assert w.std().item() == pytest.approx(0.01, rel=0.05)
        assert torch.count_nonzero(conv.bias) == 0


def test_head_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    head = ASPPV2Head(
        in_channels=8, channels=8, num_classes=3, dilations=(1, 2))
    head.init_weights()
    x = torch.randn(2, 8, 5, 5)
    # labels at 4x the feature size, as in training (loss resizes logits)
    losses = head.loss([x], _seg_samples(2, 20, 20, 3), train_cfg=dict())
    assert set(losses) == {'loss_ce', 'acc_seg'}
    losses['loss_ce'].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    'dilations', [(), [], 6, None, (0, ), (6, -1), (6.0, 12), (True, ),
                  ('6', )])
def test_head_invalid_dilations_raise(dilations):
    with pytest.raises(ValueError, match='dilations'):
        ASPPV2Head(
            in_channels=4, channels=4, num_classes=2, dilations=dilations)


def test_head_accepts_list_and_rejects_multi_input():
    head = ASPPV2Head(
        in_channels=4, channels=4, num_classes=3, dilations=[1, 2])
    assert head.dilations == (1, 2)
    with pytest.raises(ValueError, match='input_transform'):
        ASPPV2Head(
            in_channels=[4, 4],
            channels=4,
            num_classes=3,
            in_index=[0, 1],
            input_transform='multiple_select')


# --------------------------------------------------------------------------
# the whole segmentor
# --------------------------------------------------------------------------
def test_encoder_decoder_r18_loss_reaches_every_parameter(cfg):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.depth = 18
    model_cfg.decode_head.in_channels = 512
    model_cfg.decode_head.num_classes = 3
    # as in every mmseg task config: the preprocessor pads to the crop size
    model_cfg.data_preprocessor.size = (33, 33)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    # mmseg's ResNet zero-initialises the last BN of each block when trained
    # from scratch; give it non-zero scales so every weight gets a gradient.
    with torch.no_grad():
        for m in model.backbone.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.fill_(1.0)
    model.train()

    gen = torch.Generator().manual_seed(0)
    imgs = [
        torch.randint(0, 256, (3, 33, 33), generator=gen, dtype=torch.uint8)
        for _ in range(2)
    ]
    data = model.data_preprocessor(
        dict(inputs=imgs, data_samples=_seg_samples(2, 33, 33, 3)),
        training=True)
    assert data['inputs'].shape == (2, 3, 33, 33)

    feats = model.extract_feat(data['inputs'])
    assert len(feats) == 1 and feats[0].shape == (2, 512, 5, 5)  # OS 8

    losses = model(**data, mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    loss = losses['decode.loss_ce']
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
