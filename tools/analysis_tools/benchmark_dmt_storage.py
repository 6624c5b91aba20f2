# Copyright (c) dmt_mm contributors. All rights reserved.
"""The storage and loading rows of ``benchmark_dmt.py``.

storage: bytes per pixel of the PNGs of the labelling pass and the
curriculum's host memory at 1x and 16x the pixels (its state is a
(classes x 256) histogram). loading: the demo's training pipeline per sample
with LoadPseudoLabel over the same with LoadAnnotations.
"""
import copy
import os
import os.path as osp
import statistics
import tracemalloc

import numpy as np
import torch
from benchmark_dmt_labelling import unlabeled_infos
from benchmark_dmt_models import SEG_CONFIGS, load_cfg
from benchmark_timing import measure, ratio_row


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
    times, _ = measure(variants, args.trials, 'cpu')
    ms = {k: 1e3 * statistics.median(v) / len(infos)
          for k, v in times.items()}
    rows.append(ratio_row(
        'loading', 'LoadPseudoLabel / LoadAnnotations', times, 'pseudo',
        'labeled', None,
        f"demo train pipeline, {len(infos)} scenes: {ms['pseudo']:.2f} vs "
        f"{ms['labeled']:.2f} ms/sample"))

