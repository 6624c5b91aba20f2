# Copyright (c) dmt_mm contributors. All rights reserved.
"""Warnings while a DMT run is going, before it silently degrades.

Self-training can get worse phase after phase when pseudo labels go bad
(users of the public DMT code report mIoU falling every round on their own
data). :class:`DMTMonitor` reads the records a DMT run writes to
``dmt_summary.json`` (``labelling`` records after each labelling pass,
``stages`` rows after each stage) and returns warning messages with the
numbers:

- after a labelling pass: a class gets no kept pseudo labels
  (``'empty_class'``); the quality of the kept pseudo labels (mIoU or
  accuracy against the unlabelled set's ground truth, where it has one),
  measured at the previous pass's keep ratio, fell by more than
  ``kept_quality_drop`` points since the previous pass for the same model
  (``'kept_quality_drop'``);
- after a stage: the model's val metric is more than ``val_drop`` points
  below its phase-0 value (``'val_drop'``); its disagreement rate rose by
  more than ``disagree_jump`` since its previous DMT stage
  (``'disagree_jump'``).

With ``stop_on_degradation=True``, :attr:`DMTMonitor.should_stop` becomes
True when a warning of a kind in ``stop_on`` is a degradation: a val drop
that lasted ``patience`` consecutive stages of one model, or any warning of
the other kinds listed. The methods are stateless apart from that flag: they
look only at the records they are given, so a resumed run gets the same
answers.

Usage from a training loop (settings from ``train_cfg.monitor``)::

    monitor = DMTMonitor(**train_cfg.get('monitor', {}))
    for msg in monitor.check_labelling(labelling_records, classes):
        logger.warning(msg)
    for msg in monitor.check_stage(stage_rows, metric):
        logger.warning(msg)
    if monitor.should_stop:
        ...  # save a checkpoint, log monitor.stop_reason, stop
"""
import math
import numbers
from typing import List, Optional, Sequence

__all__ = ['DMTMonitor', 'MONITOR_KINDS']

#: The kinds of warning :class:`DMTMonitor` gives.
MONITOR_KINDS = ('empty_class', 'kept_quality_drop', 'val_drop',
                 'disagree_jump')


def _number(name: str, value, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not value >= minimum:
        raise ValueError(f'monitor.{name} must be a number >= {minimum}, got '
                         f'{value!r}')
    return float(value)


def _ok(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(
        value, bool) and not math.isnan(value)


def _who(model: Optional[str]) -> str:
    return 'the model' if model is None else f'model {model}'


def _stage_name(row: dict) -> str:
    model = row.get('model')
    return (f'phase{row["phase"]}' if model is None else
            f'phase{row["phase"]}_{model}')


class DMTMonitor:
    """Check DMT records for signs of a degrading run.

    All margins are absolute. Metric margins are in the units of the
    records: points of mIoU or accuracy (percent) for ``val``,
    ``kept_miou`` and ``kept_acc``; rates in ``[0, 1]`` for
    ``dmt_disagree``.

    Args:
        val_drop (float): Warn when a stage's val metric is more than this
            many points below the phase-0 value of the same model (the
            labelled-only level). Defaults to 1.0.
        disagree_jump (float): Warn when a model's disagreement rate (the
            fraction of kept pseudo-labelled pixels/samples where the
            student's prediction differs from the pseudo label) rose by
            more than this since its previous DMT stage. It naturally
            creeps up as the curriculum keeps less confident labels, so the
            default, 0.15 (15 percentage points), looks for jumps.
        kept_quality_drop (float): Warn when the new teacher's most
            confident labels are worse than the previous teacher's at the
            same cut: the mIoU / accuracy of the new pass at the previous
            pass's keep ratio (``kept_miou_prev_ratio`` /
            ``kept_acc_prev_ratio``) is more than this many points below
            the previous pass's kept quality (same model). Comparing the
            kept parts at two different keep ratios would warn on every
            healthy run (a larger cut keeps less confident labels; on the
            digit-scenes demo the kept mIoU falls 6-14 points per phase
            while val rises). Defaults to 5.0.
        patience (int): A val drop is a degradation when it lasts this many
            consecutive stages of one model. DMT's first phase often dips
            once before recovering (a fresh classification student), hence
            the default of 2.
        stop_on_degradation (bool): Set :attr:`should_stop` on a
            degradation. Defaults to False (warn only).
        stop_on (Sequence[str]): Kinds that count as a degradation (from
            :data:`MONITOR_KINDS`). Defaults to ``('val_drop', )``.
    """

    def __init__(self,
                 val_drop: float = 1.0,
                 disagree_jump: float = 0.15,
                 kept_quality_drop: float = 5.0,
                 patience: int = 2,
                 stop_on_degradation: bool = False,
                 stop_on: Sequence[str] = ('val_drop', )) -> None:
        self.val_drop = _number('val_drop', val_drop)
        self.disagree_jump = _number('disagree_jump', disagree_jump)
        self.kept_quality_drop = _number('kept_quality_drop',
                                         kept_quality_drop)
        if isinstance(patience, bool) or not isinstance(
                patience, int) or patience < 1:
            raise ValueError('monitor.patience must be an int >= 1, got '
                             f'{patience!r}')
        self.patience = patience
        if not isinstance(stop_on_degradation, bool):
            raise ValueError('monitor.stop_on_degradation must be a bool, '
                             f'got {stop_on_degradation!r}')
        self.stop_on_degradation = stop_on_degradation
        if isinstance(stop_on, str):
            stop_on = (stop_on, )
        bad = [k for k in stop_on if k not in MONITOR_KINDS]
        if bad:
            raise ValueError(f'monitor.stop_on has unknown kinds {bad}; '
                             f'choose from {MONITOR_KINDS}')
        self.stop_on = tuple(stop_on)
        self.should_stop = False
        self.stop_reason: Optional[str] = None

    # ------------------------------------------------------------ helpers
    def _degraded(self, kind: str, message: str) -> str:
        if kind in self.stop_on and self.stop_on_degradation:
            if not self.should_stop:
                self.should_stop = True
                self.stop_reason = message
            return message + ' [stop_on_degradation: stopping the run]'
        return message

    # ---------------------------------------------------------- labelling
    def check_labelling(self, labelling: Sequence[dict],
                        classes: Optional[Sequence[str]] = None
                        ) -> List[str]:
        """Warnings about the newest labelling pass, ``labelling[-1]``.

        Args:
            labelling (Sequence[dict]): The ``labelling`` records of the
                run so far, oldest first (dmt_summary.json); the newest is
                compared with the latest earlier one of the same target.
            classes (Sequence[str], optional): Class names for messages.

        Returns:
            list[str]: Warning messages (empty when all is well).
        """
        if not labelling:
            return []
        rec = labelling[-1]
        target = rec.get('target')
        head = (f'DMT phase {rec.get("phase")} pseudo labels'
                + ('' if target is None else f' for {target}') +
                (f' (teacher {rec["teacher"]})' if rec.get('teacher') else ''))
        unit = 'pixels' if 'pixels' in rec or 'thresholds' in rec \
            else 'samples'
        out = []
        kept = rec.get('class_kept')
        total = rec.get('class_total')
        if kept is not None:
            empty = [c for c, k in enumerate(kept) if int(k) == 0]
            if empty:
                names = [
                    (repr(str(classes[c])) if classes is not None
                     and c < len(classes) else f'class {c}') +
                    (f' (teacher predicts it for {int(total[c])} '
                     f'{unit})' if total is not None else '')
                    for c in empty
                ]
                msg = (f'{head}: {len(empty)} of {len(kept)} classes get no '
                       f'kept pseudo labels: {", ".join(names)}. The '
                       'student is not taught these classes on unlabelled '
                       'data this phase.')
                out.append(self._degraded('empty_class', msg))
        key = 'kept_miou' if 'kept_miou' in rec else 'kept_acc'
        what = 'mIoU' if key == 'kept_miou' else 'accuracy'
        prev = next((r for r in reversed(labelling[:-1])
                     if r.get('target') == target and _ok(r.get(key))), None)
        now = rec.get(key + '_prev_ratio')  # this teacher at prev's cut
        if prev is not None and _ok(now):
            drop = prev[key] - now
            if drop > self.kept_quality_drop:
                all_key = key.replace('kept_', 'pseudo_')
                extra = ''
                if _ok(prev.get(all_key)) and _ok(rec.get(all_key)):
                    extra = (f'; all pseudo labels: {prev[all_key]:.2f} -> '
                             f'{rec[all_key]:.2f}')
                msg = (f'{head}: {what} of the most confident '
                       f'{prev.get("keep_ratio")} of the pseudo labels fell '
                       f'from {prev[key]:.2f} (phase {prev.get("phase")}) to '
                       f'{now:.2f} at the same keep ratio: -{drop:.2f} '
                       f'points, margin {self.kept_quality_drop:g}{extra}')
                out.append(self._degraded('kept_quality_drop', msg))
        return out

    # -------------------------------------------------------------- stage
    def check_stage(self, stages: Sequence[dict],
                    metric: Optional[str] = None) -> List[str]:
        """Warnings about the newest finished stage, ``stages[-1]``.

        Args:
            stages (Sequence[dict]): The ``stages`` rows of the run so far,
                oldest first (dmt_summary.json).
            metric (str, optional): Name of the val metric (e.g.
                ``'mIoU'``), for messages.

        Returns:
            list[str]: Warning messages (empty when all is well).
        """
        if not stages:
            return []
        row = stages[-1]
        model = row.get('model')
        same = [r for r in stages if r.get('model') == model]
        out = []
        base = next((r for r in same
                     if r.get('phase') == 0 and _ok(r.get('val'))), None)
        if row.get('phase', 0) >= 1 and base is not None and _ok(
                row.get('val')):
            below = base['val'] - row['val']
            if below > self.val_drop:
                run = 0
                for r in reversed(same):
                    if r.get('phase', 0) < 1 or not _ok(r.get('val')) or \
                            base['val'] - r['val'] <= self.val_drop:
                        break
                    run += 1
                what = 'val' if metric is None else f'val {metric}'
                msg = (f'DMT stage {_stage_name(row)}: {what} '
                       f'{row["val"]:.2f} is {below:.2f} below '
                       f'{_who(model)}\'s phase-0 (labelled-only) value '
                       f'{base["val"]:.2f}, margin {self.val_drop:g}; '
                       f'{run} stage(s) in a row')
                if run >= self.patience:
                    msg = self._degraded('val_drop', msg)
                out.append(msg)
        prev = next((r for r in reversed(same[:-1])
                     if r.get('phase', 0) >= 1 and _ok(r.get('dmt_disagree'))),
                    None)
        if prev is not None and _ok(row.get('dmt_disagree')):
            jump = row['dmt_disagree'] - prev['dmt_disagree']
            if jump > self.disagree_jump:
                msg = (f'DMT stage {_stage_name(row)}: disagreement rate of '
                       f'{_who(model)} with its pseudo labels jumped from '
                       f'{prev["dmt_disagree"] * 100:.1f}% '
                       f'({_stage_name(prev)}) to '
                       f'{row["dmt_disagree"] * 100:.1f}% (+{jump * 100:.1f} '
                       f'points, margin {self.disagree_jump * 100:g})')
                if _ok(row.get('dmt_student_wins')):
                    msg += (f'; student wins (weight 0) on '
                            f'{row["dmt_student_wins"] * 100:.1f}%')
                out.append(self._degraded('disagree_jump', msg))
        return out

    # ------------------------------------------------------------- replay
    def replay(self, summary: dict) -> List[str]:
        """All warnings of a finished run's ``dmt_summary.json`` content.

        Labelling passes are checked before the stages of their phase. The
        ``should_stop`` flag is set as it would have been during the run.
        """
        labelling = list(summary.get('labelling') or [])
        stages = list(summary.get('stages') or [])
        classes = summary.get('classes')
        metric = summary.get('metric')
        out: List[str] = []
        done = 0
        for i in range(len(stages)):
            phase = stages[i].get('phase', 0)
            while done < len(labelling) and \
                    labelling[done].get('phase', 0) <= phase:
                done += 1
                out += self.check_labelling(labelling[:done], classes)
            out += self.check_stage(stages[:i + 1], metric)
        while done < len(labelling):
            done += 1
            out += self.check_labelling(labelling[:done], classes)
        return out
