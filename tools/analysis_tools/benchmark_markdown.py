# Copyright (c) dmt_mm contributors. All rights reserved.
"""Markdown tables of a benchmark JSON written by ``benchmark_ssl.py``: the
tables of the README's "Does it work?" section, rebuilt from the JSON.

Per task: every method's mean ± std (ddof=1) and every seed's value (DMT's
phase 0 under ``dmt``), then every claim "X beats Y" with its paired
differences, the number of positive seeds and the verdict of the rule
(docs/benchmarks/PROTOCOL.md, section 5), the claim against both
labelled-only baselines where the task has two (PROTOCOL-v2.md, section 4),
the paper's ordering, the regime ratio and the commits the runs come from.

    python tools/analysis_tools/benchmark_markdown.py docs/benchmarks/seg.json
    python tools/analysis_tools/benchmark_markdown.py \\
        docs/benchmarks/seg.json docs/benchmarks/cls.json --write README.md
    ... --check README.md    # exit 1 where README.md differs from the JSON
                             # or the runs' commits differ in code

``--write`` replaces the text between ``<!-- benchmark_markdown: TASK -->``
and ``<!-- /benchmark_markdown: TASK -->`` of the file (atomically), one
pair of markers per task; the rest of the file stays as it is.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
from collections import Counter
from os import path as osp

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark_report import _stats as report_stats  # noqa: E402
from benchmark_runs import write  # noqa: E402

#: what each method is, before its length (the JSON holds the lengths)
WHAT = {
    'supervised': 'labelled-only, equal compute',
    'supervised-long': 'labelled-only, 2 x phase 0',
    'self-training': 'each model its own teacher',
    'mutual-ce': 'mutual training, plain CE',
    'chain-ce': 'the chain, plain CE',
    'dmt': 'phase 0 + 5 stages',
    'oracle': 'every pool image labelled',
}
#: how a metric is named in a table header
METRIC = {'accuracy/top1': 'top-1 %', 'mIoU': 'mIoU'}
VERDICT = {True: 'holds', False: 'does not hold', None: 'n/a'}
BASELINES = ('supervised', 'supervised-long')
MARK = '<!-- {}benchmark_markdown: {} -->'
#: what "one code version" covers (PROTOCOL-v2.md, section 4)
CODE = ('dmt_mm', 'configs', 'tools')


def run_iters(run: dict):
    """Iterations of one model of ``run``: its last logged val step
    (labelled-only) or the sum of its first model's stages (DMT-style,
    phase 0 included even where it was loaded)."""
    if run.get('vals'):
        return max(v['step'] for v in run['vals'])
    stages = run.get('stages') or []
    if not stages:
        return None
    first = stages[0].get('model')
    phase0 = run.get('phase0_iters') or {}
    return sum((s.get('iters') or phase0.get(s.get('model') or 'chain', 0))
               if s['phase'] == 0 else (s.get('iters') or 0)
               for s in stages if s.get('model') == first)


def _iters(data: dict, method: str):
    """(iterations of one model, whether the method trains two models) of
    ``method``'s runs; iterations None where its runs differ."""
    runs = [r for r in data['runs'] if r['method'] == method]
    values = {run_iters(r) for r in runs}
    two = any(s.get('model') for r in runs for s in r.get('stages') or [])
    return (values.pop() if len(values) == 1 else None), two


def _stat(mean, std, sign='') -> str:
    """``mean ± std`` (std None: ``-``; mean None: ``n/a``)."""
    mean = 'n/a' if mean is None else f'{mean:{sign}.2f}'
    return f'{mean} ± {"-" if std is None else f"{std:.2f}"}'


def _row(label: str, values: dict, seeds, stat=None) -> str:
    cells = [f'{values[s]:.2f}' if s in values else '' for s in seeds]
    return '| ' + ' | '.join(
        [label, stat or _stat(*report_stats(list(values.values())))]
        + cells) + ' |'


def phase0_values(data: dict) -> dict:
    """{seed: mean of the ``dmt`` run's models' phase-0 val}."""
    return {r['seed']: statistics.mean(s['val'] for s in r['stages']
                                       if s['phase'] == 0)
            for r in data['runs'] if r['method'] == 'dmt'}


def methods_table(data: dict) -> list:
    task, seeds = data['task'], data['seeds']
    split = 'held-out' if data.get('eval_on') == 'heldout' else 'val'
    metric = METRIC.get(data['metric'], data['metric'])
    lines = [f'| method (`{task}`, {split} {metric}) | mean ± std | '
             + ' | '.join(f'seed {s}' for s in seeds) + ' |',
             '|---|---|' + '---|' * len(seeds)]
    for method, stats in data['summary'].items():
        n, two = _iters(data, method)
        length = n and f'{n:,} iterations' + (' a model' if two else '')
        what = ', '.join(filter(None, [WHAT.get(method), length]))
        label = f'`{method}`' + (f' ({what})' if what else '')
        values = {int(k): v for k, v in stats['values'].items()}
        lines.append(_row(label, values, seeds,
                          _stat(stats['mean'], stats['std'])))
        if method == 'dmt' and phase0_values(data):
            lines.append(_row("(`dmt`'s phase 0" + (
                ', mean of its models)' if two else ')'),
                phase0_values(data), seeds))
    return lines


def claims_table(data: dict) -> list:
    comparison = data['comparison']
    lines = ['| comparison | paired differences (seeds) | mean ± std | '
             'positive | "X beats Y" |', '|---|---|---|---|---|']
    for name, c in comparison.items():
        if name in ('ordering', 'regime'):
            continue
        x, y = name.split(' beats ')
        diffs = ', '.join(f'{d:+.2f} ({s})'
                          for s, d in zip(c['seeds'], c['diffs']))
        verdict = VERDICT[c['holds']]
        if c.get('excluded'):
            verdict += (' (seeds ' + ', '.join(map(
                str, c['excluded']['seeds'])) + ' not counted: other '
                'machines)')
        stat = _stat(c['mean'], c['std'], '+')
        lines.append(f'| `{x}` - `{y}` | {diffs} | {stat} | '
                     f'{c["positive"]}/{len(c["diffs"])} | {verdict} |')
    return lines


def verdicts(data: dict) -> list:
    """The claims against both labelled-only baselines, the ordering and
    the regime ratio, one line each."""
    comparison, summary = data['comparison'], data['summary']
    lines = []
    if all(b in summary for b in BASELINES):
        for x in summary:
            claims = [comparison.get(f'{x} beats {b}') for b in BASELINES]
            if x in BASELINES or x == 'oracle' or None in claims:
                continue
            holds = [c['holds'] for c in claims]
            both = (None if None in holds else all(holds))
            lines.append(f'- `{x}` beats labelled-only training (both '
                         f'`supervised` and `supervised-long`): '
                         f'**{VERDICT[both]}**')
    if 'ordering' in comparison:
        o = comparison['ordering']
        lines.append('- the paper\'s ordering ' + ' < '.join(
            f'`{m}`' for m in o['order']) + f': **{VERDICT[o["holds"]]}**')
    if 'regime' in comparison:
        r = comparison['regime']
        base = r.get('baseline', 'supervised')
        lines.append(f'- regime: `{base}` / `oracle` = {r["supervised"]:.2f}'
                     f' / {r["oracle"]:.2f} = {r["ratio"]:.3f} (seeds '
                     + ', '.join(map(str, r['seeds'])) + ')')
    return lines


def code_line(data: dict) -> str:
    """The commits of the runs, with how many runs each (runs whose tree
    had uncommitted changes in :data:`CODE` counted apart)."""
    counts = Counter(r.get('commit') for r in data['runs'])
    dirty = sum(bool(r.get('dirty')) for r in data['runs'])
    named = [(f'`{c[:10]}`' if c else 'none recorded')
             + f' ({n} run{"s" * (n != 1)})'
             for c, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    line = ('- code: every run from commit ' + named[0].split(' (')[0]
            if len(counts) == 1 and None not in counts
            else '- code: commits ' + ', '.join(named))
    return line + (f'; {dirty} from a tree with uncommitted changes'
                   if dirty else '')


def code_trees(commits, repo: str) -> dict:
    """{commit: the git tree ids of :data:`CODE` at it} (None where git
    does not know the commit, e.g. in a shallow clone)."""
    trees = dict.fromkeys(commits)
    for commit in filter(None, trees):
        out = subprocess.run(
            ['git', '-C', repo, 'rev-parse',
             *(f'{commit}:{d}' for d in CODE)],
            text=True, capture_output=True)
        if out.returncode == 0:
            trees[commit] = tuple(out.stdout.split())
    return trees


def code_differs(data: dict, repo: str) -> list:
    """Messages for runs whose commits differ in :data:`CODE` from the
    first run's (empty: one code version, or unknown to git)."""
    trees = code_trees([r.get('commit') for r in data['runs']], repo)
    known = {c: t for c, t in trees.items() if t is not None}
    if len(set(known.values())) <= 1:
        return []
    first = next(iter(known))
    return [f'{data["task"]}: commit {c} differs from {first} in '
            + ', '.join(d for d, a, b in zip(CODE, t, known[first])
                        if a != b)
            for c, t in known.items() if t != known[first]]


def render(data: dict) -> str:
    """The markdown of one benchmark JSON (no trailing newline)."""
    return '\n'.join(methods_table(data) + [''] + claims_table(data) + ['']
                     + verdicts(data) + [code_line(data)])


def replace_block(text: str, task: str, block: str) -> str:
    """``text`` with the lines between the markers of ``task`` replaced by
    ``block``; ValueError where the markers are missing or repeated."""
    start, end = MARK.format('', task), MARK.format('/', task)
    pattern = re.compile(re.escape(start) + r'\n.*?' + re.escape(end),
                         re.S)
    found = pattern.findall(text)
    if len(found) != 1:
        raise ValueError(f'{len(found)} blocks "{start}" ... "{end}" '
                         '(one needed)')
    return pattern.sub(lambda _: f'{start}\n{block}\n{end}', text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('json', nargs='+', help='benchmark_ssl.py JSON')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--write', metavar='FILE',
                       help='replace each task\'s block in FILE')
    group.add_argument('--check', metavar='FILE',
                       help='exit 1 where FILE\'s blocks differ')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    blocks, differ = {}, []
    for path in args.json:
        with open(path) as f:
            data = json.load(f)
        blocks[data['task']] = render(data)
        differ += code_differs(data, osp.dirname(osp.abspath(path)))
    target = args.write or args.check
    if not target:
        print('\n\n'.join(blocks.values()))
        return 0
    with open(target) as f:
        text = f.read()
    new = text
    for task, block in blocks.items():
        new = replace_block(new, task, block)
    if args.check:
        if new != text:
            print(f'{target}: the tables of {", ".join(blocks)} differ from '
                  'the JSON; rebuild them with --write', file=sys.stderr)
        for message in differ:
            print(f'{message}: not one code version', file=sys.stderr)
        return int(new != text or bool(differ))
    if new != text:
        write(target, new.encode())
    print(f'{target}: {", ".join(blocks)} rebuilt from the JSON')
    return 0


if __name__ == '__main__':
    sys.exit(main())
