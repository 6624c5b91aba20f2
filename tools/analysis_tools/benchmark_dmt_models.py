# Copyright (c) dmt_mm contributors. All rights reserved.
"""What the rows of ``benchmark_dmt.py`` build: the configs, the segmentor,
the optimizer wrapper and synthetic label maps."""
import copy
import os.path as osp

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_CONFIGS = dict(
    r18='configs/dmt/dmt_deeplabv2-r18_digit-scenes.py',
    r101='configs/dmt/dmt_deeplabv2-r101_voc12aug-1-106.py')
CLS_CONFIG = 'configs/_base_/models/dmt_wrn28-2.py'


def load_cfg(rel: str):
    """mmengine's ``Config`` of ``rel``, a path relative to the checkout."""
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO, rel))


def seg_cfg(args) -> dict:
    """The segmentor config of the demo (r18) or of VOC 1/106 (r101)."""
    cfg = load_cfg(SEG_CONFIGS[args.model])
    seg = copy.deepcopy(cfg.segmentor if args.model == 'r18' else
                        cfg.model.segmentor)
    # One process: SyncBN would be plain BN (and refuses CPU tensors).
    seg['backbone']['norm_cfg'] = dict(type='BN', requires_grad=True)
    seg['data_preprocessor']['size'] = (args.crop, args.crop)
    if args.tiny:  # no padding of test images to 505x505 (VOC configs)
        seg['data_preprocessor'].pop('test_cfg', None)
    seg.pop('init_cfg', None)
    return seg


def build_seg(args, loss_decode: dict):
    """The :func:`seg_cfg` segmentor with ``loss_decode``, initialised, on
    ``args.device``."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    cfg = seg_cfg(args)
    cfg['decode_head']['loss_decode'] = loss_decode
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model.to(args.device)


def optim_wrapper(model, args, lr: float):
    """SGD (momentum 0.9, wd 5e-4) in mmengine's (Amp)OptimWrapper."""
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    opt = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    if args.amp:
        return AmpOptimWrapper(optimizer=opt, loss_scale='dynamic')
    return OptimWrapper(optimizer=opt)


def blocky_labels(n, h, w, num_classes, gen, ignore=True) -> torch.Tensor:
    """Piecewise-constant label maps ``(n, h, w)`` (8x8 blocks)."""
    small = torch.randint(0, num_classes, (n, 1, (h + 7) // 8, (w + 7) // 8),
                          generator=gen).float()
    lab = torch.nn.functional.interpolate(small, size=(h, w),
                                          mode='nearest')[:, 0].long()
    if ignore:
        lab[:, :max(1, h // 10)] = 255
    return lab


def load_weights(model, path: str) -> None:
    """An MMSeg checkpoint, or the student slot of a DMTSegmentor one."""
    from mmengine.runner import load_checkpoint
    load_checkpoint(model, path, map_location='cpu', strict=False,
                    revise_keys=[(r'^student\.', '')])

