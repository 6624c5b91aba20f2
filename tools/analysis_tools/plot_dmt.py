# Copyright (c) dmt_mm contributors. All rights reserved.
"""Plot a DMT run: what the curriculum kept, how good it was, what it did.

    python tools/analysis_tools/plot_dmt.py WORK_DIR [--out DIR]

Reads ``WORK_DIR/dmt_summary.json`` (written after every stage, so a run in
progress can be plotted too) and, when present, the scalars mmengine logged
(``WORK_DIR/<timestamp>/vis_data/scalars.json``), and writes PNGs to
``WORK_DIR/plots`` (or ``--out``):

- ``val_per_stage.png``: val metric of A and B per stage, phase-0 level
  dashed;
- ``pseudo_labels_per_phase.png``: kept ratio, and pseudo-label quality (all
  and kept) where the unlabelled set has ground truth;
- ``dynamic_weight_per_stage.png``: mean dynamic weight, disagreement and
  student-wins rates;
- ``kept_per_class.png``: kept pseudo-labelled pixels / samples per class
  and phase;
- ``thresholds.png``: the per-class (segmentation) or global
  (classification) confidence thresholds;
- ``training_curves.png``: the DMT loss statistics per logged iteration.

It then prints the paths and the warnings :class:`DMTMonitor` (default
settings) gives for the run.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')  # no display needed; before anything imports pyplot

try:
    import dmt_mm  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from dmt_mm.engine.monitor import DMTMonitor  # noqa: E402
from dmt_mm.visualization.run_plots import write_dmt_plots  # noqa: E402
from dmt_mm.visualization.summary_io import load_dmt_summary  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write PNG plots of a DMT run from its dmt_summary.json')
    parser.add_argument('work_dir', help='work dir of the DMT run')
    parser.add_argument(
        '--out', help='output folder (default: WORK_DIR/plots)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Write the plots; return their paths."""
    args = parse_args(argv)
    paths = write_dmt_plots(args.work_dir, args.out)
    print(f'DMT plots of {args.work_dir}:')
    for p in paths:
        print(f'  {p}')
    warnings = DMTMonitor().replay(load_dmt_summary(args.work_dir))
    if warnings:
        print('DMT monitor warnings (default thresholds):')
        for w in warnings:
            print(f'  {w}')
    return paths


if __name__ == '__main__':
    main()
