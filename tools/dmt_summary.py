#!/usr/bin/env python
"""Print the per-phase table of a finished DMT run.

    python tools/dmt_summary.py WORK_DIR

Reads ``WORK_DIR/dmt_summary.json`` (written after every stage by the DMT
train loop's report, :mod:`dmt_mm.engine.reporting`) and, if
present, the test results ``WORK_DIR/test_*/**/*.json`` written by
``tools/test.py``.
"""
import argparse
import glob
import json
import os.path as osp
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir')
    args = parser.parse_args(argv)
    path = osp.join(args.work_dir, 'dmt_summary.json')
    if not osp.isfile(path):
        print(f'no DMT summary in {args.work_dir} ({path} is missing): did '
              'the training finish?', file=sys.stderr)
        return 1
    from dmt_mm.engine.reporting import format_summary
    with open(path) as f:
        summary = json.load(f)
    print(f'DMT per-stage results ({args.work_dir})')
    print(format_summary(summary['stages'], summary.get('metric', 'mIoU')))
    by_model = {}
    for row in summary['stages']:
        by_model.setdefault(row['model'] or '', []).append(row)
    for model, rows in sorted(by_model.items()):
        rows.sort(key=lambda r: r['phase'])
        first, last = rows[0].get('val'), rows[-1].get('val')
        if first is not None and last is not None:
            who = f'model {model}' if model else 'chain'
            print(f'{who}: phase 0 (labelled only) {first:.2f} -> '
                  f'phase {rows[-1]["phase"]} (DMT) {last:.2f} '
                  f'({last - first:+.2f})')
    results = glob.glob(osp.join(args.work_dir, 'test', '*', '*.json'))
    results += glob.glob(osp.join(args.work_dir, 'test_*', '*', '*.json'))
    for res in sorted(results):
        with open(res) as f:
            metrics = json.load(f)
        name = osp.basename(osp.dirname(osp.dirname(res)))
        shown = {
            k: v
            for k, v in metrics.items()
            if 'IoU' in k or 'Acc' in k or k.startswith('accuracy')
        }
        print(f'{name}: ' + ', '.join(f'{k}={v}' for k, v in shown.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
