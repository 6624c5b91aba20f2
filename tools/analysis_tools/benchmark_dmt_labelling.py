# Copyright (c) dmt_mm contributors. All rights reserved.
"""The labelling row of ``benchmark_dmt.py`` and the digit scenes it reads.

model.test_step + the engine's SegLabeller (softmax, max, encode_confidence,
histogram, PNG written into a fresh staging directory) over model.test_step
alone: once with the PNGs written on the main thread, once with
PseudoLabelWriter threads (2, as the engine).
"""
import copy
import os
import os.path as osp
import shutil
import statistics
import sys
import tempfile
from typing import List, Optional

import numpy as np
import torch
from benchmark_dmt_models import (REPO, SEG_CONFIGS, build_seg, load_cfg,
                                  load_weights)
from benchmark_timing import measure, ratio_row


def scenes_root(args, tmp: str) -> str:
    """``args.data_root``, or a small set of digit scenes made in ``tmp``."""
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


def labelling_batches(args, root: Optional[str]) -> List[dict]:
    """Collated test batches: the demo's digit scenes, or synthetic images
    of ``args.label_size``, each sample with its ``pseudo_key``."""
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
    times, _ = measure(variants, args.trials, args.device,
                       args.profile == 'label')
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

