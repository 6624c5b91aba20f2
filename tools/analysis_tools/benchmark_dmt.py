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

Files: this one (arguments, the run, the VOC estimate);
benchmark_timing.py (interleaved trials, ratio rows, the table);
benchmark_dmt_models.py (configs and models); benchmark_dmt_steps.py (seg
and cls step); benchmark_dmt_labelling.py (labelling);
benchmark_dmt_storage.py (storage and loading).
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import traceback
import warnings
from typing import List, Optional

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark_dmt_labelling import bench_labelling, scenes_root  # noqa: E402
from benchmark_dmt_models import REPO  # noqa: E402
from benchmark_dmt_steps import bench_cls_step, bench_seg_step  # noqa: E402
from benchmark_dmt_storage import bench_loading, bench_storage  # noqa: E402
from benchmark_timing import print_table  # noqa: E402

if REPO not in sys.path:
    sys.path.insert(0, REPO)
#: The rows, in the order they run (labelling writes what storage reads).
ROWS = ('seg', 'cls', 'label', 'storage', 'loading')


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
    p.add_argument('--rows', default=','.join(ROWS),
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
    from mmengine.utils import Timer
    if not MMLogger.check_instance_created('benchmark_dmt'):
        MMLogger.get_instance('benchmark_dmt', log_level='WARNING')
    MMLogger.get_instance('benchmark_dmt')  # the current logger
    warnings.filterwarnings('ignore', message='``build_loss`` would be')
    warnings.filterwarnings('ignore', message='Default ``avg_non_ignore``')
    import dmt_mm  # noqa: F401  registers the DMT components
    from dmt_mm.utils.pseudo_label_io import atomic_write_bytes
    wanted = [r.strip() for r in args.rows.split(',') if r.strip()]
    unknown = set(wanted) - set(ROWS)
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
        for name in ROWS:
            if name not in wanted:
                continue
            timer = Timer()
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
            print(f'[benchmark] {name}: {timer.since_start():.1f} s',
                  flush=True)
    print_table(rows)
    if args.estimate:
        print(voc_estimate(rows) or 'VOC estimate: needs the seg and label '
              'rows')
    if args.json:
        atomic_write_bytes(args.json, json.dumps(
            dict(args=vars(args), rows=rows), indent=1,
            default=str).encode())
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
