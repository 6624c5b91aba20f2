# Copyright (c) dmt_mm contributors. All rights reserved.
"""Convert torchvision ResNet weights for mmseg's ``ResNet`` backbone.

mmseg's ``ResNet`` with ``deep_stem=False`` (as in
``configs/_base_/models/deeplabv2_r101.py``) uses torchvision's parameter
names (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``,
...), so the conversion only unwraps the checkpoint, strips a DataParallel
``module.`` prefix and drops the ImageNet classifier ``fc.*``. The output is
an mmengine-style checkpoint ``{'state_dict': ..., 'meta': ...}`` meant for

.. code:: python

    model = dict(backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='resnet101_mmseg.pth')))

which loads the keys into the backbone without any prefix.

Usage::

    python tools/model_converters/torchvision2mmseg.py \
        resnet101-63fe2227.pth pretrained/resnet101_mmseg.pth
"""
import argparse
import os
import os.path as osp
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

# Keys every torchvision ResNet has; used to reject unrelated files early.
_REQUIRED_KEYS = ('conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight')
_ALLOWED_ROOTS = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.',
                  'layer4.', 'fc.')


def _unwrap(checkpoint: Mapping) -> Mapping:
    """Return the state dict inside a checkpoint (raw, 'state_dict' or
    'model')."""
    for key in ('state_dict', 'model'):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            return checkpoint[key]
    return checkpoint


def convert_torchvision_resnet(state_dict: Mapping) -> OrderedDict:
    """Convert a torchvision ResNet state dict for mmseg's ``ResNet``.

    Args:
        state_dict (Mapping[str, Tensor]): A torchvision ResNet state dict
            (any depth), or a checkpoint dict holding one under
            ``'state_dict'`` or ``'model'``. A ``module.`` prefix (from
            DataParallel/DDP) is removed.

    Returns:
        OrderedDict[str, Tensor]: The backbone state dict: the same keys and
        tensors minus the classifier ``fc.*``, ready for
        ``ResNet.load_state_dict(..., strict=True)``.

    Raises:
        TypeError: If ``state_dict`` is not a mapping.
        ValueError: If it does not look like a torchvision ResNet.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError('state_dict must be a mapping of parameter names to '
                        f'tensors, but got {type(state_dict).__name__}')
    state_dict = _unwrap(state_dict)
    converted = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if key.startswith('fc.'):
            continue
        if not key.startswith(_ALLOWED_ROOTS):
            raise ValueError(
                'state_dict does not look like a torchvision ResNet: '
                f'unexpected key {key!r}')
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'state_dict value of {key!r} must be a tensor, '
                             f'but got {type(value).__name__}')
        converted[key] = value
    missing = [k for k in _REQUIRED_KEYS if k not in converted]
    if missing:
        raise ValueError('state_dict does not look like a torchvision '
                         f'ResNet: missing keys {missing}')
    return converted


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description='Convert torchvision ResNet weights into an mmengine '
        'checkpoint for the mmseg ResNet backbone (DeepLab-v2).')
    parser.add_argument('src', help='torchvision ResNet weights (.pth)')
    parser.add_argument('dst', help='output checkpoint path')
    args = parser.parse_args(argv)

    checkpoint = load_checkpoint_safely(args.src, map_location='cpu')
    state_dict = convert_torchvision_resnet(checkpoint)
    dst_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(dst_dir, exist_ok=True)
    meta = dict(
        converted_from=osp.basename(args.src),
        converter='tools/model_converters/torchvision2mmseg.py')
    torch.save(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'Saved {len(state_dict)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
