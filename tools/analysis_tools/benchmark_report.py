# Copyright (c) dmt_mm contributors. All rights reserved.
"""The report half of ``benchmark_ssl.py``: statistics, the table and the
two charts, from the runs that tool collects (no training, no mm* import).

A run is a dict with ``method``, ``seed`` and ``final`` (its final val); a
DMT-style run also has ``stages`` ([{model, phase, val, iters}], every
phase of every model, ``model`` None for the classification chain) and a
supervised run ``vals`` ([{step, val}], every validation).

The comparisons are those of the paper's ablations (Feng et al., "DMT:
Dynamic Mutual Training for Semi-Supervised Learning", arXiv:2004.08514):
supervised < self-training < mutual training without dynamic weights < DMT.
"""
import io
import statistics

BASELINE, TARGET = 'supervised', 'dmt'


def summarize(methods, runs):
    """Per-method mean and sample std (ddof=1) and the comparisons.

    Args:
        methods (list[str]): every method of the task, weakest expected
            first (the paper's ordering).
        runs (list[dict]): complete runs.

    Returns:
        tuple[dict, dict]: ``summary`` {method: {n, mean, std, values
        {seed: final}}} for the methods that ran, and ``comparison``
        {name: {diff, seeds, holds, rule, ...}}: each over the seeds both
        (all) methods ran, so a method with fewer runs is never compared
        with another's other seeds.
    """
    summary = {}
    for method in methods:
        values = {r['seed']: r['final'] for r in runs if r['method'] == method}
        vals = list(values.values())
        if vals:
            summary[method] = dict(
                n=len(vals), mean=statistics.mean(vals),
                std=statistics.stdev(vals) if len(vals) > 1 else None,
                values={str(k): v for k, v in sorted(values.items())})

    def over(names):  # seeds every method ran, and each one's stats
        common = set.intersection(*(set(summary[m]['values'])
                                    for m in names))
        stats = {}
        for m in names:
            vals = [summary[m]['values'][k] for k in sorted(common)]
            stats[m] = (statistics.mean(vals) if vals else None,
                        statistics.stdev(vals) if len(vals) > 1 else None)
        return sorted(int(k) for k in common), stats

    comparison = {}
    for method in summary:
        if method == TARGET or TARGET not in summary:
            continue
        seeds, st = over((TARGET, method))
        diff = None if not seeds else st[TARGET][0] - st[method][0]
        if method == BASELINE:
            stds = (st[TARGET][1], st[method][1])
            margin = None if None in stds else 2 * max(stds)
            comparison[f'{TARGET} - {method}'] = dict(
                diff=diff, margin=margin, seeds=seeds,
                holds=None if margin is None else diff > margin,
                rule=f'mean({TARGET}) - mean({method}) > 2 * max(std)')
        else:
            comparison[f'{TARGET} - {method}'] = dict(
                diff=diff, seeds=seeds,
                holds=None if diff is None else diff >= 0,
                rule=f'mean({TARGET}) >= mean({method})')
    order = [m for m in methods if m in summary]
    if len(order) > 1:
        seeds, st = over(order)
        comparison['ordering'] = dict(
            order=order, seeds=seeds,
            holds=bool(seeds) and all(st[a][0] < st[b][0]
                                      for a, b in zip(order, order[1:])),
            rule='means strictly increase in this order (the paper\'s)')
    return summary, comparison


def format_table(task: str, metric: str, seeds, summary, comparison) -> str:
    """The printed table: mean ± std and every seed, then the comparisons."""
    lines = [f'{task}: final val {metric} per method, mean ± sample std '
             f'(ddof=1) over seeds {" ".join(map(str, seeds))}; two-model '
             'runs: the mean of A and B',
             f'{"method":<15}{"n":>2}  {"mean ± std":<16}' +
             ''.join(f'{"seed" + str(s):>9}' for s in seeds)]
    for method, s in summary.items():
        std = '-' if s['std'] is None else f'{s["std"]:.2f}'
        per_seed = [s['values'].get(str(k)) for k in seeds]
        lines.append(f'{method:<15}{s["n"]:>2}  {s["mean"]:>6.2f} ± {std:<7}'
                     + ''.join('        -' if v is None else f'{v:>9.2f}'
                               for v in per_seed))
    verdict = {True: 'holds', False: 'does not hold', None: 'n/a'}
    for name, c in comparison.items():
        if name == 'ordering':
            text = f'{name} {" < ".join(c["order"])}'
        else:
            text = f'{name}: ' + ('n/a' if c['diff'] is None else
                                  f'{c["diff"]:+.2f}') + (
                '' if c.get('margin') is None else
                f' (2 x max std = {c["margin"]:.2f})') + f'; {c["rule"]}'
        lines.append(f'{text} (seeds {" ".join(map(str, c["seeds"]))}): '
                     f'{verdict[c["holds"]]}')
    return '\n'.join(lines)


#: per-phase columns of ``format_phases``: (header, stage keys, scale)
PHASE_COLUMNS = (('val', ('val', ), 1), ('kept %', ('kept_ratio', ), 100),
                 ('kept q', ('kept_miou', 'kept_acc'), 1),
                 ('all q', ('pseudo_miou', 'pseudo_acc'), 1),
                 ('weight', ('dmt_weight', ), 1))


def phase_means(methods, runs):
    """Per DMT-style method and phase, the mean over its runs and models of
    each ``PHASE_COLUMNS`` entry (None where no stage has it).

    Returns:
        dict: {method: {phase: {header: mean | None}}}, with the number of
        runs averaged as ``'runs'``.
    """
    out = {}
    for method in methods:
        mine = [r for r in runs if r['method'] == method and 'stages' in r]
        phases = sorted({s['phase'] for r in mine for s in r['stages']})
        for phase in phases:
            row = {'runs': len(mine)}
            for header, keys, scale in PHASE_COLUMNS:
                vals = [s[k] * scale for r in mine for s in r['stages']
                        if s['phase'] == phase for k in keys
                        if s.get(k) is not None]
                row[header] = statistics.mean(vals) if vals else None
            out.setdefault(method, {})[phase] = row
    return out


def format_phases(methods, runs) -> str:
    """What the DMT-style runs did, phase by phase (means over seeds and
    models): val, the share of unlabelled pixels / samples kept, the quality
    (mIoU or accuracy, %) of the kept and of all pseudo labels against the
    held-back ground truth, and the dynamic loss's mean weight."""
    lines = ['kept %: unlabelled pixels / samples kept; kept q, all q: '
             'mIoU / accuracy (%) of the kept and of all pseudo labels '
             'against the held-back ground truth; weight: the dynamic '
             'loss\'s mean weight']
    for method, table in phase_means(methods, runs).items():
        lines.append(f'{method} by phase (mean of {table[0]["runs"]} runs '
                     'and their models):')
        lines.append(f'{"phase":>5}' + ''.join(
            f'{h:>9}' for h, _, _ in PHASE_COLUMNS))
        for phase, row in table.items():
            lines.append(f'{phase:>5}' + ''.join(
                '        -' if row[h] is None else
                f'{row[h]:>9.3f}' if h == 'weight' else f'{row[h]:>9.2f}'
                for h, _, _ in PHASE_COLUMNS))
    return '\n'.join(lines)


def curves(run):
    """Val against one model's training iterations, per model of a run.

    Returns:
        dict: {model: [(iteration, val)]}; a supervised run has one model,
        ``''`` (every validation), a DMT-style run one per model (``'chain'``
        for the classification chain) with a point at the end of each phase,
        at the iterations that model has trained so far. The chain's phases
        add up although each trains a fresh student: its x is the chain's
        compute, as its equal-compute baseline counts it. ``{}`` when a stage
        does not say how long it trained (``iters``, e.g. an epoch-based
        phase).
    """
    if 'vals' in run:
        return {'': [(v['step'], v['val']) for v in run['vals']]}
    out = {}
    for s in sorted(run.get('stages', []), key=lambda s: s['phase']):
        if s.get('iters') is None:
            return {}
        points = out.setdefault(s['model'] or 'chain', [])
        done = points[-1][0] if points else 0
        points.append((done + s['iters'], s['val']))
    return out


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=120)
    plt.close(fig)
    return buf.getvalue()


def draw_chart(task: str, metric: str, summary, runs) -> bytes:
    """Per method: mean with a sample-std error bar, and a point per seed.
    No bars: the y axis spans the values, so small gaps stay visible.
    Returns the PNG's bytes."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    methods = list(summary)
    fig, ax = plt.subplots(figsize=(1.6 * len(methods) + 2, 3.6))
    ax.errorbar(range(len(methods)), [summary[m]['mean'] for m in methods],
                yerr=[summary[m]['std'] or 0 for m in methods], fmt='_',
                markersize=22, capsize=5, color='#3182bd', zorder=2,
                label='mean ± std (ddof=1)')
    seeds = sorted({r['seed'] for r in runs})
    for j, seed in enumerate(seeds):
        xs = [i + 0.22 + 0.07 * (j - (len(seeds) - 1) / 2) for i, m in
              enumerate(methods) if str(seed) in summary[m]['values']]
        ys = [summary[m]['values'][str(seed)] for m in methods
              if str(seed) in summary[m]['values']]
        ax.scatter(xs, ys, s=14, zorder=3, label=f'seed {seed}')
    ax.set_xlim(-0.5, len(methods) - 0.5)
    ax.grid(axis='y', alpha=0.3)
    ax.set_xticks(range(len(methods)), methods)
    ax.set_ylabel(f'final val {metric}')
    ax.set_title(f'{task}: DMT and its ablations, {len(seeds)} seeds')
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return _png(fig)


def draw_curves(task: str, metric: str, methods, runs) -> bytes:
    """One panel per seed: val against one model's training iterations, the
    supervised run's every validation as a line and each DMT-style run's
    models at the end of every phase, so phase 0's end can be read against
    the labelled-only curve of the same seed. Returns the PNG's bytes."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    seeds = sorted({r['seed'] for r in runs})
    fig, axes = plt.subplots(1, len(seeds), sharey=True, squeeze=False,
                             figsize=(3.4 * len(seeds) + 1.6, 3.6))
    colors = dict(zip(methods, plt.rcParams['axes.prop_cycle'].by_key()
                      ['color']))
    marks = {'A': 'o', 'B': 's', 'chain': 'o', '': None}
    for ax, seed in zip(axes[0], seeds):
        for r in sorted((r for r in runs if r['seed'] == seed),
                        key=lambda r: methods.index(r['method'])):
            for model, points in curves(r).items():
                xs, ys = zip(*points)
                label = r['method'] + (f' {model}' if model not in (
                    '', 'chain') else '')
                ax.plot(xs, ys, marker=marks.get(model, 'o'), markersize=3,
                        linewidth=1.6 if r['method'] == TARGET else 1,
                        linestyle='--' if model == 'B' else '-',
                        color=colors[r['method']], label=label)
        ax.set_title(f'seed {seed}', fontsize=9)
        ax.set_xlabel('training iterations of one model'
                      if task == 'seg' else 'training iterations')
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f'val {metric}')
    legend = {}  # every method and model of every panel, once
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    axes[0][-1].legend(legend.values(), legend.keys(), fontsize=7,
                       loc='upper left', bbox_to_anchor=(1.01, 1))
    fig.suptitle(f'{task}: val during training (DMT-style runs: at the end '
                 'of each phase)', fontsize=9)
    fig.tight_layout()
    return _png(fig)
