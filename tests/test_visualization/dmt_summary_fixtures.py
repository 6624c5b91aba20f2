# Copyright (c) dmt_mm contributors. All rights reserved.
"""Fabricated ``dmt_summary.json`` contents in the engine's format.

``make_summary(procedure, degrade)`` returns the summary of a 5-phase run:

- ``'mutual'`` (segmentation, models A and B, 11 digit-scene classes): a
  healthy run gains ~0.8 mIoU per phase; kept pseudo-label mIoU falls
  gently as the keep ratio grows (< 5 points per phase); disagreement
  creeps up by a few points per phase.
- ``'chain'`` (classification, 10 digits): a healthy run dips once in
  phase 1 (a fresh student, as the real digits run of seed 0: 95.0 ->
  92.8) and then climbs to 97.8.
- ``degrade=True``: from phase 3 (mutual: the teacher of A, model B, goes
  bad) / phase 2 (chain) one class gets no kept pseudo labels, the kept
  pseudo-label quality falls by > 10 points, the disagreement rate jumps by
  > 20 points and the val metric of that model falls 4-7 points below its
  phase-0 level in every later stage.

Used by tests/test_engine/test_monitor.py, tests/test_tools/
test_plot_dmt.py and the visualization tests (load it with
``conftest.load_tool``).
"""
import json
import os
import os.path as osp
from typing import Optional

DIGITS = tuple(str(i) for i in range(10))
SCENE_CLASSES = ('background', ) + DIGITS
RATIOS = (0.2, 0.4, 0.6, 0.8, 1.0)


def _mutual(degrade: bool) -> dict:
    classes = list(SCENE_CLASSES)
    n = len(classes)
    stages, labelling = [], []
    base = {'A': 31.5, 'B': 32.6}
    for m in 'AB':
        stages.append(dict(stage=len(stages), model=m, phase=0,
                           keep_ratio=None, iters=1200, val=base[m]))
    for k, r in enumerate(RATIOS, 1):
        for target, teacher in (('A', 'B'), ('B', 'A')):
            bad = degrade and target == 'A' and k >= 3
            total = [2_500_000] + [60_000 + 9_000 * c for c in range(1, n)]
            kept = [int(t * r) for t in total]
            if bad:  # teacher B stopped predicting digit '7' (class 8)
                total[8] = kept[8] = 0
            pseudo = 60.0 + 2.0 * k - (14.0 if bad else 0.0)
            kept_q = 84.0 - 3.5 * (k - 1) - (15.0 if bad else 0.0)
            thr = [round(0.99 - 0.18 * (1 - r) * (1 + 0.1 * c) * (r < 1), 4)
                   for c in range(n)]
            labelling.append(dict(
                phase=k, target=target, teacher=teacher, keep_ratio=r,
                kept_ratio=sum(kept) / sum(total), seconds=4.6,
                class_total=total, class_kept=kept,
                thresholds=[t if r < 1 else 0.0 for t in thr],
                pixels=sum(total), images=800, pseudo_miou=pseudo,
                kept_miou=kept_q if r < 1 else pseudo))
            if k > 1:  # this teacher at the previous cut: a bit better
                labelling[-1]['kept_miou_prev_ratio'] = (
                    84.0 - 3.5 * (k - 2) + 1.0 - (15.0 if bad else 0.0))
        for m in 'AB':
            bad = degrade and m == 'A' and k >= 3
            lab = labelling[-2 if m == 'A' else -1]
            val = base[m] + 0.8 * k - ((0.8 * k + 2.0 + k) if bad else 0)
            disagree = 0.10 + 0.02 * k + (0.25 if bad else 0.0)
            stages.append(dict(
                stage=len(stages), model=m, phase=k, keep_ratio=r, iters=300,
                val=val, kept_ratio=lab['kept_ratio'],
                pseudo_miou=lab['pseudo_miou'], kept_miou=lab['kept_miou'],
                dmt_weight=0.62 - 0.03 * k - (0.3 if bad else 0.0),
                dmt_disagree=disagree,
                dmt_student_wins=disagree * (0.6 if bad else 0.3)))
    return dict(metric='mIoU', procedure='mutual', teacher='partner',
                classes=classes, stages=stages, labelling=labelling)


def _chain(degrade: bool) -> dict:
    classes = list(DIGITS)
    healthy = [95.0, 92.8, 95.4, 95.8, 97.0, 97.8]
    stages = [dict(stage=0, model=None, phase=0, keep_ratio=None, iters=800,
                   val=healthy[0])]
    labelling = []
    n = 1247
    for k, r in enumerate(RATIOS, 1):
        bad = degrade and k >= 2
        per_class = [n // 10 + (1 if c < n % 10 else 0) for c in range(10)]
        kept = [round(t * r) for t in per_class]
        if bad:  # class '3' collapses: the teacher gives it to '8'
            per_class[8] += per_class[3]
            kept[8] += kept[3]
            per_class[3] = kept[3] = 0
        pseudo = 93.0 + k * 0.8 - (9.0 if bad else 0.0)
        kept_acc = 99.5 - 1.0 * (k - 1) - (12.0 if bad else 0.0)
        labelling.append(dict(
            phase=k, target=None, teacher=f'phase{k - 1} EMA model',
            keep_ratio=r, kept_ratio=sum(kept) / n, seconds=1.2,
            class_total=per_class, class_kept=kept,
            threshold=round(0.999 - 0.1 * (1 - r) ** 2 - 0.3 * (r == 1), 4),
            samples=n, pseudo_acc=pseudo,
            kept_acc=kept_acc if r < 1 else pseudo))
        if k > 1:  # this teacher at the previous cut
            labelling[-1]['kept_acc_prev_ratio'] = (
                99.5 - 1.0 * (k - 2) + 0.2 - (12.0 if bad else 0.0))
        val = healthy[k] - ((healthy[k] - healthy[0]) + 2.0 + k)\
            if bad else healthy[k]
        disagree = 0.05 + 0.01 * k + (0.3 if bad else 0.0)
        stages.append(dict(
            stage=k, model=None, phase=k, keep_ratio=r, iters=800, val=val,
            kept_ratio=labelling[-1]['kept_ratio'],
            pseudo_acc=pseudo, kept_acc=labelling[-1]['kept_acc'],
            threshold=labelling[-1]['threshold'], dmt_weight=0.7 - 0.02 * k,
            dmt_disagree=disagree, dmt_student_wins=disagree * 0.4))
    return dict(metric='accuracy/top1', procedure='chain', teacher='self',
                classes=classes, stages=stages, labelling=labelling)


def make_summary(procedure: str = 'mutual', degrade: bool = False,
                 with_gt: bool = True) -> dict:
    """A full 5-phase summary (see the module docstring)."""
    s = _mutual(degrade) if procedure == 'mutual' else _chain(degrade)
    if not with_gt:
        drop = ('pseudo_miou', 'kept_miou', 'pseudo_acc', 'kept_acc',
                'kept_miou_prev_ratio', 'kept_acc_prev_ratio')
        for row in s['stages'] + s['labelling']:
            for key in drop:
                if key in row:
                    row[key] = None
        for rec in s['labelling']:
            for key in drop:
                rec.pop(key, None)
    return s


def write_work_dir(root: str, summary: dict,
                   scalars: Optional[list] = None) -> str:
    """Write ``summary`` as ``<root>/dmt_summary.json`` (and, given, a
    ``<root>/<timestamp>/vis_data/scalars.json``); return ``root``."""
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'dmt_summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    if scalars is not None:
        vis = osp.join(root, '20260101_000000', 'vis_data')
        os.makedirs(vis, exist_ok=True)
        with open(osp.join(vis, 'scalars.json'), 'w') as f:
            for line in scalars:
                f.write(json.dumps(line) + '\n')
    return root


def training_scalars(summary: dict, every: int = 50) -> list:
    """Per-iteration scalars.json lines consistent with ``summary``."""
    out, it = [], 0
    for st in summary['stages']:
        for i in range(every, st['iters'] + 1, every):
            line = dict(loss=1.0, iter=it + i, step=it + i)
            if st['phase'] >= 1:
                line.update(dmt_weight=st['dmt_weight'],
                            dmt_disagree=st['dmt_disagree'],
                            dmt_student_wins=st['dmt_student_wins'])
            out.append(line)
        it += st['iters']
    return out
