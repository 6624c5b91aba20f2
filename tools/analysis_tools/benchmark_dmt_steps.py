# Copyright (c) dmt_mm contributors. All rights reserved.
"""The training-step rows of ``benchmark_dmt.py``.

seg step: a DMTLoss step (labelled + pseudo batch, ``dmt_pseudo_context``)
over the same EncoderDecoder with CrossEntropyLoss, forward + backward + SGD
step. cls step: a DMTImageClassifier step (extra no-grad forward, DMT mixup)
over MMPretrain's ImageClassifier with its Mixup batch augment (Feng et al.,
arXiv:2004.08514, the classification variant).
"""
import copy
import statistics
from typing import Callable, Dict

import torch
from benchmark_dmt_models import (CLS_CONFIG, blocky_labels, build_seg,
                                  load_cfg, optim_wrapper)
from benchmark_timing import measure, ratio_row


def step_row(args, key: str, steps: Dict[str, Callable[[], None]],
             images: int, what: str, target: float,
             describe: Callable[[dict], str]) -> dict:
    """Time ``steps['dmt']`` against ``steps['plain']``.

    Args:
        args: The benchmark's arguments (``steps`` per trial, ``trials``,
            ``device``, ``profile``).
        key (str): ``'seg'`` or ``'cls'``: the row is ``'<key> step'``.
        steps (dict): ``dmt`` and ``plain``: one training step each.
        images (int): Images per step (for the img/s of the detail).
        what (str): The row's measure.
        target (float): The ratio the row should not exceed.
        describe (callable): img/s per variant -> the row's detail.

    Returns:
        dict: The row, with ``ips`` and ``peak_mib`` per variant.
    """

    def repeated(step):
        def run():
            for _ in range(args.steps):
                step()
        return run

    variants = {name: repeated(step) for name, step in steps.items()}
    times, peaks = measure(variants, args.trials, args.device,
                           args.profile == key)
    ips = {k: images * args.steps / statistics.median(v)
           for k, v in times.items()}
    detail = describe(ips)
    if peaks['dmt'] is not None:
        detail += (f'; peak {peaks["dmt"]:.0f} / {peaks["plain"]:.0f} MiB')
    return ratio_row(f'{key} step', what, times, 'dmt', 'plain', target,
                     detail) | dict(ips=ips, peak_mib=peaks)


def bench_seg_step(args, rows: list) -> None:
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    from dmt_mm.models.losses import dmt_pseudo_context
    dmt = build_seg(args, dict(type='DMTLoss', gamma1=5.0, gamma2=5.0))
    plain = copy.deepcopy(dmt)
    plain.decode_head.loss_decode = MODELS.build(
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
    dmt.train()
    plain.train()
    n, c, s = args.seg_batch, dmt.decode_head.num_classes, args.crop
    gen = torch.Generator().manual_seed(0)
    labels = blocky_labels(n, s, s, c, gen)
    samples = []
    for i in range(n):
        sample = SegDataSample(
            metainfo=dict(img_shape=(s, s), ori_shape=(s, s)))
        sample.gt_sem_seg = PixelData(data=labels[i:i + 1].clone())
        samples.append(sample)
    data = dict(
        inputs=[torch.randint(0, 256, (3, s, s), dtype=torch.uint8,
                              generator=gen) for _ in range(n)],
        data_samples=samples)
    is_pseudo = (torch.arange(n) >= args.seg_labeled).to(args.device)
    conf = (0.5 + 0.5 * torch.rand(n, s, s, generator=gen)).to(args.device)
    opt_dmt = optim_wrapper(dmt, args, 1e-3)
    opt_plain = optim_wrapper(plain, args, 1e-3)

    def step_dmt():
        with dmt_pseudo_context(dmt, conf, is_pseudo):
            dmt.train_step(data, opt_dmt)

    rows.append(step_row(
        args, 'seg',
        dict(dmt=step_dmt, plain=lambda: plain.train_step(data, opt_plain)),
        n, 'DMT / CE step time', 1.03,
        lambda ips: f'{args.model} {s}x{s}, batch {args.seg_labeled}+'
        f'{n - args.seg_labeled}: DMT {ips["dmt"]:.2f} img/s, CE '
        f'{ips["plain"]:.2f} img/s'))


def bench_cls_step(args, rows: list) -> None:
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    cfg = load_cfg(CLS_CONFIG).model.to_dict()
    cfg['backbone']['depth'] = args.cls_depth
    preprocessor = dict(
        type='ClsDataPreprocessor', num_classes=10,
        mean=[125.3, 123.0, 113.9], std=[63.0, 62.1, 66.7], to_rgb=True)
    cfg['data_preprocessor'] = copy.deepcopy(preprocessor)
    plain_cfg = dict(
        type='ImageClassifier',
        backbone=cfg['backbone'],
        neck=cfg['neck'],
        head=dict(type='LinearClsHead', num_classes=10, in_channels=128,
                  loss=dict(type='CrossEntropyLoss', use_soft=True)),
        train_cfg=dict(augments=dict(type='Mixup', alpha=0.75)),
        data_preprocessor=preprocessor)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dmt = MODELS.build(cfg)
        plain = MODELS.build(plain_cfg)
    dmt.init_weights()
    plain.load_state_dict(dmt.state_dict())
    dmt.to(args.device).train()
    plain.to(args.device).train()
    n, n_lab = args.cls_batch, args.cls_labeled
    gen = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8,
                           generator=gen)
    ys = torch.randint(0, 10, (n, ), generator=gen).tolist()
    confs = (0.3 + 0.7 * torch.rand(n, generator=gen)).tolist()
    dmt_samples = []
    for i in range(n):
        ds = DataSample(metainfo=dict(is_pseudo=i >= n_lab))
        ds.set_gt_label(ys[i])
        if i >= n_lab:
            ds.teacher_conf = confs[i]
        dmt_samples.append(ds)
    # Mixup stores the mixed one-hot scores in these samples; later steps
    # mix those again, at the same cost.
    plain_samples = [DataSample().set_gt_label(y) for y in ys]
    opt_dmt = optim_wrapper(dmt, args, 0.01)
    opt_plain = optim_wrapper(plain, args, 0.01)
    rows.append(step_row(
        args, 'cls',
        dict(dmt=lambda: dmt.train_step(
            dict(inputs=inputs, data_samples=dmt_samples), opt_dmt),
             plain=lambda: plain.train_step(
                 dict(inputs=inputs, data_samples=plain_samples), opt_plain)),
        n, 'DMT mixup / Mixup+CE step', 1.40,
        lambda ips: f'WRN-{args.cls_depth}-2 32x32, batch {n_lab}+'
        f'{n - n_lab}: DMT {ips["dmt"]:.1f} img/s, Mixup+CE '
        f'{ips["plain"]:.1f} img/s'))
