#!/usr/bin/env python
# Copyright (c) dmt_mm contributors. All rights reserved.
"""What DMT costs over its floor, measured side by side in one process.

DMT (Feng et al., arXiv:2004.08514) should cost almost nothing beyond the
training it schedules: an element-wise weight per target, one labelling pass
per phase per teacher and 2 bytes per stored pixel. Every row of the table is
a ratio of two variants timed in this process, interleaved (the order
alternates every trial), so machine noise hits both alike; it shows the
median of the per-trial ratios, their spread (min..max) and the ratio of the
two variants' fastest trials (the least disturbed by other processes). On a
shared CPU, ``--threads 1`` keeps intra-op threads from waiting on each
other.

Rows:
  seg step      DMTLoss step (labelled + pseudo batch, ``dmt_pseudo_context``)
                over the same EncoderDecoder with CrossEntropyLoss, forward +
                backward + SGD step; target <= 1.03.
  cls step      DMTImageClassifier step (extra no-grad forward, DMT mixup)
                over MMPretrain's ImageClassifier with its Mixup batch
                augment; target <= 1.40.
  labelling     model.test_step + the engine's SegLabeller (softmax, max,
                encode_confidence, histogram, PNG written into a fresh
                staging directory), over model.test_step alone; target
                <= 1.10. Once with the PNGs written on the main thread, once
                with PseudoLabelWriter threads (2, as the engine). The detail
                gives the fastest trials' ms per image of test_step and of
                SegLabeller alone on stored outputs: ratio ~ 1 + their
                quotient when no core is free for the writer threads.
  storage       bytes per pixel of the PNGs of the labelling pass (target
                <= 2); the curriculum's host memory at 1x and 16x the pixels
                (its state is a (classes x 256) histogram; target: no growth).
  loading       the demo's training pipeline per sample with LoadPseudoLabel
                over the same with LoadAnnotations (no target).

Usage:
  python tools/analysis_tools/benchmark_dmt.py --device cpu
  python tools/analysis_tools/benchmark_dmt.py --device cuda --model r101 \\
      --amp --estimate
  python tools/analysis_tools/benchmark_dmt.py --device cpu --tiny  # seconds

Performance is never asserted: the script exits non-zero only on errors.
"""
import argparse
import copy
import json
import os
import os.path as osp
import shutil
import statistics
import sys
import tempfile
import time
import traceback
import tracemalloc
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

SEG_CONFIGS = dict(
    r18='configs/dmt/dmt_deeplabv2-r18_digit-scenes.py',
    r101='configs/dmt/dmt_deeplabv2-r101_voc12aug-1-106.py')
CLS_CONFIG = 'configs/_base_/models/dmt_wrn28-2.py'


# --------------------------------------------------------------- arguments
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', choices=('cpu', 'cuda'), default=None,
                   help='default: cuda when available, else cpu')
    p.add_argument('--model', choices=('r18', 'r101'), default='r18',
                   help="r18: the demo's half-width DeepLab-v2 ResNet-18; "
                   "r101: the paper's DeepLab-v2 ResNet-101")
    p.add_argument('--amp', action='store_true',
                   help='mixed precision (fp16 autocast, cuda only)')
    p.add_argument('--tiny', action='store_true',
                   help='tiny sizes and 2 trials (a smoke test)')
    p.add_argument('--rows', default='seg,cls,label,storage,loading',
                   help='comma-separated subset of the rows')
    p.add_argument('--trials', type=int, default=None)
    p.add_argument('--steps', type=int, default=None,
                   help='steps (or passes) per variant per trial')
    p.add_argument('--seg-batch', type=int, default=None)
    p.add_argument('--seg-labeled', type=int, default=None,
                   help='labelled samples per batch (the rest pseudo)')
    p.add_argument('--crop', type=int, default=None)
    p.add_argument('--cls-batch', type=int, default=None)
    p.add_argument('--cls-labeled', type=int, default=None)
    p.add_argument('--cls-depth', type=int, default=None,
                   help='WideResNet depth (28 in the paper)')
    p.add_argument('--label-images', type=int, default=None)
    p.add_argument('--label-batch', type=int, default=None)
    p.add_argument('--label-size', type=int, nargs=2, default=None,
                   metavar=('H', 'W'),
                   help='synthetic images of this size for the labelling '
                   'pass (default: the digit scenes for r18, 375 500 for '
                   'r101)')
    p.add_argument('--writer-threads', type=int, default=2,
                   help='PseudoLabelWriter threads of the labelling pass '
                   '(2, as the engine; 0: main thread only)')
    p.add_argument('--data-root', default=osp.join(REPO, 'data',
                                                   'digit_scenes'),
                   help='digit scenes (generated into a temporary folder '
                   'when missing)')
    p.add_argument('--checkpoint', default=None,
                   help='weights of the labelling model (an MMSeg checkpoint '
                   'or a DMTSegmentor one: its student slot); default: '
                   'random')
    p.add_argument('--threads', type=int, default=None,
                   help='torch intra-op threads')
    p.add_argument('--profile', default=None, choices=('seg', 'cls', 'label'),
                   help='print a torch.profiler table of this row')
    p.add_argument('--estimate', action='store_true',
                   help='turn the rates into the time of a VOC 1/106 run')
    p.add_argument('--json', default=None, help='also write results here')
    args = p.parse_args(argv)
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.amp and args.device != 'cuda':
        p.error('--amp needs --device cuda')
    cuda, tiny, r101 = args.device == 'cuda', args.tiny, args.model == 'r101'
    defaults = dict(
        trials=2 if tiny else 7,
        steps=1 if tiny else (5 if cuda else 3),
        seg_batch=4 if tiny else 8,
        seg_labeled=1 if tiny or r101 else 2,
        crop=32 if tiny else (321 if r101 else 48),
        cls_batch=8 if tiny else (512 if cuda else 64),
        cls_labeled=1 if tiny else (16 if cuda else 2),
        cls_depth=28 if cuda and not tiny else 10,
        label_images=4 if tiny else (100 if cuda else 64),
        label_batch=2 if tiny else (1 if r101 else 8),
        label_size=(40, 48) if tiny and r101 else
        ((375, 500) if r101 else None))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


# ------------------------------------------------------------------ timing
def sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def interleaved(variants: Dict[str, Callable[[], None]], trials: int,
                device: str) -> Dict[str, List[float]]:
    """Seconds of each variant per trial; the order alternates."""
    names = list(variants)
    times = {n: [] for n in names}
    for t in range(trials):
        for n in (names if t % 2 == 0 else names[::-1]):
            sync(device)
            start = time.perf_counter()
            variants[n]()
            sync(device)
            times[n].append(time.perf_counter() - start)
    return times


def warm_up(variants: Dict[str, Callable[[], None]],
            device: str) -> Dict[str, Optional[float]]:
    """Run each variant once; return its peak device memory (MiB)."""
    peaks = {}
    for name, fn in variants.items():
        if device == 'cuda':
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        fn()
        sync(device)
        peaks[name] = (torch.cuda.max_memory_allocated() / 2**20
                       if device == 'cuda' else None)
    return peaks


def ratio_row(name: str, measure: str, times: Dict[str, List[float]],
              num: str, den: str, target: Optional[float],
              detail: str) -> dict:
    ratios = [a / b for a, b in zip(times[num], times[den])]
    return dict(row=name, measure=measure, median=statistics.median(ratios),
                low=min(ratios), high=max(ratios), target=target,
                best=min(times[num]) / min(times[den]), detail=detail,
                ratios=ratios)


def profile(variants: Dict[str, Callable[[], None]], device: str) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                     if device == 'cuda' else [])
    for name, fn in variants.items():
        with torch_profile(activities=acts) as prof:
            fn()
            sync(device)
        key = 'self_cuda_time_total' if device == 'cuda' else \
            'self_cpu_time_total'
        print(f'\n--- torch.profiler: {name} ---')
        print(prof.key_averages().table(sort_by=key, row_limit=18))


# ---------------------------------------------------------------- building
def load_cfg(rel: str):
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
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    cfg = seg_cfg(args)
    cfg['decode_head']['loss_decode'] = loss_decode
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model.to(args.device)


def optim_wrapper(model, args, lr: float):
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


# --------------------------------------------------------- row: seg step
def bench_seg_step(args, rows: list) -> None:
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from dmt_mm.models.losses import dmt_pseudo_context
    dmt = build_seg(args, dict(type='DMTLoss', gamma1=5.0, gamma2=5.0))
    plain = copy.deepcopy(dmt)
    from mmseg.registry import MODELS
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
        for _ in range(args.steps):
            with dmt_pseudo_context(dmt, conf, is_pseudo):
                dmt.train_step(data, opt_dmt)

    def step_plain():
        for _ in range(args.steps):
            plain.train_step(data, opt_plain)

    variants = dict(dmt=step_dmt, plain=step_plain)
    peaks = warm_up(variants, args.device)
    if args.profile == 'seg':
        profile(variants, args.device)
    times = interleaved(variants, args.trials, args.device)
    ips = {k: n * args.steps / statistics.median(v) for k, v in times.items()}
    detail = (f'{args.model} {s}x{s}, batch {args.seg_labeled}+'
              f'{n - args.seg_labeled}: DMT {ips["dmt"]:.2f} img/s, CE '
              f'{ips["plain"]:.2f} img/s')
    if peaks['dmt'] is not None:
        detail += (f'; peak {peaks["dmt"]:.0f} / {peaks["plain"]:.0f} MiB')
    rows.append(
        ratio_row('seg step', 'DMT / CE step time', times, 'dmt', 'plain',
                  1.03, detail) | dict(ips=ips, peak_mib=peaks))


# --------------------------------------------------------- row: cls step
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

    def step_dmt():
        for _ in range(args.steps):
            dmt.train_step(dict(inputs=inputs, data_samples=dmt_samples),
                           opt_dmt)

    def step_plain():
        for _ in range(args.steps):
            plain.train_step(dict(inputs=inputs, data_samples=plain_samples),
                             opt_plain)

    variants = dict(dmt=step_dmt, plain=step_plain)
    peaks = warm_up(variants, args.device)
    if args.profile == 'cls':
        profile(variants, args.device)
    times = interleaved(variants, args.trials, args.device)
    ips = {k: n * args.steps / statistics.median(v) for k, v in times.items()}
    detail = (f'WRN-{args.cls_depth}-2 32x32, batch {n_lab}+{n - n_lab}: '
              f'DMT {ips["dmt"]:.1f} img/s, Mixup+CE {ips["plain"]:.1f} '
              'img/s')
    if peaks['dmt'] is not None:
        detail += (f'; peak {peaks["dmt"]:.0f} / {peaks["plain"]:.0f} MiB')
    rows.append(
        ratio_row('cls step', 'DMT mixup / Mixup+CE step', times, 'dmt',
                  'plain', 1.40, detail) | dict(ips=ips, peak_mib=peaks))


# --------------------------------------------------- data: digit scenes
def scenes_root(args, tmp: str) -> str:
    root = args.data_root
    if osp.isfile(osp.join(root, 'meta.json')):
        return root
    sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))
    from digit_scenes import build_digit_scenes
    root = osp.join(tmp, 'digit_scenes')
    print(f'[benchmark] {args.data_root} not found: generating a small set '
          f'of digit scenes in {root}')
    build_digit_scenes(root, num_train=max(40, 2 * args.label_images),
                       num_val=4, num_labeled=4, size=64, seed=0)
    return root


def unlabeled_infos(root: str, count: int) -> List[dict]:
    """Data infos of the first ``count`` unlabelled scenes (with masks)."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS
    cfg = load_cfg(SEG_CONFIGS['r18'])
    ds_cfg = copy.deepcopy(cfg.labeled_dataset_a).to_dict()
    ds_cfg.update(data_root=root, ann_file='splits/unlabeled.txt',
                  pipeline=[])
    with DefaultScope.overwrite_default_scope('mmseg'):
        ds = DATASETS.build(ds_cfg)
    count = min(count, len(ds))
    return [ds.get_data_info(i) for i in range(count)]


# -------------------------------------------------------- row: labelling
def labelling_batches(args, root: Optional[str]) -> List[dict]:
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope
    if args.label_size is None:  # the demo's labelling pipeline
        cfg = load_cfg(SEG_CONFIGS['r18'])
        steps = [s for s in cfg.test_pipeline
                 if s['type'] != 'LoadAnnotations']
        items = unlabeled_infos(root, args.label_images)
    else:  # synthetic images of the requested size
        steps = [dict(type='PackSegInputs')]
        h, w = args.label_size
        rng = np.random.default_rng(0)
        items = []
        for i in range(args.label_images):
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            items.append(dict(img=img, img_shape=(h, w), ori_shape=(h, w),
                              img_path=f'synthetic_{i:05d}.jpg'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipeline = Compose(steps)
        packed = [pipeline(copy.deepcopy(it)) for it in items]
    for i, p in enumerate(packed):  # as the engine's labelling view does
        p['data_samples'].set_metainfo(dict(pseudo_key=osp.splitext(
            osp.basename(p['data_samples'].img_path))[0] + f'_{i}.png'))
    return [pseudo_collate(packed[i:i + args.label_batch])
            for i in range(0, len(packed), args.label_batch)]


def load_weights(model, path: str) -> None:
    """An MMSeg checkpoint, or the student slot of a DMTSegmentor one."""
    from mmengine.runner import load_checkpoint
    load_checkpoint(model, path, map_location='cpu', strict=False,
                    revise_keys=[(r'^student\.', '')])


def bench_labelling(args, rows: list, root: Optional[str], out_dir: str):
    """The engine's labelling consumer (:class:`SegLabeller`) after
    ``test_step``, over ``test_step`` alone; every pass writes into a fresh
    staging directory, as the engine does. The last pass's PNGs end up in
    ``out_dir`` (for the storage and loading rows)."""
    from dmt_mm.engine.labelling import SegLabeller
    model = build_seg(args, dict(type='CrossEntropyLoss'))
    if args.checkpoint:
        load_weights(model, args.checkpoint)
    model.eval()
    batches = labelling_batches(args, root)
    num_images = sum(len(b['inputs']) for b in batches)
    c = model.decode_head.num_classes
    amp = (torch.autocast('cuda', dtype=torch.float16) if args.amp else
           torch.autocast(args.device, enabled=False))
    staging_root = tempfile.mkdtemp(prefix='staging_',
                                    dir=osp.dirname(out_dir))
    passes: List[str] = []  # staging directories of whole passes

    def plain():
        with torch.no_grad(), amp:
            for data in batches:
                model.test_step(data)

    def make_dmt(threads: int):
        def run():
            passes.append(tempfile.mkdtemp(dir=staging_root))
            labeller = SegLabeller(passes[-1], c, args.device, with_gt=False,
                                   num_writers=threads)
            with torch.no_grad(), amp:
                for data in batches:
                    for sample in model.test_step(data):
                        labeller(sample)
            labeller.finish()  # waits for the PNGs, histogram to the host
        return run

    # The consumer alone on stored test_step outputs: the per-image cost
    # the ratio adds to inference (at most 16 images kept on the device).
    with torch.no_grad(), amp:
        outputs = [s for data in batches[:max(1, 16 // args.label_batch)]
                   for s in model.test_step(data)]

    def consumer():
        labeller = SegLabeller(tempfile.mkdtemp(dir=staging_root), c,
                               args.device, with_gt=False,
                               num_writers=args.writer_threads)
        for sample in outputs:
            labeller(sample)
        labeller.finish()

    variants = dict(plain=plain, main=make_dmt(0))
    if args.writer_threads > 0:
        variants['threads'] = make_dmt(args.writer_threads)
    variants['consumer'] = consumer
    warm_up(variants, args.device)
    if args.profile == 'label':
        profile(variants, args.device)
    times = interleaved(variants, args.trials, args.device)
    consumer_ms = 1e3 * min(times.pop('consumer')) / len(outputs)
    for name in os.listdir(passes[-1]):
        os.replace(osp.join(passes[-1], name), osp.join(out_dir, name))
    shutil.rmtree(staging_root)
    ips = {k: num_images / statistics.median(v) for k, v in times.items()}
    size = tuple(batches[0]['inputs'][0].shape[1:])
    where = 'synthetic' if args.label_size else 'digit scenes'
    plain_ms = 1e3 * min(times['plain']) / num_images
    base = (f'{num_images} {where} images {size[0]}x{size[1]}, batch '
            f'{args.label_batch}: fastest trials test_step {plain_ms:.2f} '
            f'ms/img, SegLabeller alone {consumer_ms:.2f} ms/img; medians '
            f'test_step {ips["plain"]:.1f} img/s, ')
    rows.append(ratio_row(
        'labelling', 'pass / test_step (PNG on main thread)', times, 'main',
        'plain', 1.10, base + f'DMT pass {ips["main"]:.1f} img/s')
        | dict(ips=ips, consumer_ms=consumer_ms, test_step_ms=plain_ms))
    if 'threads' in variants:
        rows.append(ratio_row(
            'labelling', f'pass / test_step ({args.writer_threads} writer '
            'threads)', times, 'threads', 'plain', 1.10,
            base + f'DMT pass {ips["threads"]:.1f} img/s')
            | dict(ips=ips, consumer_ms=consumer_ms, test_step_ms=plain_ms))
    return num_images


# ---------------------------------------------------------- row: storage
def bench_storage(args, rows: list, out_dir: str, num_classes: int) -> None:
    import cv2

    from dmt_mm.utils.curriculum import (class_thresholds_from_histogram,
                                         kept_counts)
    from dmt_mm.utils.pseudo_label_io import NUM_CONF_LEVELS
    files = [osp.join(out_dir, f) for f in sorted(os.listdir(out_dir))
             if f.endswith('.png')]
    if not files:
        raise RuntimeError('no pseudo-label files: run the label row first')
    nbytes = sum(osp.getsize(f) for f in files)
    pixels = sum(int(np.prod(cv2.imread(f, cv2.IMREAD_UNCHANGED).shape))
                 for f in files)
    bpp = nbytes / pixels
    model = 'trained' if args.checkpoint else 'untrained (random init)'
    rows.append(dict(
        row='storage', measure='PNG bytes per pixel', median=bpp, low=bpp,
        high=bpp, target=2.0,
        detail=f'{len(files)} files, {pixels} px, {nbytes} B; {model} '
        'teacher'))

    def curriculum_bytes(num_pixels: int) -> int:
        gen = torch.Generator().manual_seed(2)
        label = torch.randint(0, num_classes, (num_pixels, ), generator=gen)
        level = torch.randint(0, NUM_CONF_LEVELS, (num_pixels, ),
                              generator=gen)
        hist = torch.bincount(label * NUM_CONF_LEVELS + level,
                              minlength=num_classes * NUM_CONF_LEVELS)
        del label, level
        tracemalloc.start()
        h = hist.view(num_classes, NUM_CONF_LEVELS).numpy()
        thr = class_thresholds_from_histogram(h, 0.2)
        kept_counts(h, thr)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return hist.numel() * hist.element_size() + peak

    small = 2**14 if args.tiny else 2**18
    sizes = (small, 16 * small)
    mem = [curriculum_bytes(px) for px in sizes]
    rows.append(dict(
        row='storage', measure='curriculum memory, 16x pixels / 1x',
        median=mem[1] / mem[0], low=mem[1] / mem[0], high=mem[1] / mem[0],
        target=1.0,
        detail=f'{num_classes} classes x {NUM_CONF_LEVELS} levels: '
        f'{mem[0] / 1024:.1f} KiB at {sizes[0]} px, {mem[1] / 1024:.1f} KiB '
        f'at {sizes[1]} px'))


# ---------------------------------------------------------- row: loading
def bench_loading(args, rows: list, root: str, label_dir: str) -> None:
    from mmcv.transforms import Compose
    from mmengine.registry import DefaultScope

    from dmt_mm.datasets.semi_seg_dataset import pseudo_pipeline_from
    from dmt_mm.utils.pseudo_label_io import (read_pseudo_label,
                                              write_pseudo_label)
    import mmcv
    cfg = load_cfg(SEG_CONFIGS['r18'])
    count = 8 if args.tiny else 64
    infos = unlabeled_infos(root, count)
    # The same label content both ways: the ground truth, stored as a
    # pseudo label with the labelling pass's confidence levels.
    pseudo_dir = osp.join(label_dir, 'from_gt')
    pseudo_infos = []
    for info in infos:
        gt = mmcv.imread(info['seg_map_path'], flag='unchanged')
        stem = osp.splitext(osp.basename(info['img_path']))[0]
        written = osp.join(label_dir, stem + '.png')
        level = (read_pseudo_label(written)[1] if osp.isfile(written) else
                 np.full(gt.shape, 200, dtype=np.uint8))
        path = osp.join(pseudo_dir, stem + '.png')
        write_pseudo_label(path, torch.from_numpy(gt.astype(np.int64)),
                           torch.from_numpy(level))
        pseudo_infos.append(dict(
            copy.deepcopy(info), pseudo_label_path=path,
            pseudo_thresholds=np.zeros(11, dtype=np.uint8)))
    with DefaultScope.overwrite_default_scope('mmseg'):
        labeled = Compose(copy.deepcopy(cfg.train_pipeline))
        pseudo = Compose(pseudo_pipeline_from(cfg.train_pipeline))

    def run(pipeline, items, seed):
        def fn():
            np.random.seed(seed)
            for it in items:
                pipeline(copy.deepcopy(it))
        return fn

    variants = dict(pseudo=run(pseudo, pseudo_infos, 0),
                    labeled=run(labeled, infos, 0))
    warm_up(variants, 'cpu')
    times = interleaved(variants, args.trials, 'cpu')
    ms = {k: 1e3 * statistics.median(v) / len(infos)
          for k, v in times.items()}
    rows.append(ratio_row(
        'loading', 'LoadPseudoLabel / LoadAnnotations', times, 'pseudo',
        'labeled', None,
        f"demo train pipeline, {len(infos)} scenes: {ms['pseudo']:.2f} vs "
        f"{ms['labeled']:.2f} ms/sample"))


# ------------------------------------------------------------------ output
def print_table(rows: List[dict]) -> None:
    from prettytable import PrettyTable
    table = PrettyTable(['row', 'measure', 'median', 'spread (min..max)',
                         'fastest', 'target', 'ok', 'detail'])
    table.align = 'l'
    for r in rows:
        if 'error' in r:
            table.add_row([r['row'], r['measure'], '-', '-', '-', '-',
                           'ERROR', r['error']])
            continue
        target = r['target']
        ok = '-' if target is None else ('yes' if r['median'] <= target +
                                         1e-9 else 'NO')
        table.add_row([
            r['row'], r['measure'], f"{r['median']:.3f}",
            f"{r['low']:.3f}..{r['high']:.3f}",
            f"{r['best']:.3f}" if 'best' in r else '-',
            '-' if target is None else f'<= {target:g}', ok, r['detail']
        ])
    print(table)


def voc_estimate(rows: List[dict]) -> Optional[str]:
    """Hours of a whole VOC 1/106 DMT run from the measured rates.

    Schedule of configs/dmt/dmt_deeplabv2-r101_voc12aug-1-106.py: phase 0,
    300 epochs of 80 labelled images per model at batch 8; 5 DMT phases per
    model of 4 epochs over the 10,482 unlabelled images at 7 pseudo per
    batch of 8; one labelling pass per phase per teacher; validation on the
    1,449 val images after each of the 12 stages.
    """
    by = {(r['row'], r['measure']): r for r in rows if 'error' not in r}
    seg = next((r for (n, _), r in by.items() if n == 'seg step'), None)
    lab = [r for (n, _), r in by.items() if n == 'labelling']
    if seg is None or not lab:
        return None
    phase0_steps = 2 * -(-300 * 80 // 8)
    dmt_steps = 2 * 5 * -(-4 * 10482 // 7)
    label_images, val_images = 10 * 10482, 12 * 1449
    dmt_ips, plain_ips = seg['ips']['dmt'], seg['ips']['plain']
    label_ips = max(v for k, v in lab[0]['ips'].items() if k != 'plain')
    test_ips = lab[0]['ips']['plain']
    seconds = (phase0_steps * 8 / plain_ips + dmt_steps * 8 / dmt_ips +
               label_images / label_ips + val_images / test_ips)
    return (f'VOC 1/106 estimate: {phase0_steps} phase-0 steps at '
            f'{plain_ips / 8:.2f} it/s + {dmt_steps} DMT steps at '
            f'{dmt_ips / 8:.2f} it/s + {label_images} labelled images at '
            f'{label_ips:.1f} img/s + {val_images} val images at '
            f'{test_ips:.1f} img/s = {seconds / 3600:.2f} h '
            '(public code: about 8 h on one RTX 2080 Ti)')


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == 'cuda':
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    np.random.seed(0)
    from mmengine.logging import MMLogger
    if not MMLogger.check_instance_created('benchmark_dmt'):
        MMLogger.get_instance('benchmark_dmt', log_level='WARNING')
    MMLogger.get_instance('benchmark_dmt')  # the current logger
    warnings.filterwarnings('ignore', message='``build_loss`` would be')
    warnings.filterwarnings('ignore', message='Default ``avg_non_ignore``')
    import dmt_mm  # noqa: F401  registers the DMT components
    wanted = [r.strip() for r in args.rows.split(',') if r.strip()]
    unknown = set(wanted) - {'seg', 'cls', 'label', 'storage', 'loading'}
    if unknown:
        print(f'error: unknown rows {sorted(unknown)}', file=sys.stderr)
        return 2
    dev = (torch.cuda.get_device_name() if args.device == 'cuda' else
           f'cpu, {torch.get_num_threads()} threads')
    print(f'[benchmark] torch {torch.__version__}, {dev}, '
          f'{"AMP fp16" if args.amp else "fp32"}, model {args.model}, '
          f'{args.trials} trials x {args.steps} steps')
    rows: List[dict] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix='benchmark_dmt_') as tmp:
        label_dir = osp.join(tmp, 'pseudo')
        os.makedirs(label_dir)
        root = None
        jobs = dict(
            seg=lambda: bench_seg_step(args, rows),
            cls=lambda: bench_cls_step(args, rows),
            label=lambda: bench_labelling(args, rows, root, label_dir),
            storage=lambda: bench_storage(
                args, rows, label_dir,
                11 if args.model == 'r18' else 21),
            loading=lambda: bench_loading(args, rows, root, label_dir))
        for name in ('seg', 'cls', 'label', 'storage', 'loading'):
            if name not in wanted:
                continue
            start = time.perf_counter()
            try:
                if name in ('label', 'loading') and root is None and (
                        name == 'loading' or args.label_size is None):
                    root = scenes_root(args, tmp)
                jobs[name]()
            except Exception as e:  # report, go on with the other rows
                failed = True
                traceback.print_exc()
                rows.append(dict(row=name, measure='-',
                                 error=f'{type(e).__name__}: {e}'))
            print(f'[benchmark] {name}: {time.perf_counter() - start:.1f} s',
                  flush=True)
    print_table(rows)
    if args.estimate:
        print(voc_estimate(rows) or 'VOC estimate: needs the seg and label '
              'rows')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), rows=rows), f, indent=1,
                      default=str)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
