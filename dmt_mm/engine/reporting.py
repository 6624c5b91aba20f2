# Copyright (c) dmt_mm contributors. All rights reserved.
"""What a DMT run reports: per-stage rows, labelling records, the summary.

:class:`DMTReport` is owned by :class:`~dmt_mm.engine.DMTTrainLoop`. It
collects

- one *labelling record* per labelling pass (kept ratio, per-class totals,
  kept counts and thresholds, pseudo-label quality where the unlabelled set
  has ground truth, seconds);
- the training diagnostics of the current stage (mean dynamic weight,
  disagreement and student-wins rates, summed on the device and read once at
  the stage end, so the training step never waits for the host; where the
  unlabelled set has ground truth kept aside, the weight histogram of right
  and wrong pseudo labels, giving ``dmt_weight_correct``,
  ``dmt_weight_wrong`` and ``dmt_weight_auc``, see
  :mod:`~dmt_mm.models.losses.dmt_weight_truth`);
- one *stage row* per stage (validation metric and the above);

and writes ``<work_dir>/dmt_summary.json`` after every stage (atomically).
Every record is also logged as ``dmt/...`` scalars through the runner's
visualizer and checked by :class:`~dmt_mm.engine.monitor.DMTMonitor`, whose
warnings go to the log (``train_cfg.monitor`` sets its thresholds). Its state
is part of the loop's checkpointed state. :func:`format_summary` draws the
table with ``prettytable`` (what MMSeg's ``IoUMetric`` uses).
"""
import json
import math
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_reduce, is_main_process
from prettytable import PrettyTable

from dmt_mm.engine.monitor import DMTMonitor
from dmt_mm.models.losses.dmt_weight_truth import (WEIGHT_BINS, TRUTH_STATS,
                                                   weight_truth_summary)
from dmt_mm.utils.pseudo_label_io import atomic_write_bytes
from dmt_mm.visualization.scalars import labelling_scalars, stage_scalars

#: Diagnostics the DMT losses return next to the loss (logged, averaged
#: over a stage).
TRAIN_STATS = ('dmt_weight', 'dmt_disagree', 'dmt_student_wins')


class DMTReport:
    """Per-stage and per-pass records of one DMT run (see module doc).

    Args:
        metric (str): Validation metric recorded per stage, e.g. ``'mIoU'``
            or ``'accuracy/top1'``.
        procedure (str): ``'mutual'`` or ``'chain'``.
        teacher (str): ``'partner'`` or ``'self'``.
        classes (list[str]): Class names.
        monitor (dict, optional): Arguments of :class:`DMTMonitor`.
    """

    def __init__(self,
                 metric: str,
                 procedure: str,
                 teacher: str,
                 classes: List[str],
                 monitor: Optional[dict] = None) -> None:
        self.monitor = DMTMonitor(**(monitor or {}))
        self.metric = metric
        self.procedure = procedure
        self.teacher = teacher
        self.classes = list(classes)
        self.history: List[dict] = []
        self.labelling: List[dict] = []
        self._sums: Optional[torch.Tensor] = None
        self._hist: Optional[torch.Tensor] = None
        self._count = 0
        self.last_val: Optional[float] = None

    # ------------------------------------------------------------ collecting
    def start_stage(self) -> None:
        """Forget the previous stage's diagnostics and validation."""
        self._sums = None
        self._hist = None
        self._count = 0
        self.last_val = None

    def add_weight_hist(self, hist: Optional[torch.Tensor]) -> None:
        """Add one iteration's weight histogram ``(2, WEIGHT_BINS + 1)``
        of right and wrong pseudo labels (no host-device sync)."""
        if hist is None:
            return
        if self._hist is None:
            self._hist = hist.detach().clone()
        else:
            self._hist = self._hist.to(hist.device) + hist.detach()

    def add_train_outputs(self, outputs: Optional[dict]) -> None:
        """Accumulate one iteration's diagnostics (no host-device sync)."""
        if not outputs or TRAIN_STATS[0] not in outputs:
            return
        vals = torch.stack(
            [torch.as_tensor(outputs[k]).detach().float().reshape(())
             for k in TRAIN_STATS])
        if self._sums is None:
            self._sums = vals
        else:
            if self._sums.device != vals.device:  # restored from a checkpoint
                self._sums = self._sums.to(vals.device)
            self._sums = self._sums + vals
        self._count += 1

    def set_val(self, metrics: Optional[Dict]) -> None:
        """Record the validation metrics of the stage."""
        if metrics and self.metric in metrics:
            self.last_val = float(metrics[self.metric])

    def add_labelling(self, record: dict, runner=None) -> None:
        """Record a labelling pass (replacing a redone one); with a runner,
        log its scalars and the monitor's warnings."""
        key = (record['phase'], record.get('target'))
        self.labelling = [
            r for r in self.labelling
            if (r['phase'], r.get('target')) != key
        ] + [record]
        if runner is not None:
            runner.visualizer.add_scalars(
                labelling_scalars(record), step=runner.iter)
            for msg in self.monitor.check_labelling(self.labelling,
                                                    self.classes):
                runner.logger.warning(msg)

    def labelling_for(self, phase: int, target: Optional[str]) -> dict:
        """The record of the pass that labelled phase ``phase`` for
        ``target`` (empty if none)."""
        for r in self.labelling:
            if r['phase'] == phase and r.get('target') == target:
                return r
        return {}

    def finish_stage(self, stage, runner=None,
                     phase0_from: Optional[str] = None) -> dict:
        """The stage's row (diagnostics summed over ranks); recorded. With
        a runner, its scalars and the monitor's warnings are logged. A
        phase-0 stage loaded from a checkpoint (``train_cfg.phase0_from``)
        names it in the row's ``phase0_from``."""
        sums = torch.zeros(len(TRAIN_STATS) + 1, dtype=torch.float64)
        if self._sums is not None:
            sums[:-1] = self._sums.double().cpu()
        sums[-1] = self._count
        all_reduce(sums)
        count = float(sums[-1])
        hist = torch.zeros(2, WEIGHT_BINS + 1, dtype=torch.float64)
        if self._hist is not None:
            hist += self._hist.double().cpu()
        all_reduce(hist)  # every rank calls it: no rank skips on None
        row = dict(
            stage=stage.index,
            model=stage.model,
            phase=stage.phase,
            keep_ratio=stage.keep_ratio,
            iters=stage.length,
            val=self.last_val)
        if phase0_from is not None:
            row['phase0_from'] = phase0_from
        if stage.phase >= 1:
            lab = self.labelling_for(stage.phase, stage.model)
            row['kept_ratio'] = lab.get('kept_ratio')
            keys = (('pseudo_acc', 'kept_acc', 'threshold')
                    if self.procedure == 'chain' else
                    ('pseudo_miou', 'kept_miou'))
            for k in keys:  # None where the unlabelled set has no labels
                row[k] = lab.get(k)
            for k, v in zip(TRAIN_STATS, sums[:-1].tolist()):
                row[k] = v / count if count else None
            row.update(weight_truth_summary(hist if hist.any() else None))
        self.history = [h for h in self.history
                        if h['stage'] != stage.index] + [row]
        if runner is not None:
            runner.visualizer.add_scalars(stage_scalars(row), step=runner.iter)
            for msg in self.monitor.check_stage(self.history, self.metric):
                runner.logger.warning(msg)
        return row

    # --------------------------------------------------------------- output
    def summary(self) -> dict:
        """The content of ``dmt_summary.json``."""
        return dict(
            metric=self.metric,
            procedure=self.procedure,
            teacher=self.teacher,
            classes=self.classes,
            stages=self.history,
            labelling=self.labelling)

    def write(self, work_dir: str) -> str:
        """Write ``<work_dir>/dmt_summary.json`` (main process, atomic)."""
        path = osp.join(work_dir, 'dmt_summary.json')
        if is_main_process():
            atomic_write_bytes(path,
                               json.dumps(self.summary(), indent=1).encode())
        return path

    def state_dict(self) -> dict:
        """Records and the current stage's partial diagnostics."""
        return dict(
            history=self.history,
            labelling=self.labelling,
            sums=None if self._sums is None else self._sums.cpu().tolist(),
            hist=None if self._hist is None else self._hist.cpu().tolist(),
            count=self._count,
            last_val=self.last_val)

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state.get('history', []))
        self.labelling = list(state.get('labelling', []))
        sums = state.get('sums')
        self._sums = None if sums is None else torch.tensor(
            sums, dtype=torch.float32)
        hist = state.get('hist')
        self._hist = None if hist is None else torch.tensor(
            hist, dtype=torch.float32)
        self._count = int(state.get('count', 0))
        self.last_val = state.get('last_val')


def _fmt_row(h: dict, q: str) -> tuple:

    def pct(k):
        v = h.get(k)
        return '-' if v is None else f'{v * 100:.1f}'

    def num(k, fmt='{:.2f}'):
        v = h.get(k)
        return '-' if v is None or (isinstance(v, float)
                                    and math.isnan(v)) else fmt.format(v)

    return (h['model'] or '-', str(h['phase']),
            '-' if h.get('keep_ratio') is None else f'{h["keep_ratio"]:.1f}',
            pct('kept_ratio'), num(f'pseudo_{q}'), num(f'kept_{q}'),
            num('dmt_weight', '{:.3f}'), pct('dmt_disagree'),
            pct('dmt_student_wins'), num('dmt_weight_correct', '{:.3f}'),
            num('dmt_weight_wrong', '{:.3f}'), num('dmt_weight_auc', '{:.3f}'),
            num('val'))


def format_value(v) -> str:
    """One value of a stage row, as the log line of a stage end shows it."""
    if v is None:
        return '-'
    if isinstance(v, float):
        return 'nan' if math.isnan(v) else f'{v:.4g}'
    return str(v)


def format_summary(history: List[dict], metric: str = 'mIoU') -> str:
    """The per-stage table printed at the end of a DMT run.

    Segmentation rows report pseudo-label mIoU (``pseudo_miou``,
    ``kept_miou``), classification rows accuracy (``pseudo_acc``,
    ``kept_acc``); a chain has no model (``-``).
    """
    acc = any('pseudo_acc' in h for h in history)
    q, qname = ('acc', 'acc') if acc else ('miou', 'mIoU')
    table = PrettyTable([
        'model', 'phase', 'keep ratio', 'kept %', f'pseudo {qname}',
        f'kept {qname}', 'mean w', 'disagree %', 'student wins %',
        'w right', 'w wrong', 'w AUC', f'val {metric}'
    ])
    table.align = 'r'
    for h in sorted(history, key=lambda r: (r['model'] or '', r['phase'])):
        table.add_row(_fmt_row(h, q))
    return table.get_string()


__all__ = ['DMTReport', 'format_summary', 'format_value', 'TRAIN_STATS',
           'TRUTH_STATS']
