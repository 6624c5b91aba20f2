# Copyright (c) dmt_mm contributors. All rights reserved.
"""Convert the COCO-pretrained DeepLab-v2 of DMT's public code for MMSeg.

DMT (arXiv:2004.08514, code voldemortX/DST-CBC) initialises its COCO models
from the MS-COCO-pretrained DeepLab-v2 ResNet-101 released with AdvSemiSeg
(``resnet101COCO-41f33a49.pth``, a port of the original Caffe model), loaded
into a torchvision-layout ResNet-101 (dilations 2/4, output stride 8) plus
the ASPP-v2 classifier. This script accepts either

* the AdvSemiSeg file itself (keys ``conv1.weight``, ``layer1.0.conv1.weight``
  ..., ``layer5.conv2d_list.{0..3}.{weight,bias}``), or
* the public code's converted ``voc_coco_resnet101.pt`` /
  ``city_coco_resnet101.pt`` (``{'model': state_dict}`` with keys
  ``backbone.*`` and ``classifier.0.convs.{0..3}.*``; ``module.`` prefixes
  are removed),

and writes an mmengine checkpoint ``{'state_dict': ..., 'meta': ...}`` whose
keys match ``configs/_base_/models/deeplabv2_r101.py`` (``backbone.*`` and
``decode_head.aspp_convs.{i}.*``), to be loaded with
``model.init_cfg = dict(type='Pretrained', checkpoint=...)``.

Input spaces. The Caffe model takes **BGR** images in **0-255** minus the
Caffe mean ``(104.008, 116.669, 122.675)`` (BGR), std 1. Both outputs are
this exact model; neither folds a scale into trainable weights:

* ``--input-space caffe`` (default): weights unchanged; use with
  :data:`CAFFE_PREPROCESSOR` (``bgr_to_rgb=False``, that mean, std 1). This
  is what the paper configs use (model A of VOC 1/50, 1/20, 1/8 and
  Cityscapes gets it through ``model_overrides.A.data_preprocessor``; both
  models of VOC 1/106 and the oracles through the segmentor's).
* ``--input-space caffe-rgb``: the input channels of ``conv1`` reversed (a
  permutation: BGR -> RGB), for pipelines that feed RGB; use with
  :data:`CAFFE_RGB_PREPROCESSOR` (``bgr_to_rgb=True``, the Caffe mean in RGB
  order, std 1). Exact everywhere, borders included, and SGD moves the
  permuted weights exactly as it moves the originals.

An earlier ``rgb`` output folded the ImageNet std (about 58) into ``conv1``
so that the COCO model could share the ImageNet preprocessor of model B.
With a BN in training mode after ``conv1`` that makes SGD move the effective
first-layer weights about 58^2 (~3,400) times more slowly than the public
code does, so it was removed: a DMT model with another input normalisation
gets its own data preprocessor instead (``DMTSegmentor``).

Usage::

    python tools/model_converters/dst_cbc_coco2mmseg.py \
        resnet101COCO-41f33a49.pth pretrain/deeplabv2_coco_caffe_mmseg.pth

The classifier has 21 outputs (VOC classes); ``--num-classes 19``
(Cityscapes) drops it, so the decode head keeps its own initialisation.
"""
import argparse
import io
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Mapping, Optional, Sequence

import torch

try:
    import dmt_mm  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from dmt_mm.utils.checkpoint import load_checkpoint_safely
from dmt_mm.utils.pseudo_label_io import atomic_write_bytes

#: Caffe DeepLab-v2 input: BGR, 0-255, minus this mean (BGR order), std 1.
CAFFE_MEAN_BGR = (104.008, 116.669, 122.675)
CAFFE_MEAN_RGB = CAFFE_MEAN_BGR[::-1]

#: MMSeg data preprocessor of ``--input-space caffe`` checkpoints (mmcv
#: loads images as BGR, so no channel swap).
CAFFE_PREPROCESSOR = dict(
    type='SegDataPreProcessor',
    mean=list(CAFFE_MEAN_BGR),
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255)
#: MMSeg data preprocessor of ``--input-space caffe-rgb`` checkpoints.
CAFFE_RGB_PREPROCESSOR = dict(
    type='SegDataPreProcessor',
    mean=list(CAFFE_MEAN_RGB),
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
#: ``--input-space`` value -> the data preprocessor its checkpoint needs.
PREPROCESSORS = {'caffe': CAFFE_PREPROCESSOR,
                 'caffe-rgb': CAFFE_RGB_PREPROCESSOR}

_BACKBONE_ROOTS = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.',
                   'layer4.')
_HEAD_PATTERNS = (
    re.compile(r'^layer5\.conv2d_list\.(\d+)\.(weight|bias)$'),  # AdvSemiSeg
    re.compile(r'^classifier\.0\.convs\.(\d+)\.(weight|bias)$'),  # DST-CBC
)
_REQUIRED = ('backbone.conv1.weight', 'backbone.bn1.running_mean',
             'backbone.layer1.0.conv1.weight',
             'backbone.layer4.0.downsample.0.weight')


def _unwrap(checkpoint: Mapping) -> Mapping:
    for key in ('model', 'state_dict'):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            return checkpoint[key]
    return checkpoint


def convert_keys(state_dict: Mapping,
                 num_classes: Optional[int] = None) -> 'OrderedDict':
    """Rename a DST-CBC / AdvSemiSeg DeepLab-v2 state dict for MMSeg.

    Args:
        state_dict (Mapping[str, Tensor]): Either format described in the
            module docstring (a checkpoint dict holding it under ``'model'``
            or ``'state_dict'`` is unwrapped).
        num_classes (int, optional): Classes of the target decode head. If
            given and different from the checkpoint's classifier, the
            classifier is dropped. Defaults to None (kept).

    Returns:
        OrderedDict[str, Tensor]: Keys ``backbone.*`` and
        ``decode_head.aspp_convs.{i}.{weight,bias}``.

    Raises:
        TypeError: If ``state_dict`` is not a mapping.
        ValueError: On keys that belong to neither format, or a missing
            ResNet-101 part.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError('state_dict must be a mapping, but got '
                        f'{type(state_dict).__name__}')
    if num_classes is not None and (not isinstance(num_classes, int)
                                    or num_classes < 1):
        raise ValueError(
            f'num_classes must be a positive int, got {num_classes!r}')
    state_dict = _unwrap(state_dict)
    out = OrderedDict()
    head = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'value of {key!r} must be a tensor, got '
                             f'{type(value).__name__}')
        if key.startswith('backbone.'):
            key = key[len('backbone.'):]
        if key.startswith(_BACKBONE_ROOTS):
            out['backbone.' + key] = value
            continue
        for pattern in _HEAD_PATTERNS:
            m = pattern.match(key)
            if m:
                head[f'decode_head.aspp_convs.{m.group(1)}.{m.group(2)}'] = \
                    value
                break
        else:
            raise ValueError(
                'not a DST-CBC/AdvSemiSeg DeepLab-v2 state dict: unexpected '
                f'key {key!r}')
    missing = [k for k in _REQUIRED if k not in out]
    if missing:
        raise ValueError('not a DST-CBC/AdvSemiSeg DeepLab-v2 state dict: '
                         f'missing {missing}')
    if head:
        classes = {int(v.shape[0]) for k, v in head.items()}
        if len(classes) != 1:
            raise ValueError(f'classifier branches disagree on the number of '
                             f'classes: {sorted(classes)}')
        if num_classes is None or classes == {num_classes}:
            out.update(head)
    return out


def flip_input_channels(state_dict: Mapping,
                        prefix: str = 'backbone.') -> 'OrderedDict':
    """Make the Caffe model take RGB input: reverse ``conv1``'s input channels.

    ``conv1(x_bgr) = conv1'(x_rgb)`` with ``W'[:, c] = W[:, 2 - c]``, exact
    (zero padding included) when ``x_rgb`` is ``x_bgr`` with its channels
    reversed, i.e. with :data:`CAFFE_RGB_PREPROCESSOR`. A permutation, not a
    scale: SGD (momentum and weight decay included) moves ``W'`` exactly as
    the permuted ``W``.

    Args:
        state_dict (Mapping[str, Tensor]): Converted state dict (MMSeg keys).
        prefix (str): Prefix of the ResNet keys. Defaults to ``'backbone.'``.

    Returns:
        OrderedDict[str, Tensor]: A copy with ``conv1.weight`` replaced.
    """
    w_key = prefix + 'conv1.weight'
    if w_key not in state_dict:
        raise KeyError(f'{w_key!r} not in the state dict')
    weight = state_dict[w_key]
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise ValueError(f'{w_key} must have shape (C, 3, kh, kw), got '
                         f'{tuple(weight.shape)}')
    out = OrderedDict(state_dict)
    out[w_key] = weight.flip(1).contiguous()
    return out


def convert(state_dict: Mapping,
            input_space: str = 'caffe',
            num_classes: Optional[int] = None) -> 'OrderedDict':
    """Convert keys and, for ``input_space='caffe-rgb'``, flip ``conv1``.

    Args:
        state_dict (Mapping[str, Tensor]): The source state dict/checkpoint.
        input_space (str): ``'caffe'`` (unchanged weights, BGR 0-255 minus
            the Caffe mean) or ``'caffe-rgb'`` (the same model fed RGB 0-255
            minus the Caffe mean in RGB order). Defaults to ``'caffe'``.
        num_classes (int, optional): See :func:`convert_keys`.

    Returns:
        OrderedDict[str, Tensor]: The MMSeg state dict.
    """
    if input_space == 'rgb':
        raise ValueError(
            "input_space 'rgb' (the ImageNet std folded into conv1) was "
            'removed: it slows SGD on conv1 by about 3,400x. Use '
            "'caffe' (or 'caffe-rgb') and give the model its own data "
            'preprocessor (DMTSegmentor: model_overrides[name].'
            'data_preprocessor)')
    if input_space not in PREPROCESSORS:
        raise ValueError(f'input_space must be one of {list(PREPROCESSORS)}'
                         f', got {input_space!r}')
    out = convert_keys(state_dict, num_classes)
    if input_space == 'caffe-rgb':
        out = flip_input_channels(out)
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description='Convert the COCO-pretrained DeepLab-v2 of DMT\'s '
        'public code (or AdvSemiSeg\'s resnet101COCO file) into an mmengine '
        'checkpoint for configs/_base_/models/deeplabv2_r101.py.')
    parser.add_argument(
        'src',
        help='resnet101COCO-41f33a49.pth or '
        'voc_coco_resnet101.pt / city_coco_resnet101.pt')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument(
        '--input-space',
        default='caffe',
        help='caffe: unchanged (BGR, 0-255, Caffe mean, std 1); caffe-rgb: '
        'conv1 input channels reversed for RGB input (RGB, 0-255, Caffe mean '
        'in RGB order, std 1) (default: caffe)')
    parser.add_argument(
        '--num-classes',
        type=int,
        default=None,
        help='classes of the target model; the 21-class classifier is '
        'dropped when they differ (e.g. 19 for Cityscapes)')
    args = parser.parse_args(argv)

    if args.input_space not in PREPROCESSORS:
        try:
            convert({}, args.input_space)
        except ValueError as e:
            parser.error(str(e))
    checkpoint = load_checkpoint_safely(args.src, map_location='cpu')
    state_dict = convert(checkpoint, args.input_space, args.num_classes)
    preprocessor = PREPROCESSORS[args.input_space]
    meta = dict(
        converted_from=osp.basename(args.src),
        converter='tools/model_converters/dst_cbc_coco2mmseg.py',
        input_space=args.input_space,
        mean=list(preprocessor['mean']),
        std=list(preprocessor['std']),
        bgr_to_rgb=preprocessor['bgr_to_rgb'])
    buf = io.BytesIO()
    torch.save(dict(state_dict=state_dict, meta=meta), buf)
    atomic_write_bytes(args.dst, buf.getvalue())
    has_head = any(k.startswith('decode_head.') for k in state_dict)
    print(f'Saved {len(state_dict)} tensors ({args.input_space} input, '
          f'classifier {"kept" if has_head else "dropped"}) to {args.dst}')


if __name__ == '__main__':
    main()
