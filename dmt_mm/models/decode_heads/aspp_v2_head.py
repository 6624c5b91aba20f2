# Copyright (c) dmt_mm contributors. All rights reserved.
"""The ASPP classifier of DeepLab-v2 as an MMSegmentation decode head."""
from typing import List, Sequence, Tuple, Union

import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor


def _check_dilations(dilations) -> Tuple[int, ...]:
    """Validate ``dilations`` and return it as a tuple of ints.

    A list is accepted as well as a tuple, because configs that went through
    JSON/YAML turn tuples into lists.
    """
    if not isinstance(dilations, (tuple, list)) or len(dilations) == 0:
        raise ValueError('dilations must be a non-empty tuple of positive '
                         f'ints, but got dilations={dilations!r}')
    for d in dilations:
        # bool is a subclass of int; ``True`` is not a meaningful dilation.
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ValueError('dilations must be a non-empty tuple of positive '
                             f'ints, but got dilations={dilations!r} '
                             f'(bad entry {d!r})')
    return tuple(dilations)


@MODELS.register_module()
class ASPPV2Head(BaseDecodeHead):
    """DeepLab-v2 ASPP classifier.

    Implements the Atrous Spatial Pyramid Pooling classifier of `DeepLab:
    Semantic Image Segmentation with Deep Convolutional Nets, Atrous
    Convolution, and Fully Connected CRFs <https://arxiv.org/abs/1606.00915>`_
    (Chen et al., TPAMI 2017): ``len(dilations)`` parallel 3x3 convolutions
    (padding = dilation, with bias) map the backbone feature directly to class
    scores and their outputs are summed. There is no normalisation, no
    activation and (by default) no dropout in the head. This is the classifier
    used by DMT (`Dynamic Mutual Training for Semi-Supervised Learning
    <https://arxiv.org/abs/2004.08514>`_) on top of a ResNet-101 with output
    stride 8.

    Unlike other MMSeg heads there is no feature transform followed by a 1x1
    ``conv_seg``: the ASPP branches *are* the classifier. The inherited
    ``conv_seg`` is therefore removed (an unused parameter would break DDP
    with ``find_unused_parameters=False``).

    Shapes:
        - input: the backbone outputs; the feature selected by ``in_index``
          has shape ``(N, in_channels, H, W)``.
        - output: logits of shape ``(N, out_channels, H, W)`` (same spatial
          size as the input feature; ``out_channels == num_classes`` except
          for binary segmentation with ``out_channels=1``). Up-sampling to the
          label size happens in ``loss_by_feat`` / ``predict_by_feat``.

    Args:
        in_channels (int): Channels of the input feature map (2048 for
            ResNet-101, 512 for ResNet-18/34).
        channels (int): Required by the :class:`BaseDecodeHead` interface
            and stored as ``self.channels``; **not used** by this classifier,
            which maps ``in_channels`` straight to ``num_classes``.
        num_classes (int): Number of classes.
        dilations (tuple[int]): Dilation (and padding) of each parallel 3x3
            convolution. Defaults to ``(6, 12, 18, 24)`` (DeepLab-v2 ASPP-L).
        dropout_ratio (float): Ratio of the ``Dropout2d`` applied to the input
            feature before the classifier. DeepLab-v2 uses none. Defaults to
            0.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to ``Normal(mean=0, std=0.01, bias=0)`` on every
            ``Conv2d`` of the head, as in DeepLab-v2.
        **kwargs: Other arguments of :class:`BaseDecodeHead`
            (``loss_decode``, ``align_corners``, ``ignore_index``,
            ``in_index``, ...). ``conv_cfg``/``norm_cfg``/``act_cfg`` are
            accepted but unused. Multi-input transforms
            (``input_transform``) are not supported.

    Example:
        >>> import torch
        >>> head = ASPPV2Head(in_channels=8, channels=8, num_classes=3)
        >>> head([torch.rand(2, 8, 9, 9)]).shape
        torch.Size([2, 3, 9, 9])
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 num_classes: int,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 dropout_ratio: float = 0.0,
                 init_cfg: Union[dict, List[dict], None] = dict(
                     type='Normal', std=0.01, bias=0, layer='Conv2d'),
                 **kwargs) -> None:
        dilations = _check_dilations(dilations)
        if kwargs.get('input_transform') is not None:
            raise ValueError('ASPPV2Head takes a single feature map; '
                             'input_transform must be None, but got '
                             f"input_transform={kwargs['input_transform']!r}")
        super().__init__(
            in_channels,
            channels,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            init_cfg=init_cfg,
            **kwargs)
        # The ASPP branches are the classifier; the inherited 1x1 conv_seg
        # would be a parameter without gradient (fatal for DDP).
        del self.conv_seg
        self.dilations = dilations
        self.aspp_convs = nn.ModuleList(
            nn.Conv2d(
                self.in_channels,
                self.out_channels,
                kernel_size=3,
                stride=1,
                padding=d,
                dilation=d,
                bias=True) for d in dilations)

    def cls_seg(self, feat: Tensor) -> Tensor:
        """Classify each pixel with the summed dilated convolutions.

        Args:
            feat (Tensor): Feature of shape ``(N, in_channels, H, W)``.

        Returns:
            Tensor: Logits of shape ``(N, out_channels, H, W)``.
        """
        if self.dropout is not None:
            feat = self.dropout(feat)
        out = self.aspp_convs[0](feat)
        for conv in self.aspp_convs[1:]:
            out = out + conv(feat)
        return out

    def forward(self, inputs: Union[Tuple[Tensor], List[Tensor]]) -> Tensor:
        """Forward function.

        Args:
            inputs (tuple[Tensor] | list[Tensor]): Multi-level features; the
                one at ``in_index`` has shape ``(N, in_channels, H, W)``.

        Returns:
            Tensor: Logits of shape ``(N, out_channels, H, W)``.
        """
        return self.cls_seg(self._transform_inputs(inputs))
