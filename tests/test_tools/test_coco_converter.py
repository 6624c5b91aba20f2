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
the same image through MMSeg's data preprocessor. Training is checked too:
one SGD step of model A of a paper config (a ``DMTSegmentor`` with model A's
own data preprocessor) equals one SGD step of the public model on its Caffe
input.
"""
import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

from conftest import REPO, load_tool

conv = load_tool('tools/model_converters/dst_cbc_coco2mmseg.py',
                 'dst_cbc_coco2mmseg')
MODEL_CFG = REPO / 'configs' / '_base_' / 'models' / 'deeplabv2_r101.py'
# a paper config whose model A is the COCO model and model B the ImageNet one
PAPER_CFG = REPO / 'configs' / 'dmt' / 'dmt_deeplabv2-r101_voc12aug-1-20.py'
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


def public_input(rgb: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """The public code's ``--coco`` input: PIL RGB -> BGR, 0-255, minus the
    Caffe mean, std 1."""
    x = torch.from_numpy(rgb).permute(2, 0, 1).to(dtype)
    x = x[[2, 1, 0]]  # reverse_channels
    # the mean's float32 values, as in any float32 pipeline (and in MMSeg's
    # preprocessor buffers after ``.double()``)
    mean = torch.tensor(conv.CAFFE_MEAN_BGR).to(dtype).view(3, 1, 1)
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


def test_caffe_rgb_is_exact_borders_included(source, tmp_path):
    net, rgb, outs, stem = source
    path = _convert_file(tmp_path, net.advsemiseg_state_dict(),
                         '--input-space', 'caffe-rgb')
    saved = torch.load(path, weights_only=True)
    assert saved['meta']['input_space'] == 'caffe-rgb'
    assert saved['meta']['mean'] == list(conv.CAFFE_MEAN_RGB)
    assert saved['meta']['std'] == [1.0, 1.0, 1.0]
    assert saved['meta']['bgr_to_rgb'] is True
    ours = build_ours(path, conv.CAFFE_RGB_PREPROCESSOR)
    logits, inputs = our_logits(ours, rgb)
    # RGB, 0-255, minus the Caffe mean in RGB order, std 1
    expected = (torch.from_numpy(rgb).permute(2, 0, 1).float() -
                torch.tensor(conv.CAFFE_MEAN_RGB).view(3, 1, 1))
    torch.testing.assert_close(inputs[0], expected)
    # the stem everywhere, borders included (zero padding is the Caffe mean
    # pixel in both), and the logits
    with torch.no_grad():
        ours_stem = ours.backbone.norm1(ours.backbone.conv1(inputs))
    torch.testing.assert_close(ours_stem, stem, rtol=1e-5, atol=1e-4)
    ref = outs[0] + outs[1]
    torch.testing.assert_close(
        logits, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_channel_flip_is_a_permutation(source):
    """Only conv1 changes, by reversing its input channels: no scale."""
    net, _, _, _ = source
    sd = conv.convert_keys(net.advsemiseg_state_dict())
    flipped = conv.convert(net.advsemiseg_state_dict(), 'caffe-rgb')
    w = sd['backbone.conv1.weight']
    assert torch.equal(flipped['backbone.conv1.weight'], w[:, [2, 1, 0]])
    changed = [k for k in sd if not torch.equal(sd[k], flipped[k])]
    assert changed == ['backbone.conv1.weight']


# ----------------------------------------------------------------------------
# One SGD step: the converted model A of a paper config, preprocessed by its
# own data preprocessor, against the public model on the Caffe input, in
# float64 and from bit-identical inputs: this random network with BN in
# training mode on two small images is ill-conditioned, float32 rounding
# (e.g. summing conv1's input channels in another order) changes its conv1
# gradient by a few percent.
LR, MOMENTUM, WD = 0.01, 0.9, 5e-4  # an SGD step with momentum and decay
TH, TW = 41, 49


@pytest.fixture(scope='module')
def step_data():
    """Two training images with labels (some ignored), one test image."""
    rng = np.random.default_rng(3)
    rgbs = [rng.integers(0, 256, (TH, TW, 3), dtype=np.uint8)
            for _ in range(3)]
    labels = [rng.integers(0, 21, (TH, TW)) for _ in range(2)]
    for lab in labels:
        lab[:3] = 255
    return rgbs, labels


def _public_step(net, step_data):
    """The public code's step: Caffe input, CE over the non-ignored pixels
    of the bilinearly upsampled logits, SGD."""
    rgbs, labels = step_data
    net = copy.deepcopy(net).double().train()
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM,
                          weight_decay=WD)
    x = torch.cat([public_input(r, torch.float64) for r in rgbs[:2]])
    y = torch.from_numpy(np.stack(labels)).long()
    logits = F.interpolate(net(x), (TH, TW), mode='bilinear',
                           align_corners=False)
    loss = F.cross_entropy(logits, y, ignore_index=255)
    opt.zero_grad()
    loss.backward()
    opt.step()
    net.eval()
    with torch.no_grad():
        out = F.interpolate(net(public_input(rgbs[2], torch.float64)),
                            (TH, TW),
                            mode='bilinear', align_corners=False)[0]
    return net.backbone.conv1.weight.detach().clone(), out


def _model_a(checkpoint, preprocessor=None):
    """The DMTSegmentor of PAPER_CFG at test size in float64, model A from
    ``checkpoint``, with the config's data preprocessor for A unless
    ``preprocessor`` (model B: random)."""
    from mmengine.logging import MMLogger
    from mmseg.registry import MODELS
    cfg = Config.fromfile(str(PAPER_CFG)).model
    seg = cfg.segmentor
    seg.backbone.norm_cfg = dict(type='BN', requires_grad=True)
    seg.data_preprocessor.size = (TH, TW)  # no padding
    seg.data_preprocessor.test_cfg = None
    cfg.model_overrides.A.init_cfg.checkpoint = checkpoint
    if preprocessor is not None:
        cfg.model_overrides.A.data_preprocessor = preprocessor
    cfg.model_overrides.B.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    # the preprocessors' mean/std too: uint8 -> float - mean in float64,
    # bit for bit the reference's input
    return model.double()


def _our_step(model, step_data):
    """One ``train_step`` of the active model, then its ``test_step``."""
    from mmengine.optim import OptimWrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    rgbs, labels = step_data

    def sample(rgb, label=None):
        s = SegDataSample()
        s.set_metainfo(dict(img_shape=(TH, TW), ori_shape=(TH, TW)))
        if label is not None:
            s.gt_sem_seg = PixelData(data=torch.from_numpy(label)[None])
        bgr = torch.from_numpy(rgb[..., ::-1].copy()).permute(2, 0, 1)
        return bgr, s  # the BGR uint8 image mmcv loads

    batch = [sample(r, lab) for r, lab in zip(rgbs[:2], labels)]
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                          weight_decay=WD)
    model.train_step(
        dict(inputs=[b[0] for b in batch],
             data_samples=[b[1] for b in batch]), OptimWrapper(opt))
    model.eval()
    img, s = sample(rgbs[2])
    (pred, ) = model.test_step(dict(inputs=[img], data_samples=[s]))
    conv1 = model.student.backbone.conv1.weight.detach().clone()
    return conv1, pred.seg_logits.data


@pytest.mark.parametrize('space', ['caffe', 'caffe-rgb'])
def test_one_sgd_step_matches_the_public_code(source, step_data, tmp_path,
                                              space):
    """Model A's effective first-layer weights move as in the public code
    (not ~58^2 times more slowly, as with the std folded into conv1), and
    its outputs after the step match."""
    net = source[0]
    path = _convert_file(tmp_path, net.advsemiseg_state_dict(),
                         '--input-space', space)
    # 'caffe': the paper config's own preprocessor for model A
    model = _model_a(
        path, None if space == 'caffe' else conv.CAFFE_RGB_PREPROCESSOR)
    assert model.active_name == 'A'
    to_caffe = (lambda w: w) if space == 'caffe' else (lambda w: w.flip(1))
    w0 = net.backbone.conv1.weight.detach().double()
    assert torch.equal(
        to_caffe(model.student.backbone.conv1.weight.detach()), w0)
    ref_w, ref_out = _public_step(net, step_data)
    w, out = _our_step(model, step_data)
    ref_delta, delta = ref_w - w0, to_caffe(w) - w0
    assert ref_delta.abs().max() > 1e-2  # the step does move conv1
    torch.testing.assert_close(
        delta, ref_delta, rtol=0, atol=1e-6 * ref_delta.abs().max())
    torch.testing.assert_close(
        out, ref_out, rtol=0, atol=1e-6 * ref_out.abs().max())


def test_folding_the_std_into_conv1_would_freeze_it(source, step_data,
                                                    tmp_path):
    """The removed ``rgb`` output (W' = W.flip(1) * std, ImageNet input):
    the same function, but the effective weights W'/std move about std^2
    (~3,400) times more slowly. This is what the test above rules out."""
    net = source[0]
    sd = conv.convert_keys(net.advsemiseg_state_dict())
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    sd['backbone.conv1.weight'] = sd['backbone.conv1.weight'].flip(1) * std
    path = str(tmp_path / 'folded.pth')
    torch.save(dict(state_dict=sd), path)
    imagenet = dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True)
    model = _model_a(path, imagenet)
    w0 = net.backbone.conv1.weight.detach().double()
    ref_delta = _public_step(net, step_data)[0] - w0
    w = _our_step(model, step_data)[0]
    delta = (w / std).flip(1) - w0
    ratio = (ref_delta.norm() / delta.norm()).item()
    assert 2000 < ratio < 5000, ratio


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
    with pytest.raises(ValueError, match='input_space must be one of'):
        conv.convert({}, input_space='bgr')
    with pytest.raises(ValueError, match="'rgb' .* was removed"):
        conv.convert({}, input_space='rgb')
    with pytest.raises(ValueError, match='num_classes'):
        conv.convert_keys({}, num_classes=0)
    with pytest.raises(KeyError, match='conv1.weight'):
        conv.flip_input_channels({})
    with pytest.raises(SystemExit):
        conv.main(['src.pth', 'dst.pth', '--input-space', 'rgb'])
