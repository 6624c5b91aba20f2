# Copyright (c) dmt_mm contributors. All rights reserved.
"""Wide residual network (WRN) backbone for 32x32 images.

Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016
(arXiv:1605.07146). WRN-28-2 is the network of the CIFAR-10 experiments of
DMT (Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
Learning", Pattern Recognition 2022, arXiv:2004.08514) and of most
semi-supervised classification papers (MixMatch, FixMatch, ...).
"""
import numbers
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS
from torch import Tensor

#: Values of ``activate_before_residual`` (see :class:`WideResNet`).
ACTIVATE_BEFORE_RESIDUAL_MODES = ('all', 'first')


class WideBasicBlock(nn.Module):
    """Pre-activation basic block of a wide residual network.

    Residual branch: ``BN - act - conv3x3(stride) - BN - act - dropout -
    conv3x3``. The shortcut is the identity when input and output shapes
    agree, else a 1x1 convolution with the block's stride.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the first 3x3 convolution and of the 1x1
            shortcut.
        drop_rate (float): Dropout probability between the two convolutions.
        act_cfg (dict): Activation config for mmcv's
            ``build_activation_layer``.
        bn_momentum (float): Momentum of the BN layers (PyTorch convention).
        activate_before_residual (bool): Only used when the shape changes.
            True: the shortcut convolution sees the activated input
            ``act(BN(x))`` (shared with the residual branch). False: it sees
            the raw input ``x``.

    Shapes:
        ``(N, in_channels, H, W)`` -> ``(N, out_channels, H / stride,
        W / stride)``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int,
                 drop_rate: float,
                 act_cfg: dict,
                 bn_momentum: float,
                 activate_before_residual: bool = True) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=bn_momentum)
        self.act1 = build_activation_layer(act_cfg)
        self.conv1 = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size=3,
            stride=stride,
            padding=1,
            bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=bn_momentum)
        self.act2 = build_activation_layer(act_cfg)
        self.conv2 = nn.Conv2d(
            out_channels,
            out_channels,
            kernel_size=3,
            stride=1,
            padding=1,
            bias=False)
        self.drop_rate = float(drop_rate)
        self.equal_in_out = in_channels == out_channels and stride == 1
        if self.equal_in_out:
            self.shortcut = None
        else:
            self.shortcut = nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size=1,
                stride=stride,
                padding=0,
                bias=False)
        self.activate_before_residual = bool(activate_before_residual)

    def forward(self, x: Tensor) -> Tensor:
        """Forward ``(N, C_in, H, W)`` -> ``(N, C_out, H', W')``."""
        pre = self.act1(self.bn1(x))
        out = self.act2(self.bn2(self.conv1(pre)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        if self.shortcut is None:
            identity = x
        elif self.activate_before_residual:
            identity = self.shortcut(pre)
        else:
            identity = self.shortcut(x)
        return identity + out


@MODELS.register_module()
class WideResNet(BaseBackbone):
    """Wide residual network (WRN-depth-k) for 32x32 inputs.

    Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016
    (arXiv:1605.07146). DMT (Feng et al., arXiv:2004.08514) uses WRN-28-2 for
    CIFAR-10, as do MixMatch and FixMatch.

    Layout: a 3x3 stem convolution to 16 channels, three stages of
    ``(depth - 4) / 6`` pre-activation basic blocks (:class:`WideBasicBlock`)
    of widths ``16k, 32k, 64k`` (``k = widen_factor``) and strides 1, 2, 2,
    then a final BN and activation. A 32x32 input gives a
    ``(N, 64k, 8, 8)`` map (``(N, 128, 8, 8)`` for WRN-28-2); follow it with
    mmpretrain's ``GlobalAveragePooling`` neck (the 8x8 average pool) and a
    linear head. WRN-28-2 with a 10-class linear head has 1,467,610
    parameters.

    The *activate before residual* variant. In a block whose shape changes
    (the first block of every stage here, since the stem has 16 channels),
    the pre-activation ``act(BN(x))`` can feed the 1x1 shortcut as well as
    the residual branch, or the shortcut can see the raw ``x``:

    - ``'all'`` (default): every shape-changing block activates before the
      shortcut. This is the authors' original WRN code and the
      ``xternalz/WideResNet-pytorch`` network that the public DMT code uses.
    - ``'first'``: only the first block of the first stage does; the first
      blocks of stages 2 and 3 apply their 1x1 shortcut to the raw input
      (the TensorFlow WRN of MixMatch/FixMatch, ``activate_before_residual``
      set for the first stage only).

    Both variants have the same parameters; identity shortcuts always add the
    raw input.

    Args:
        depth (int): Total depth; ``(depth - 4) % 6 == 0`` and at least 10.
            Defaults to 28.
        widen_factor (int): Width multiplier ``k >= 1``. Defaults to 2.
        drop_rate (float): Dropout between the convolutions of a block, in
            ``[0, 1)``. Defaults to 0.0.
        act_cfg (dict): Activation config. Defaults to ``dict(type='ReLU')``
            (public DMT code); MixMatch/FixMatch use
            ``dict(type='LeakyReLU', negative_slope=0.1)``.
        bn_momentum (float): BN momentum in PyTorch's convention (weight of
            the new batch), in ``(0, 1]``. Defaults to 0.1 (PyTorch default,
            public DMT code); MixMatch/FixMatch use 0.001.
        in_channels (int): Input channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages whose outputs are
            returned, from 0 to 2 (negative values count from the end). The
            last stage's output (index 2 or -1) goes through the final BN and
            activation; earlier stages are returned as raw block outputs
            (pre-activation networks normalise at the start of the next
            block). Defaults to ``(2, )``, the final ``(N, 64k, 8, 8)`` map.
        activate_before_residual (str): ``'all'`` or ``'first'`` (see
            above). Defaults to ``'all'``.
        init_cfg (dict | list[dict], optional): Initialisation. Defaults to
            Kaiming normal (``fan_out``, ReLU gain) for convolutions and
            weight 1 / bias 0 for BN.

    Example:
        >>> import torch
        >>> from dmt_mm.models.backbones.wide_resnet import WideResNet
        >>> net = WideResNet(depth=28, widen_factor=2)
        >>> [o.shape for o in net(torch.rand(2, 3, 32, 32))]
        [torch.Size([2, 128, 8, 8])]
    """

    def __init__(
        self,
        depth: int = 28,
        widen_factor: int = 2,
        drop_rate: float = 0.0,
        act_cfg: dict = dict(type='ReLU'),
        bn_momentum: float = 0.1,
        in_channels: int = 3,
        out_indices: Union[int, Sequence[int]] = (2, ),
        activate_before_residual: str = 'all',
        init_cfg: Optional[Union[dict, list]] = [
            dict(
                type='Kaiming',
                layer='Conv2d',
                mode='fan_out',
                nonlinearity='relu',
                distribution='normal'),
            dict(type='Constant', layer='_BatchNorm', val=1, bias=0)
        ]
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        depth = self._check_int(depth, 'depth')
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError('depth must be 6 * n + 4 with n >= 1 blocks per '
                             f'stage (10, 16, 22, 28, ...), got depth={depth}')
        widen_factor = self._check_int(widen_factor, 'widen_factor')
        if widen_factor < 1:
            raise ValueError(
                f'widen_factor must be >= 1, got widen_factor={widen_factor}')
        if isinstance(drop_rate, bool) or not isinstance(
                drop_rate, numbers.Real) or not 0.0 <= drop_rate < 1.0:
            raise ValueError(
                f'drop_rate must be a number in [0, 1), got {drop_rate!r}')
        if isinstance(bn_momentum, bool) or not isinstance(
                bn_momentum, numbers.Real) or not 0.0 < bn_momentum <= 1.0:
            raise ValueError('bn_momentum must be a number in (0, 1], got '
                             f'{bn_momentum!r}')
        in_channels = self._check_int(in_channels, 'in_channels')
        if in_channels < 1:
            raise ValueError(f'in_channels must be >= 1, got {in_channels}')
        if not isinstance(act_cfg, dict) or 'type' not in act_cfg:
            raise TypeError('act_cfg must be a dict with a "type" key, got '
                            f'{act_cfg!r}')
        if activate_before_residual not in ACTIVATE_BEFORE_RESIDUAL_MODES:
            raise ValueError('activate_before_residual must be one of '
                             f'{ACTIVATE_BEFORE_RESIDUAL_MODES}, got '
                             f'{activate_before_residual!r}')
        if isinstance(out_indices, numbers.Integral):
            out_indices = (out_indices, )
        if not isinstance(out_indices, Sequence) or len(out_indices) == 0:
            raise TypeError('out_indices must be an int or a non-empty '
                            f'sequence of ints, got {out_indices!r}')
        indices = []
        for index in out_indices:
            if isinstance(index, bool) or not isinstance(
                    index, numbers.Integral) or not -3 <= index <= 2:
                raise ValueError('out_indices must be stage indices in '
                                 f'[-3, 2], got {tuple(out_indices)!r}')
            indices.append(int(index) % 3)

        self.depth = depth
        self.widen_factor = widen_factor
        self.drop_rate = float(drop_rate)
        self.act_cfg = dict(act_cfg)
        self.bn_momentum = float(bn_momentum)
        self.activate_before_residual = activate_before_residual
        self.out_indices = tuple(indices)
        self.num_blocks = (depth - 4) // 6
        self.stage_channels = (16 * widen_factor, 32 * widen_factor,
                               64 * widen_factor)
        #: Channels of the final feature map (``64 * widen_factor``).
        self.out_channels = self.stage_channels[-1]

        self.conv1 = nn.Conv2d(
            in_channels, 16, kernel_size=3, stride=1, padding=1, bias=False)
        in_ch = 16
        for stage, (out_ch,
                    stride) in enumerate(zip(self.stage_channels, (1, 2, 2))):
            blocks = []
            for i in range(self.num_blocks):
                first = i == 0
                blocks.append(
                    WideBasicBlock(
                        in_ch if first else out_ch,
                        out_ch,
                        stride if first else 1,
                        drop_rate=self.drop_rate,
                        act_cfg=self.act_cfg,
                        bn_momentum=self.bn_momentum,
                        activate_before_residual=(activate_before_residual
                                                  == 'all' or stage == 0)))
            self.add_module(f'layer{stage + 1}', nn.Sequential(*blocks))
            in_ch = out_ch
        self.norm_out = nn.BatchNorm2d(in_ch, momentum=self.bn_momentum)
        self.act_out = build_activation_layer(self.act_cfg)

    @staticmethod
    def _check_int(value, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f'{name} must be an int, got {value!r} '
                            f'({type(value).__name__})')
        return int(value)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Forward.

        Args:
            x (Tensor): Images ``(N, in_channels, H, W)``; 32x32 for CIFAR.

        Returns:
            tuple[Tensor]: The selected stage outputs; by default one
            ``(N, 64k, H / 4, W / 4)`` map (``(N, 128, 8, 8)`` for WRN-28-2
            on 32x32 inputs).
        """
        out = self.conv1(x)
        outs = []
        for stage in range(3):
            out = getattr(self, f'layer{stage + 1}')(out)
            if stage == 2:
                out = self.act_out(self.norm_out(out))
            if stage in self.out_indices:
                outs.append(out)
        return tuple(outs)


__all__ = ['WideResNet', 'WideBasicBlock']
