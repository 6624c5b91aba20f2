# Copyright (c) dmt_mm contributors. All rights reserved.
"""The benchmark tables say what docs/benchmarks/*.json says.

The JSON files are written by ``tools/analysis_tools/benchmark_ssl.py`` from
real runs; the tables of docs/benchmarks/README.md (every task) and of the
README's "Does it work?" section (those of the current protocol, once they
are in) are typed from them. Each table's first header
cell names the task (`` `seg` ``, `` `cls` `` ...: the JSON's file name), each row's first cell the
tool's method name (`` `dmt` ``); the mean ± std and every seed's value must be
the JSON's, rounded to two decimals, and a method with runs in the JSON must
have its row. A method without runs may only be listed as not run. DMT's
phase 0 (the mean of its models' phase-0 val per seed) has a row whose first
cell reads ``(`dmt`'s phase 0 ...``, checked the same way. The
``benchmark_ssl.py`` commands of that README section and of the
"Reproduce" section of docs/benchmarks/README.md are run: without training
(``--dry-run``, and the real configs checked as the tool checks them before
training) or, for ``--report-only``, on a copy of the committed JSON, which
they must rebuild.
"""
import json
import re
import shlex
import shutil
import statistics
from pathlib import Path

import pytest

from conftest import load_tool

REPO = Path(__file__).resolve().parents[2]
SECTION = 'Does it work? DMT against its alternatives at equal compute'
BENCH_README = REPO / 'docs' / 'benchmarks' / 'README.md'
#: Where the tables are: (file, its section or None for the whole file).
DOCS = {'README': (REPO / 'README.md', SECTION),
        'benchmarks': (BENCH_README, None)}


def _doc_text(doc: str) -> str:
    path, section = DOCS[doc]
    text = path.read_text()
    return _section(text, section) if section else text


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
            assert found is None, f'two tables for {task}'
            found = rows
        rows = []
    assert found is not None, f'no table headed `{task}`'
    return found


TASKS = sorted(p.stem for p in (REPO / 'docs' / 'benchmarks').glob('*.json'))


def _tasks_with_table(text: str) -> set:
    """The tasks (of ``TASKS``) that have a table in ``text``."""
    heads = [line for line in text.splitlines() if line.startswith('|')]
    return {task for task in TASKS if any(f'`{task}`' in h.split('|')[1]
                                          for h in heads)}


#: (task, doc) pairs to check: docs/benchmarks/README.md has every task's
#: table; the README's "Does it work?" shows those of the current protocol
#: (until its tables are in, none) and each one it shows is checked.
CASES = [(task, doc) for doc in sorted(DOCS) for task in TASKS
         if doc == 'benchmarks' or task in _tasks_with_table(_doc_text(doc))]


def test_tasks_with_table_finds_only_table_headers():
    text = 'the `seg` task\n| method (`seg`) | x |\n|---|---|\n| `dmt` | 1 |\n'
    assert _tasks_with_table(text) == {'seg'} & set(TASKS)
    assert _tasks_with_table('the `seg` task, no table') == set()


def test_readme_points_at_every_table_and_the_protocols():
    text = _doc_text('README')
    for link in ('docs/benchmarks/README.md', 'docs/benchmarks/PROTOCOL-v2.md'):
        assert f']({link}' in text, link


@pytest.mark.parametrize('task,doc', CASES)
def test_table_matches_json(task, doc):
    data = json.loads((REPO / 'docs' / 'benchmarks' /
                       f'{task}.json').read_text())
    rows = _table(_doc_text(doc), task)
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
        assert row is not None, f'{doc} has no row for {task} {method}'
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
    if _phase0(data):
        assert len(phase0) == 1, f'{doc} has no `dmt` phase-0 row for {task}'
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


#: the tables of the current protocol (PROTOCOL-v2.md) whose JSON exists:
#: each doc shows them as the output of benchmark_markdown.py between its
#: markers, and only them
CURRENT = [t for t in ('seg', 'cls') if t in TASKS]
MARKER = re.compile(r'^<!-- benchmark_markdown: ([\w-]+) -->$', re.M)


@pytest.mark.parametrize('doc', sorted(DOCS))
def test_current_tables_are_the_tools_output(doc, capsys):
    marked = MARKER.findall(_doc_text(doc))
    assert sorted(marked) == sorted(CURRENT), (doc, marked)
    if not CURRENT:
        return
    md = load_tool('tools/analysis_tools/benchmark_markdown.py',
                   f'benchmark_markdown_{doc}')
    jsons = [str(REPO / 'docs' / 'benchmarks' / f'{t}.json') for t in CURRENT]
    # exit 1 where a block differs from the JSON (or the runs' code does)
    assert md.main(jsons + ['--check', str(DOCS[doc][0])]) == 0, (
        capsys.readouterr().err)


TOOL = 'tools/analysis_tools/benchmark_ssl.py'


def _documented_commands():
    """The argv (after the script) of every benchmark_ssl.py line of the
    README's "Does it work?" section and of the "Reproduce" section of
    docs/benchmarks/README.md, its comment cut off."""
    text = (_doc_text('README') +
            _section(BENCH_README.read_text(), 'Reproduce'))
    return [shlex.split(line.split('#')[0])[2:] for line in text.splitlines()
            if line.startswith(f'.venv/bin/python {TOOL} ')]


def test_documented_benchmark_commands_run(tmp_path, capsys):
    bench = load_tool(TOOL, 'benchmark_ssl_readme')
    commands = _documented_commands()
    assert len(commands) >= 3, commands
    for argv in commands:
        args = bench.parse_args(argv)
        if not args.report_only:
            # the real configs load and every method option names a field
            bench.check_configs(args, args.methods)
            capsys.readouterr()  # mmengine's log of the config loads
            out = tmp_path / 'empty'
            assert bench.main(argv + ['--dry-run', '--out', str(out)]) == 0
            lines = capsys.readouterr().out.splitlines()
            # every asked run, and the phase-0 providers they need
            runs = {(m, s) for m in args.methods for s in args.seeds}
            made = set()
            for line in lines:
                if not line.startswith('#'):
                    work_dir = line.split(' --work-dir ')[1].split()[0]
                    method, seed = work_dir.split('/')[-2:]
                    made.add((method, int(seed[len('seed'):])))
            assert runs <= made, lines
            continue
        committed = REPO / 'docs' / 'benchmarks' / f'{args.task}.json'
        copy = tmp_path / f'{args.task}.json'
        shutil.copy(committed, copy)
        assert bench.main(argv + [
            '--out', str(tmp_path / 'no_work_dirs'), '--json', str(copy),
            '--png', str(tmp_path / f'{args.task}.png')]) == 0
        rebuilt, data = (json.loads(p.read_text()) for p in (copy, committed))
        assert rebuilt['summary'] == data['summary']
        assert rebuilt['comparison'] == data['comparison']
        assert (tmp_path / f'{args.task}_curves.png').is_file()
