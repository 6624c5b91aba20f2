# Copyright (c) dmt_mm contributors. All rights reserved.
"""Plots of a DMT run from its ``dmt_summary.json`` (matplotlib, no display).

Each ``plot_*`` function takes the summary (:func:`.summary_io.
load_dmt_summary`) and returns a matplotlib ``Figure`` (or None when the run
has nothing to show for it); :func:`write_dmt_plots` saves them all as PNGs.
Models A and B share every chart (A blue, B orange; the classification chain
green).
"""
import io
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from dmt_mm.utils.pseudo_label_io import atomic_write_bytes
from .summary_io import find_scalars_files, load_dmt_summary, load_scalars

__all__ = [
    'plot_val', 'plot_pseudo_labels', 'plot_dynamic_weight',
    'plot_kept_per_class', 'plot_thresholds', 'plot_training_curves',
    'write_dmt_plots'
]

_COLORS = {'A': 'tab:blue', 'B': 'tab:orange', None: 'tab:green'}


def _color(model) -> str:
    return _COLORS.get(model, 'tab:purple')


def _label(model) -> str:
    return 'model' if model is None else f'model {model}'


def _groups(rows: Sequence[dict], key: str) -> Dict:
    out: Dict = {}
    for r in rows:
        out.setdefault(r.get(key), []).append(r)
    return out


def _series(rows, field):
    pts = [(r['phase'], r.get(field)) for r in rows
           if r.get(field) is not None]
    return [p for p, _ in pts], [v for _, v in pts]


def _phase_axis(ax, phases) -> None:
    ax.set_xlabel('phase (0 = labelled only)')
    if phases:
        ax.set_xticks(sorted(set(phases)))
    ax.grid(alpha=0.3)


def plot_val(summary: dict) -> Figure:
    """Val metric per stage of A and B, with each model's phase-0 level."""
    fig = Figure(figsize=(7, 4.2), layout='constrained')
    ax = fig.add_subplot()
    phases = []
    for model, rows in _groups(summary['stages'], 'model').items():
        x, y = _series(rows, 'val')
        phases += x
        ax.plot(x, y, 'o-', color=_color(model), label=_label(model))
        base = next((r['val'] for r in rows
                     if r['phase'] == 0 and r.get('val') is not None), None)
        if base is not None:
            ax.axhline(base, ls='--', lw=1, color=_color(model),
                       label=f'{_label(model)} phase 0: {base:.2f}')
    ax.set_ylabel(f'val {summary["metric"] or ""}'.strip())
    ax.set_title('Validation after each stage')
    _phase_axis(ax, phases)
    ax.legend(fontsize=8)
    return fig


def plot_pseudo_labels(summary: dict) -> Optional[Figure]:
    """Kept ratio and pseudo-label quality (all and kept) per phase."""
    recs = summary['labelling']
    if not recs:
        return None
    acc = any('pseudo_acc' in r or 'kept_acc' in r for r in recs)
    q, qname = ('acc', 'accuracy (%)') if acc else ('miou', 'mIoU (%)')
    fig = Figure(figsize=(11, 4.2), layout='constrained')
    ax1, ax2 = fig.subplots(1, 2)
    phases = []
    for target, rows in _groups(recs, 'target').items():
        name = 'chain' if target is None else f'for {target}'
        x, y = _series(rows, 'kept_ratio')
        phases += x
        ax1.plot(x, y, 'o-', color=_color(target), label=f'kept ({name})')
        x, y = _series(rows, 'keep_ratio')
        ax1.plot(x, y, ':', color=_color(target), label=f'keep ratio ({name})')
        for field, style, what in ((f'pseudo_{q}', 's--', 'all'),
                                   (f'kept_{q}', 'o-', 'kept')):
            x, y = _series(rows, field)
            if y:
                ax2.plot(x, y, style, color=_color(target),
                         label=f'{what} ({name})')
    ax1.set_ylabel('fraction of pseudo labels kept')
    ax1.set_title('Curriculum: kept ratio per labelling pass')
    ax2.set_ylabel(f'pseudo-label {qname}')
    ax2.set_title('Pseudo-label quality vs ground truth')
    if not ax2.lines:
        ax2.text(0.5, 0.5, 'the unlabelled set has no ground truth',
                 ha='center', va='center', transform=ax2.transAxes)
    for ax in (ax1, ax2):
        _phase_axis(ax, phases)
        if ax.lines:
            ax.legend(fontsize=8)
    return fig


def plot_dynamic_weight(summary: dict) -> Optional[Figure]:
    """Mean dynamic weight, disagreement and student-wins rate per stage;
    where the pseudo labels' truth is known, also the mean weight on right
    and on wrong pseudo labels and its ROC AUC (a second row)."""
    fields = (('dmt_weight', 'mean dynamic weight'),
              ('dmt_disagree', 'disagreement rate'),
              ('dmt_student_wins', 'student-wins rate (weight 0)'))
    truth = (('dmt_weight_correct', 'weight on right pseudo labels'),
             ('dmt_weight_wrong', 'weight on wrong pseudo labels'),
             ('dmt_weight_auc', 'ROC AUC of weight (right > wrong)'))
    stages = summary['stages']
    groups = _groups(stages, 'model')
    if not any(r.get(f) is not None for r in stages for f, _ in fields):
        return None
    if any(r.get(f) is not None for r in stages for f, _ in truth):
        fields += truth
    rows = len(fields) // 3
    fig = Figure(figsize=(13, 3.8 * rows), layout='constrained')
    axes = fig.subplots(rows, 3).reshape(-1)
    for ax, (field, title) in zip(axes, fields):
        phases = []
        for model, rows in groups.items():
            x, y = _series(rows, field)
            phases += x
            ax.plot(x, y, 'o-', color=_color(model), label=_label(model))
        ax.set_title(title)
        ax.set_ylim(0, 1)
        _phase_axis(ax, phases)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle('DMT loss on pseudo-labelled data, mean over each stage')
    return fig


def _class_names(summary: dict, n: int) -> List[str]:
    classes = summary.get('classes')
    if classes and len(classes) == n:
        return [str(c) for c in classes]
    return [str(i) for i in range(n)]


def plot_kept_per_class(summary: dict) -> Optional[Figure]:
    """Kept pseudo-labelled pixels / samples per class and phase.

    A red cross at the bottom marks a class with nothing kept."""
    recs = [r for r in summary['labelling'] if r.get('class_kept')]
    if not recs:
        return None
    unit = 'pixels' if any('pixels' in r or 'thresholds' in r
                           for r in recs) else 'samples'
    groups = _groups(recs, 'target')
    fig = Figure(figsize=(11, 3.6 * len(groups)), layout='constrained')
    axes = np.atleast_1d(fig.subplots(len(groups), 1))
    for ax, (target, rows) in zip(axes, groups.items()):
        n = len(rows[0]['class_kept'])
        names = _class_names(summary, n)
        width = 0.8 / len(rows)
        cmap = _phase_colors(len(rows))
        for i, r in enumerate(rows):
            kept = np.asarray(r['class_kept'], dtype=float)
            x = np.arange(n) + (i - (len(rows) - 1) / 2) * width
            ax.bar(x, np.maximum(kept, 0.5), width, color=cmap[i],
                   label=f'phase {r["phase"]} (keep {r["keep_ratio"]})')
            empty = kept == 0
            if empty.any():
                ax.plot(x[empty], np.full(empty.sum(), 0.7), 'x', color='red',
                        ms=8, mew=2)
        ax.set_yscale('log')
        ax.set_xticks(np.arange(n))
        ax.set_xticklabels(names, rotation=45 if n > 12 else 0, ha='right'
                           if n > 12 else 'center', fontsize=8)
        ax.set_ylabel(f'kept {unit} (log)')
        ax.set_title('Kept pseudo labels per class' +
                     ('' if target is None else f' (for {target})') +
                     '; red x: none kept')
        ax.legend(fontsize=7, ncol=min(len(rows), 6))
        ax.grid(alpha=0.3, axis='y')
    return fig


def _phase_colors(n: int):
    from matplotlib import colormaps
    cmap = colormaps['viridis']
    return [cmap(0.15 + 0.7 * i / max(n - 1, 1)) for i in range(n)]


def plot_thresholds(summary: dict) -> Optional[Figure]:
    """Per-class confidence thresholds per phase (classification: the one
    global threshold per phase)."""
    recs = summary['labelling']
    seg = [r for r in recs if r.get('thresholds')]
    cls = [r for r in recs if r.get('threshold') is not None]
    if seg:
        groups = _groups(seg, 'target')
        fig = Figure(figsize=(11, 3.4 * len(groups)), layout='constrained')
        axes = np.atleast_1d(fig.subplots(len(groups), 1))
        for ax, (target, rows) in zip(axes, groups.items()):
            n = len(rows[0]['thresholds'])
            cmap = _phase_colors(len(rows))
            for i, r in enumerate(rows):
                ax.plot(np.arange(n), r['thresholds'], 'o-', color=cmap[i],
                        label=f'phase {r["phase"]} (keep {r["keep_ratio"]})')
            ax.set_xticks(np.arange(n))
            ax.set_xticklabels(_class_names(summary, n), fontsize=8,
                               rotation=45 if n > 12 else 0)
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel('confidence threshold')
            ax.set_title('Per-class curriculum thresholds (pixels below are '
                         'ignored)' + ('' if target is None else
                                       f', pseudo labels for {target}'))
            ax.legend(fontsize=7, ncol=min(len(rows), 6))
            ax.grid(alpha=0.3)
        return fig
    if cls:
        fig = Figure(figsize=(6, 3.8), layout='constrained')
        ax = fig.add_subplot()
        x, y = _series(cls, 'threshold')
        ax.plot(x, y, 'o-', color=_color(None))
        ax.set_ylabel('confidence threshold')
        ax.set_title('Global confidence threshold (one ranking of all '
                     'samples)')
        _phase_axis(ax, x)
        return fig
    return None


def plot_training_curves(summary: dict,
                         scalars: Sequence[dict]) -> Optional[Figure]:
    """Dynamic weight, disagreement and student wins per logged iteration,
    with the stage boundaries (from the run's ``scalars.json``)."""
    keys = ('dmt_weight', 'dmt_disagree', 'dmt_student_wins')
    rows = [s for s in scalars if any(k in s for k in keys) and 'step' in s]
    if not rows:
        return None
    fig = Figure(figsize=(12, 4), layout='constrained')
    ax = fig.add_subplot()
    for k, color in zip(keys, ('tab:green', 'tab:red', 'tab:gray')):
        pts = [(s['step'], s[k]) for s in rows if k in s]
        ax.plot([p for p, _ in pts], [v for _, v in pts], '.-', ms=3,
                color=color, label=k)
    end = 0
    for st in summary['stages']:
        start, end = end, end + int(st.get('iters') or 0)
        ax.axvline(end, color='k', lw=0.5, alpha=0.4)
        name = (f'phase{st["phase"]}' if st['model'] is None else
                f'phase{st["phase"]}_{st["model"]}')
        ax.text((start + end) / 2, 1.0, name, va='top', ha='center',
                rotation=90, fontsize=7)
    ax.set_xlim(0, max(end, 1))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel('iteration')
    ax.set_title('DMT loss statistics while training (logger window means); '
                 'lines: stage ends')
    ax.legend(fontsize=8, loc='lower left')
    ax.grid(alpha=0.3)
    return fig


def _save(fig: Figure, path: str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=100)
    atomic_write_bytes(path, buf.getvalue())


def write_dmt_plots(work_dir: str,
                    out_dir: Optional[str] = None) -> List[str]:
    """Write every plot of the run in ``work_dir`` as PNG.

    Args:
        work_dir (str): The run's work dir (holds ``dmt_summary.json``).
        out_dir (str, optional): Where to write. Defaults to
            ``<work_dir>/plots``.

    Returns:
        list[str]: The paths written.
    """
    summary = load_dmt_summary(work_dir)
    out_dir = out_dir or osp.join(work_dir, 'plots')
    scalars = load_scalars(find_scalars_files(work_dir)) if osp.isdir(
        work_dir) else []
    figures = [
        ('val_per_stage', plot_val(summary)),
        ('pseudo_labels_per_phase', plot_pseudo_labels(summary)),
        ('dynamic_weight_per_stage', plot_dynamic_weight(summary)),
        ('kept_per_class', plot_kept_per_class(summary)),
        ('thresholds', plot_thresholds(summary)),
        ('training_curves', plot_training_curves(summary, scalars)),
    ]
    paths = []
    for name, fig in figures:
        if fig is None:
            continue
        path = osp.join(out_dir, f'{name}.png')
        _save(fig, path)
        paths.append(path)
    return paths
