# Copyright (c) dmt_mm contributors. All rights reserved.
"""The README's "Does it work?" tables say what docs/benchmarks/*.json says.

The JSON files are written by ``tools/analysis_tools/benchmark_ssl.py`` from
real runs; the README tables are typed from them. Each table's first header
cell names the task (`` `seg` `` / `` `cls` ``), each row's first cell the
tool's method name (`` `dmt` ``); the mean ± std and every seed's value must be
the JSON's, rounded to two decimals, and a method with runs in the JSON must
have its row. A method without runs may only be listed as not run. A row
whose first cell reads ``(`dmt`'s phase 0 ...`` gives DMT's phase 0 (the
mean of its models' phase-0 val per seed) the same way.
"""
import json
import re
import statistics
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECTION = 'Does it work? DMT against its alternatives at equal compute'


def _section(text: str, title: str) -> str:
    start = text.index(f'\n## {title}\n')
    end = text.find('\n## ', start + 1)
    return text[start:end if end >= 0 else len(text)]


def _table(text: str, task: str):
    """Rows (lists of cells) of the table whose first header cell names
    ``task`` in backticks."""
    found = None
    rows = []
    for line in text.splitlines() + ['']:
        if line.startswith('|'):
            cells = [c.strip() for c in line.strip()[1:-1].split('|')]
            if not all(set(c) <= set('-') for c in cells):
                rows.append(cells)
            continue
        if rows and f'`{task}`' in rows[0][0]:
            assert found is None, f'two README tables for {task}'
            found = rows
        rows = []
    assert found is not None, f'no table headed `{task}` in "{SECTION}"'
    return found


@pytest.mark.parametrize('task', ['seg', 'cls'])
def test_readme_table_matches_json(task):
    data = json.loads((REPO / 'docs' / 'benchmarks' /
                       f'{task}.json').read_text())
    rows = _table(_section((REPO / 'README.md').read_text(), SECTION), task)
    header, body = rows[0], rows[1:]
    seed_cols = {int(m.group(1)): i for i, c in enumerate(header)
                 if (m := re.fullmatch(r'seed (\d+)', c))}
    stat_col = header.index('mean ± std')
    assert sorted(seed_cols) == sorted(data['seeds'])
    by_method = {}
    for row in body:
        m = re.match(r'`([\w-]+)`', row[0])
        if m:
            by_method[m.group(1)] = row
    assert set(by_method) <= set(data['methods']), by_method.keys()
    for method in data['methods']:
        stats = data['summary'].get(method)
        row = by_method.get(method)
        if stats is None:
            if row is not None:
                assert 'not run' in ' '.join(row), row
            continue
        assert row is not None, f'README has no row for {task} {method}'
        std = '-' if stats['std'] is None else f'{stats["std"]:.2f}'
        assert row[stat_col] == f'{stats["mean"]:.2f} ± {std}', (method, row)
        for seed, col in seed_cols.items():
            value = stats['values'].get(str(seed))
            expect = '' if value is None else f'{value:.2f}'
            assert row[col] == expect, (method, seed, row)
        runs = [r for r in data['runs'] if r['method'] == method]
        assert sorted(r['seed'] for r in runs) == sorted(
            int(s) for s in stats['values'])
    phase0 = [row for row in body if row[0].startswith("(`dmt`'s phase 0")]
    if phase0:
        _check_row(phase0[0], header, _phase0(data))


def _phase0(data) -> dict:
    """{seed: mean of the DMT run's models' phase-0 val}."""
    return {r['seed']: statistics.mean(
        s['val'] for s in r['stages'] if s['phase'] == 0)
        for r in data['runs'] if r['method'] == 'dmt'}


def _check_row(row, header, values: dict) -> None:
    vals = [values[k] for k in sorted(values)]
    std = f'{statistics.stdev(vals):.2f}' if len(vals) > 1 else '-'
    assert row[header.index('mean ± std')] == (
        f'{statistics.mean(vals):.2f} ± {std}'), row
    for i, cell in enumerate(header):
        if (m := re.fullmatch(r'seed (\d+)', cell)):
            value = values.get(int(m.group(1)))
            assert row[i] == ('' if value is None else f'{value:.2f}'), row


def test_table_parser_needs_the_task_header():
    text = '| method (`seg`) | x |\n|---|---|\n| `dmt` | 1 |\n'
    assert _table(text, 'seg')[1] == ['`dmt`', '1']
    with pytest.raises(AssertionError, match='no table headed'):
        _table(text, 'cls')
