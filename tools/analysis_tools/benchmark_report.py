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
#: The upper reference row (every train item labelled): in no comparison.
REFERENCE = 'oracle'
RULE = ('X beats Y when the paired per-seed difference X - Y is positive on '
        'every seed both ran, or its mean exceeds twice its std (ddof=1)')


def _stats(vals):
    return (statistics.mean(vals) if vals else None,
            statistics.stdev(vals) if len(vals) > 1 else None)


def paired(summary, x: str, y: str, machines=None,
           count_cross_machine: bool = False) -> dict:
    """"x beats y", judged on the seeds both ran (PROTOCOL.md, section 5).

    ``machines`` ({method: {seed: fingerprint}}, None: unknown) marks the
    seeds whose two runs ran on different machines (unknown is not
    different):
    their differences stay in ``diffs``, but ``holds`` is judged without
    them unless ``count_cross_machine``.

    Returns:
        dict: ``seeds``, ``diffs`` (x - y per seed), ``mean``, ``std``
        (ddof=1; None below two seeds), ``positive`` (seeds with a positive
        difference), ``holds`` (every difference positive, or mean > 2 std;
        None below two common seeds: one difference decides no claim) and
        ``rule``; with cross-machine seeds also ``cross_machine``
        ({seed: {x: fingerprint, y: fingerprint}}) and, when they are not
        counted, ``excluded`` (``seeds``, ``reason``).
    """
    common = sorted(set(summary[x]['values']) & set(summary[y]['values']),
                    key=int)
    diffs = [summary[x]['values'][k] - summary[y]['values'][k]
             for k in common]
    machines = machines or {}
    cross = {k: {m: machines[m][k] for m in (x, y)} for k in common
             if None not in (machines.get(x, {}).get(k),
                             machines.get(y, {}).get(k))
             and machines[x][k] != machines[y][k]}
    mean, std = _stats(diffs)
    out = dict(seeds=[int(k) for k in common], diffs=diffs, mean=mean,
               std=std, positive=sum(d > 0 for d in diffs),
               holds=_holds(diffs), rule=RULE)
    if cross:
        out['cross_machine'] = cross
    if cross and not count_cross_machine:
        out['excluded'] = dict(seeds=[int(k) for k in cross], reason=(
            'paired runs on different machines (CPU, capability, torch or '
            'threads differ); --count-cross-machine counts them'))
        out['holds'] = _holds([d for k, d in zip(common, diffs)
                               if k not in cross])
    return out


def _holds(diffs):
    """The rule (:data:`RULE`) on ``diffs``; None below two."""
    mean, std = _stats(diffs)
    return None if len(diffs) < 2 else (all(d > 0 for d in diffs)
                                        or mean > 2 * std)


def summarize(methods, runs, machines=None,
              count_cross_machine: bool = False, ordering=None,
              baseline: str = BASELINE):
    """Per-method mean and sample std (ddof=1) and the paired comparisons.

    Args:
        methods (list[str]): every method of the task, weakest expected
            first (the paper's ordering), the reference (``oracle``) last.
        runs (list[dict]): complete runs.
        machines (dict, optional): {method: {seed (str): fingerprint of
            its run's machine}}; count_cross_machine (bool): count the
            seeds whose runs differ there toward ``holds`` (:func:`paired`).
        ordering (list[str], optional): the methods of the paper's
            ordering claim (default: every compared method), e.g. without a
            second labelled-only baseline (PROTOCOL-v2.md: the plateau).
        baseline (str): the labelled-only method of the regime ratio.

    Returns:
        tuple[dict, dict]: ``summary`` {method: {n, mean, std, values
        {seed: final}}} for the methods that ran, and ``comparison``:
        ``'<x> beats <y>'`` for every pair of compared methods (x after y
        in the order; see :func:`paired`), ``ordering`` (each consecutive
        claim holds) and ``regime`` (``baseline`` / oracle, on the seeds
        both ran; the baseline's mean under ``supervised``).
    """
    summary = {}
    for method in methods:
        values = {r['seed']: r['final'] for r in runs if r['method'] == method}
        vals = list(values.values())
        if vals:
            mean, std = _stats(vals)
            summary[method] = dict(
                n=len(vals), mean=mean, std=std,
                values={str(k): v for k, v in sorted(values.items())})
    order = [m for m in methods if m in summary and m != REFERENCE]
    comparison = {}
    for i, x in enumerate(order):
        for y in order[:i]:
            comparison[f'{x} beats {y}'] = paired(summary, x, y, machines,
                                                  count_cross_machine)
    if ordering is not None:
        order = [m for m in order if m in ordering]
    if len(order) > 1:
        links = [comparison[f'{b} beats {a}'] for a, b in zip(order,
                                                               order[1:])]
        comparison['ordering'] = dict(
            order=order, holds=all(c['holds'] for c in links)
            if all(c['holds'] is not None for c in links) else None,
            rule='each method beats the one before it (the paper\'s order)')
    if baseline in summary and REFERENCE in summary:
        common = sorted(set(summary[baseline]['values'])
                        & set(summary[REFERENCE]['values']), key=int)
        if common:
            base = statistics.mean(summary[baseline]['values'][k]
                                   for k in common)
            ref = statistics.mean(summary[REFERENCE]['values'][k]
                                  for k in common)
            comparison['regime'] = dict(
                seeds=[int(k) for k in common], supervised=base, oracle=ref,
                ratio=base / ref if ref else None,
                rule=f'mean({baseline}) / mean(oracle) over the seeds both '
                'ran (PROTOCOL.md, section 3)',
                **({} if baseline == BASELINE else dict(baseline=baseline)))
    return summary, comparison


def format_table(task: str, metric: str, seeds, summary, comparison) -> str:
    """The printed table: mean ± std and every seed, then each claim with
    its paired differences."""
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
    lines.append(f'claims ({RULE}):')
    for name, c in comparison.items():
        if name == 'ordering':
            lines.append(f'ordering {" < ".join(c["order"])}: '
                         f'{verdict[c["holds"]]}')
        elif name == 'regime':
            base = c.get('baseline', BASELINE)
            lines.append(f'regime: {base} / oracle = '
                         f'{c["supervised"]:.2f} / {c["oracle"]:.2f} = '
                         f'{c["ratio"]:.3f} (seeds '
                         f'{" ".join(map(str, c["seeds"]))})')
        else:
            std = '-' if c['std'] is None else f'{c["std"]:.2f}'
            mean = 'n/a' if c['mean'] is None else f'{c["mean"]:+.2f}'
            cross = ' '.join(map(str, c.get('cross_machine', {})))
            cross = cross and (f'; on different machines: seeds {cross}, ' +
                               ('not counted' if 'excluded' in c
                                else 'counted'))
            lines.append(
                f'{name}: ' + ' '.join(f'{d:+.2f}' for d in c['diffs']) +
                f' (seeds {" ".join(map(str, c["seeds"]))}); mean {mean} ± '
                f'{std}, {c["positive"]}/{len(c["diffs"])} positive{cross}: '
                f'{verdict[c["holds"]]}')
    return '\n'.join(lines)


#: per-phase columns of ``format_phases``: (header, stage keys, scale)
PHASE_COLUMNS = (('val', ('val', ), 1), ('kept %', ('kept_ratio', ), 100),
                 ('kept q', ('kept_miou', 'kept_acc'), 1),
                 ('all q', ('pseudo_miou', 'pseudo_acc'), 1),
                 ('weight', ('dmt_weight', ), 1),
                 ('w right', ('dmt_weight_correct', ), 1),
                 ('w wrong', ('dmt_weight_wrong', ), 1),
                 ('w AUC', ('dmt_weight_auc', ), 1))


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
                f'{row[h]:>9.3f}' if h.startswith('w') else f'{row[h]:>9.2f}'
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
        compute, as its equal-compute baseline counts it. A phase 0 loaded
        from another run (``phase0_from``; its row says 0 iterations) counts
        what it cost there (``phase0_iters``). ``{}`` when a stage does not
        say how long it trained (``iters``, e.g. an epoch-based phase).
    """
    if 'vals' in run:
        return {'': [(v['step'], v['val']) for v in run['vals']]}
    out = {}
    for s in sorted(run.get('stages', []), key=lambda s: s['phase']):
        model = s['model'] or 'chain'
        iters = s.get('iters')
        if s['phase'] == 0 and (s.get('phase0_from') or run.get(
                'phase0_from')):
            iters = (run.get('phase0_iters') or {}).get(model)
        if iters is None:
            return {}
        points = out.setdefault(model, [])
        points.append(((points[-1][0] if points else 0) + iters, s['val']))
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
                      if task.startswith('seg') else 'training iterations')
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
