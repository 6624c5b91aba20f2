# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/model_converters/dst_cbc_coco2mmseg.py on random weights.

The source model is a re-implementation of the public code's DeepLab-v2
(voldemortX/DST-CBC ``deeplab_v2``): torchvision's ResNet-101 with
``replace_stride_with_dilation=[False, True, True]`` and the ASPP-v2
classifier whose forward - like the public code's - returns after adding the
second branch, fed the Caffe input (BGR, 0-255, minus the Caffe mean). Its
state dict is written in both published formats (AdvSemiSeg's
``resnet101COCO`` keys and DST-CBC's ``{'model': ...}``), converted, loaded
into ``configs/_base_/models/deeplabv2_r101.py`` through ``init_cfg`` and fed
the same image through MMSeg's data preprocessor.
"""
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from conftest import REPO, load_tool

conv = load_tool('tools/model_converters/dst_cbc_coco2mmseg.py',
                 'dst_cbc_coco2mmseg')
MODEL_CFG = REPO / 'configs' / '_base_' / 'models' / 'deeplabv2_r101.py'
H, W = 57, 73  # odd sizes: borders of every stride are exercised


class PublicDeepLabV2(nn.Module):
    """DeepLab-v2 as the public code builds and runs it (see module doc)."""

    def __init__(self, num_classes=21, depth=101):
        super().__init__()
        import torchvision
        resnet = getattr(torchvision.models, f'resnet{depth}')(
            weights=None, replace_stride_with_dilation=[False, True, True])
        self.backbone = nn.Sequential(
            OrderedDict((k, getattr(resnet, k))
                        for k in ('conv1', 'bn1', 'relu', 'maxpool', 'layer1',
                                  'layer2', 'layer3', 'layer4')))
        self.convs = nn.ModuleList(
            nn.Conv2d(2048, num_classes, 3, padding=d, dilation=d)
            for d in (6, 12, 18, 24))
        with torch.no_grad():  # non-trivial BN statistics
            g = torch.Generator().manual_seed(1)
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    n = m.num_features
                    m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                    m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                if isinstance(m, nn.Conv2d) and m.bias is not None:
                    nn.init.normal_(m.weight, std=0.01)
                    nn.init.normal_(m.bias, std=0.5)

    def forward(self, x, branches=2):
        feat = self.backbone(x)
        out = self.convs[0](feat)
        for c in self.convs[1:branches]:
            out = out + c(feat)
        return out

    def advsemiseg_state_dict(self):
        """Keys of AdvSemiSeg's resnet101COCO-41f33a49.pth."""
        out = OrderedDict()
        for k, v in self.backbone.state_dict().items():
            if not k.endswith('num_batches_tracked'):
                out[k] = v.clone()
        for i, c in enumerate(self.convs):
            out[f'layer5.conv2d_list.{i}.weight'] = c.weight.detach().clone()
            out[f'layer5.conv2d_list.{i}.bias'] = c.bias.detach().clone()
        return out

    def dst_cbc_checkpoint(self):
        """The public code's voc_coco_resnet101.pt layout."""
        sd = OrderedDict()
        for k, v in self.backbone.state_dict().items():
            sd['backbone.' + k] = v.clone()
        for i, c in enumerate(self.convs):
            sd[f'classifier.0.convs.{i}.weight'] = c.weight.detach().clone()
            sd[f'classifier.0.convs.{i}.bias'] = c.bias.detach().clone()
        return dict(model=sd, optimizer=None, lr_scheduler=None)


def public_input(rgb: np.ndarray) -> torch.Tensor:
    """The public code's ``--coco`` input: PIL RGB -> BGR, 0-255, minus the
    Caffe mean, std 1."""
    x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)
    x = x[[2, 1, 0]]  # reverse_channels
    mean = torch.tensor(conv.CAFFE_MEAN_BGR).view(3, 1, 1)
    return (x - mean)[None]


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """Small tensors on a shared 2-core machine: threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def source(_one_thread):
    torch.manual_seed(0)
    net = PublicDeepLabV2().eval()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    with torch.no_grad():
        x = public_input(rgb)
        feat = net.backbone(x)
        outs = [c(feat) for c in net.convs]
        stem = net.backbone.bn1(net.backbone.conv1(x))
    return net, rgb, outs, stem


def build_ours(checkpoint, preprocessor, dilations=(6, 12), num_classes=21):
    """Our DeepLab-v2, initialised from ``checkpoint`` like the configs."""
    from mmengine.logging import MMLogger
    from mmseg.registry import MODELS
    cfg = Config.fromfile(str(MODEL_CFG)).model
    cfg.backbone.norm_cfg = dict(type='BN', requires_grad=True)
    cfg.decode_head.dilations = dilations
    cfg.decode_head.num_classes = num_classes
    cfg.data_preprocessor = preprocessor
    cfg.init_cfg = dict(type='Pretrained', checkpoint=checkpoint)
    model = MODELS.build(cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')  # init_weights logs every parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model.eval()


def our_logits(model, rgb):
    """Through MMSeg's data preprocessor, from the BGR image mmcv loads."""
    bgr = torch.from_numpy(rgb[..., ::-1].copy()).permute(2, 0, 1)
    data = model.data_preprocessor(dict(inputs=[bgr]), False)
    with torch.no_grad():
        return model(data['inputs'], mode='tensor'), data['inputs']


def _convert_file(tmp_path, checkpoint, *args):
    src = tmp_path / 'src.pth'
    dst = tmp_path / 'dst.pth'
    torch.save(checkpoint, src)
    conv.main([str(src), str(dst), *args])
    return str(dst)


@pytest.mark.parametrize('fmt', ['advsemiseg', 'dst_cbc'])
def test_caffe_space_conversion_is_exact(source, tmp_path, fmt):
    net, rgb, outs, _ = source
    ckpt = (
        net.advsemiseg_state_dict()
        if fmt == 'advsemiseg' else net.dst_cbc_checkpoint())
    path = _convert_file(tmp_path, ckpt)
    saved = torch.load(path, weights_only=True)
    assert saved['meta']['input_space'] == 'caffe'
    assert saved['meta']['bgr_to_rgb'] is False
    # the public code's classifier: branches 6 and 12 only
    ours = build_ours(path, conv.CAFFE_PREPROCESSOR)
    logits, _ = our_logits(ours, rgb)
    ref = outs[0] + outs[1]
    assert logits.shape == ref.shape == (1, 21, 8, 10)
    torch.testing.assert_close(
        logits, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    # the same weights as the four-branch DeepLab-v2 of the paper's text
    ours4 = build_ours(path, conv.CAFFE_PREPROCESSOR, (6, 12, 18, 24))
    logits4, _ = our_logits(ours4, rgb)
    ref4 = sum(outs)
    torch.testing.assert_close(
        logits4, ref4, rtol=1e-4, atol=1e-4 * ref4.abs().max().item())


def test_rgb_fold_matches_inside_and_nearly_at_borders(source, tmp_path):
    net, rgb, outs, stem = source
    path = _convert_file(tmp_path, net.advsemiseg_state_dict(),
                         '--input-space', 'rgb')
    saved = torch.load(path, weights_only=True)
    assert saved['meta']['input_space'] == 'rgb'
    assert saved['meta']['mean'] == list(conv.IMAGENET_MEAN_RGB)
    ours = build_ours(path, conv.IMAGENET_PREPROCESSOR)
    logits, inputs = our_logits(ours, rgb)
    # the ImageNet input of torchvision models
    expected = (torch.from_numpy(rgb).permute(2, 0, 1).float() -
                torch.tensor(conv.IMAGENET_MEAN_RGB).view(3, 1, 1)) / \
        torch.tensor(conv.IMAGENET_STD_RGB).view(3, 1, 1)
    torch.testing.assert_close(inputs[0], expected)
    # conv1 + bn1: exact wherever the 7x7 window (padding 3, stride 2)
    # stays inside the image, i.e. output rows/cols 2 .. size-3
    with torch.no_grad():
        ours_stem = ours.backbone.norm1(ours.backbone.conv1(inputs))
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    torch.testing.assert_close(
        ours_stem[inner], stem[inner], rtol=1e-4, atol=1e-3)
    border = (ours_stem - stem).abs().max().item()
    assert 0 < border < 0.05 * stem.abs().max().item()
    # whole network: the border difference (zero padding = ImageNet mean
    # pixel instead of Caffe mean pixel) changes the logits by < 1%
    ref = outs[0] + outs[1]
    rel = ((logits - ref).abs().max() / ref.abs().max()).item()
    assert rel < 1e-2, rel
    agree = (logits.argmax(1) == ref.argmax(1)).float().mean().item()
    assert agree > 0.95


def test_fold_algebra_without_padding(source):
    """Without padding the fold is exact: conv1 on the Caffe input equals
    the folded conv1 on the ImageNet input plus the shift moved into bn1."""
    net, _, _, _ = source
    sd = conv.convert_keys(net.advsemiseg_state_dict())
    folded = conv.fold_caffe_input_to_rgb(sd)
    w, w2 = sd['backbone.conv1.weight'], folded['backbone.conv1.weight']
    x_rgb = torch.rand(1, 3, 15, 15) * 255
    x_caffe = (
        x_rgb[:, [2, 1, 0]] -
        torch.tensor(conv.CAFFE_MEAN_BGR).view(1, 3, 1, 1))
    x_in = ((x_rgb - torch.tensor(conv.IMAGENET_MEAN_RGB).view(1, 3, 1, 1)) /
            torch.tensor(conv.IMAGENET_STD_RGB).view(1, 3, 1, 1))
    y = torch.nn.functional.conv2d(x_caffe.double(), w.double())
    shift = (sd['backbone.bn1.running_mean'] -
             folded['backbone.bn1.running_mean']).double()
    y2 = torch.nn.functional.conv2d(x_in.double(), w2.double()) + \
        shift.view(1, -1, 1, 1)
    torch.testing.assert_close(y, y2, rtol=1e-5, atol=1e-3)
    # only conv1 and bn1's running mean change
    changed = [k for k in sd if not torch.equal(sd[k], folded[k])]
    assert sorted(changed) == [
        'backbone.bn1.running_mean', 'backbone.conv1.weight'
    ]


def test_cityscapes_drops_the_voc_classifier(source, tmp_path):
    net, rgb, outs, _ = source
    path = _convert_file(tmp_path, net.dst_cbc_checkpoint(), '--num-classes',
                         '19')
    state = torch.load(path, weights_only=True)['state_dict']
    assert not any(k.startswith('decode_head') for k in state)
    ours = build_ours(path, conv.CAFFE_PREPROCESSOR, num_classes=19)
    # the backbone is the COCO one, the head its own N(0, 0.01) init
    torch.testing.assert_close(ours.backbone.conv1.weight,
                               net.backbone.conv1.weight)
    assert ours.decode_head.aspp_convs[0].weight.shape[0] == 19
    assert ours.decode_head.aspp_convs[0].bias.abs().max() == 0
    # with 21 classes the head is kept
    kept = conv.convert_keys(net.dst_cbc_checkpoint(), num_classes=21)
    assert 'decode_head.aspp_convs.3.bias' in kept


def test_key_mapping_and_prefixes(source):
    net, _, _, _ = source
    a = conv.convert_keys(net.advsemiseg_state_dict())
    ckpt = net.dst_cbc_checkpoint()
    ckpt['model'] = OrderedDict(
        ('module.' + k, v) for k, v in ckpt['model'].items())  # DDP
    b = conv.convert_keys(ckpt)
    assert set(a) <= set(b)  # b also has num_batches_tracked
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert 'backbone.layer3.22.conv3.weight' in a
    assert 'backbone.layer4.0.downsample.1.running_var' in a
    assert a['decode_head.aspp_convs.2.weight'].shape == (21, 2048, 3, 3)


def test_bad_inputs_are_refused():
    with pytest.raises(TypeError, match='mapping'):
        conv.convert_keys([1, 2])
    with pytest.raises(ValueError, match="unexpected key 'fc.weight'"):
        conv.convert_keys({'fc.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='missing'):
        conv.convert_keys({'conv1.weight': torch.zeros(64, 3, 7, 7)})
    with pytest.raises(ValueError, match="input_space must be 'caffe' or"):
        conv.convert({}, input_space='bgr')
    with pytest.raises(ValueError, match='num_classes'):
        conv.convert_keys({}, num_classes=0)
    with pytest.raises(KeyError, match='conv1.weight'):
        conv.fold_caffe_input_to_rgb({})
