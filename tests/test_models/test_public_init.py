# Copyright (c) dmt_mm contributors. All rights reserved.
"""Initialisation configs that reproduce the public DMT code's classifiers.

The public code (voldemortX/DST-CBC) never re-initialises its classifiers:
- CIFAR-10 (``classification/models/wideresnet.py``): the final
  ``nn.Linear`` keeps PyTorch's default weight (Kaiming uniform, a = sqrt(5),
  fan-in) and gets a zero bias; dmt_mm's ``DMTClsHead`` defaults to
  Xavier-normal weights.
- DeepLab-v2 (``segmentation/models/segmentation/deeplab.py``, ``ASPP_V2``):
  the ASPP convolutions keep PyTorch's default weight *and* bias
  (uniform in +-1/sqrt(fan_in)) wherever no checkpoint provides them (model
  B, and model A on Cityscapes); dmt_mm's ``ASPPV2Head`` defaults to
  N(0, 0.01) weights and zero bias.
The configs below give the public initialisation.
"""
import math

import torch
import torch.nn as nn

# what docs/paper_settings.md offers for the paper configs
PUBLIC_CLS_HEAD_INIT = dict(
    type='Kaiming',
    layer='Linear',
    a=5**0.5,
    mode='fan_in',
    nonlinearity='leaky_relu',
    distribution='uniform',
    bias=0.)
PUBLIC_ASPP_HEAD_INIT = None  # keep the layers' PyTorch initialisation


def test_cls_head_init_is_pytorch_linear_default_with_zero_bias(
        mmpretrain_scope):
    from mmpretrain.registry import MODELS
    head = MODELS.build(
        dict(
            type='DMTClsHead',
            num_classes=10,
            in_channels=128,
            init_cfg=PUBLIC_CLS_HEAD_INIT))
    head.fc.bias.data.fill_(1.0)
    torch.manual_seed(7)
    head.init_weights()
    torch.manual_seed(7)
    ref = nn.Linear(128, 10)  # PyTorch draws the weight first
    torch.testing.assert_close(head.fc.weight, ref.weight, rtol=0, atol=0)
    assert not head.fc.bias.any()  # the public code zeroes it
    # the default differs: Xavier normal
    default = MODELS.build(
        dict(type='DMTClsHead', num_classes=10, in_channels=128))
    default.init_weights()
    assert default.fc.weight.abs().max() > 1 / math.sqrt(128)


def test_aspp_head_without_init_cfg_keeps_pytorch_default():
    from mmseg.registry import MODELS
    cfg = dict(
        type='ASPPV2Head',
        in_channels=16,
        channels=16,
        num_classes=5,
        dilations=(6, 12))
    head = MODELS.build(dict(cfg, init_cfg=PUBLIC_ASPP_HEAD_INIT))
    before = {k: v.clone() for k, v in head.state_dict().items()}
    head.init_weights()
    bound = 1 / math.sqrt(16 * 3 * 3)  # PyTorch: U(-1/sqrt(fan_in), ...)
    for conv in head.aspp_convs:  # 720 weights fill the range
        assert 0.9 * bound < conv.weight.abs().max() <= bound
        assert conv.bias.abs().max() <= bound and conv.bias.all()
    for k, v in head.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    # the default: N(0, 0.01) weights, zero bias
    default = MODELS.build(cfg)
    default.init_weights()
    for conv in default.aspp_convs:
        assert not conv.bias.any()
        assert abs(conv.weight.std().item() - 0.01) < 0.002
