#!/usr/bin/env python
# Copyright (c) dmt_mm contributors. All rights reserved.
"""Is a DMT stage long enough? The val curve inside every stage of a run.

    python tools/analysis_tools/stage_curves.py WORK_DIR
        [--fractions 0.4 0.8] [--rise 0.5] [--flat 0.2] [--json PATH]

For a run trained with ``train_cfg.val_interval`` (validations inside the
stages), reads the stages from ``WORK_DIR/dmt_summary.json`` (their order and
lengths: stage ``k`` spans the iterations after the sum of the lengths
before it) and every validation mmengine logged
(``WORK_DIR/<timestamp>/vis_data/scalars.json``, all timestamps of a resumed
run; ``step`` = iterations done). Per stage it prints the val at each
fraction of the stage (linear between the two validations around it; none
before the stage's first validation) and at its end (the summary's).

Then the stage-length rule of docs/benchmarks/PROTOCOL-v2.md, section 3 (d)
(the paper's stages are 4 epochs over the pseudo-labelled set, Feng et al.,
arXiv:2004.08514), on the DMT stages (phase >= 1), averaged over them: if
the end is more than ``--rise`` above the value at the last fraction, the
stages were still rising: **double** them; if the end is within ``--flat``
of the value at the first fraction, they were flat well before: **halve**
them; else **keep** them.
"""
import argparse
import json
import os.path as osp
import statistics
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark_runs import write  # noqa: E402 (atomic)

from dmt_mm.visualization.summary_io import (  # noqa: E402
    find_scalars_files, load_scalars)


def stage_spans(stages):
    """``[(row, begin, end)]`` in training order (``row`` a stage record of
    ``dmt_summary.json``: ``stage``, ``model``, ``phase``, ``iters``)."""
    spans, begin = [], 0
    for row in sorted(stages, key=lambda r: r['stage']):
        spans.append((row, begin, begin + row['iters']))
        begin += row['iters']
    return spans


def read_vals(work_dir: str, metric: str) -> dict:
    """``{step: val}`` of every validation logged under ``work_dir`` (later
    timestamps win: a resumed run validates a step again)."""
    return {int(rec['step']): float(rec[metric])
            for rec in load_scalars(find_scalars_files(work_dir))
            if metric in rec and 'step' in rec}


def value_at(points, t: float):
    """Linear interpolation of ``points`` ([(x, y)], x increasing) at ``t``;
    None outside them."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= t <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (t - x0) / (x1 - x0)
    if points and points[-1][0] == t:
        return points[-1][1]
    return None


def stage_curves(summary: dict, vals: dict, fractions) -> list:
    """Per stage: ``stage``, ``model``, ``phase``, ``iters``, ``end`` (its
    recorded val), ``at`` {fraction: val or None} and ``points`` (the
    validations inside it, as iterations into the stage)."""
    rows = []
    for row, begin, end in stage_spans(summary['stages']):
        points = sorted((s - begin, v) for s, v in vals.items()
                        if begin < s < end)
        if row.get('val') is not None:
            points.append((end - begin, row['val']))
        rows.append(dict(
            stage=row['stage'], model=row.get('model'), phase=row['phase'],
            iters=row['iters'], end=row.get('val'), points=points,
            at={str(f): value_at(points, f * row['iters'])
                for f in fractions}))
    return rows


def decide(rows, fractions, rise: float = 0.5, flat: float = 0.2) -> dict:
    """The rule (module docstring) on the DMT stages of ``rows``."""
    first, last = str(min(fractions)), str(max(fractions))
    dmt = [r for r in rows if r['phase'] >= 1 and r['end'] is not None
           and None not in (r['at'][first], r['at'][last])]
    if not dmt:
        return dict(stages=0, verdict=None, reason='no DMT stage has a '
                    f'validation at fractions {first} and {last}')
    gain_last = statistics.mean(r['end'] - r['at'][last] for r in dmt)
    gain_first = statistics.mean(r['end'] - r['at'][first] for r in dmt)
    verdict = ('double' if gain_last > rise else
               'halve' if abs(gain_first) <= flat else 'keep')
    return dict(stages=len(dmt), end_minus_last=gain_last,
                end_minus_first=gain_first, rise=rise, flat=flat,
                fractions=[first, last], verdict=verdict)


def format_report(rows, decision) -> str:
    fracs = list(rows[0]['at']) if rows else []
    lines = [f'{"stage":>5} {"model":>5} {"phase":>5} {"iters":>6} ' +
             ''.join(f'{"at " + f:>9}' for f in fracs) + f'{"end":>9}']
    for r in rows:
        lines.append(
            f'{r["stage"]:>5} {str(r["model"] or "-"):>5} {r["phase"]:>5} '
            f'{r["iters"]:>6} ' + ''.join(
                '        -' if r['at'][f] is None else f'{r["at"][f]:>9.2f}'
                for f in fracs) +
            ('        -' if r['end'] is None else f'{r["end"]:>9.2f}'))
    d = decision
    if d['verdict'] is None:
        lines.append(f'rule: n/a ({d["reason"]})')
    else:
        first, last = d['fractions']
        lines.append(
            f'DMT stages ({d["stages"]}), mean end - val at {last}: '
            f'{d["end_minus_last"]:+.2f} (double above {d["rise"]}); end - '
            f'val at {first}: {d["end_minus_first"]:+.2f} (halve within '
            f'{d["flat"]}): {d["verdict"]}')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir')
    parser.add_argument('--fractions', type=float, nargs='+',
                        default=[0.4, 0.8])
    parser.add_argument('--rise', type=float, default=0.5)
    parser.add_argument('--flat', type=float, default=0.2)
    parser.add_argument('--json', help='also write the stages and the rule')
    args = parser.parse_args(argv)
    bad = [f for f in args.fractions if not 0 < f < 1]
    if bad:
        parser.error(f'--fractions {bad}: each must be inside (0, 1)')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    path = osp.join(args.work_dir, 'dmt_summary.json')
    if not osp.isfile(path):
        print(f'{path} not found: WORK_DIR must be a DMT run\'s work dir',
              file=sys.stderr)
        return 1
    with open(path) as f:
        summary = json.load(f)
    vals = read_vals(args.work_dir, summary['metric'])
    rows = stage_curves(summary, vals, args.fractions)
    decision = decide(rows, args.fractions, args.rise, args.flat)
    print(format_report(rows, decision))
    if args.json:
        write(args.json, json.dumps(dict(
            work_dir=args.work_dir, metric=summary['metric'], stages=rows,
            rule=decision), indent=1).encode())
    return 0


if __name__ == '__main__':
    sys.exit(main())
