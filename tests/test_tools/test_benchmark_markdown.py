# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_markdown.py: the README's tables rebuilt
from a benchmark JSON, checked against hand-computed values, and its
--write / --check on the blocks between markers."""
import json
import subprocess

import pytest

from conftest import REPO, load_tool

md = load_tool('tools/analysis_tools/benchmark_markdown.py',
               'benchmark_markdown')
report = load_tool('tools/analysis_tools/benchmark_report.py',
                   'benchmark_report_md')

METHODS = ['supervised', 'supervised-long', 'mutual-ce', 'dmt', 'oracle']
#: seed -> final value; dmt beats supervised (+8, +9, +10) but not
#: supervised-long (+0, -1, +3: mean 0.67, std 2.08)
FINALS = {'supervised': (40.0, 42.0, 44.0),
          'supervised-long': (48.0, 52.0, 51.0),
          'mutual-ce': (45.0, 47.0, 50.0),
          'dmt': (48.0, 51.0, 54.0),
          'oracle': (60.0, 62.0, None)}


def _data():
    runs = []
    for method, finals in FINALS.items():
        for seed, final in enumerate(finals):
            if final is None:
                continue
            run = dict(method=method, seed=seed, final=final)
            if method in ('mutual-ce', 'dmt'):
                run['stages'] = [
                    dict(model=m, phase=p, iters=400 if p == 0 else 100,
                         val=30.0 + seed + (m == 'B') if p == 0 else final)
                    for p in range(6) for m in 'AB']
            else:
                steps = 800 if method != 'supervised' else 900
                run['vals'] = [dict(step=steps // 2, val=final - 5),
                               dict(step=steps, val=final)]
            runs.append(run)
    summary, comparison = report.summarize(
        METHODS, runs, ordering=['supervised', 'mutual-ce', 'dmt'],
        baseline='supervised-long')
    return dict(task='seg', metric='mIoU', eval_on='val', seeds=[0, 1, 2],
                runs=runs, summary=summary, comparison=comparison)


def test_tables_hold_the_hand_computed_values():
    lines = md.render(_data()).splitlines()
    assert lines[0] == ('| method (`seg`, val mIoU) | mean ± std | seed 0 | '
                        'seed 1 | seed 2 |')
    assert ('| `supervised` (labelled-only, equal compute, 900 iterations) '
            '| 42.00 ± 2.00 | 40.00 | 42.00 | 44.00 |') in lines
    assert ('| `dmt` (phase 0 + 5 stages, 900 iterations a model) | '
            '51.00 ± 3.00 | 48.00 | 51.00 | 54.00 |') in lines
    # phase 0: the mean of A (30 + seed) and B (31 + seed)
    assert ("| (`dmt`'s phase 0, mean of its models) | 31.50 ± 1.00 | "
            '30.50 | 31.50 | 32.50 |') in lines
    assert ('| `oracle` (every pool image labelled, 800 iterations) | '
            '61.00 ± 1.41 | 60.00 | 62.00 |  |') in lines
    assert ('| `dmt` - `supervised` | +8.00 (0), +9.00 (1), +10.00 (2) | '
            '+9.00 ± 1.00 | 3/3 | holds |') in lines
    assert ('| `dmt` - `supervised-long` | +0.00 (0), -1.00 (1), +3.00 (2) '
            '| +0.67 ± 2.08 | 1/3 | does not hold |') in lines
    # against both labelled-only baselines: not, as one of them fails
    assert ('- `dmt` beats labelled-only training (both `supervised` and '
            '`supervised-long`): **does not hold**') in lines
    assert ('- the paper\'s ordering `supervised` < `mutual-ce` < `dmt`: '
            '**holds**') in lines
    # regime: supervised-long / oracle on seeds 0 and 1 = 50 / 61
    assert ('- regime: `supervised-long` / `oracle` = 50.00 / 61.00 = 0.820 '
            '(seeds 0, 1)') in lines
    assert not any('`oracle` beats' in line or '- `oracle`' in line
                   for line in lines)
    assert lines[-1] == '- code: commits none recorded (14 runs)'


def test_committed_v1_tables_render_their_json():
    data = json.loads((REPO / 'docs/benchmarks/seg-v1.json').read_text())
    text = md.render(data)
    for method, stats in data['summary'].items():
        row = next(line for line in text.splitlines()
                   if line.startswith(f'| `{method}`'))
        assert f'| {stats["mean"]:.2f} ± {stats["std"]:.2f} |' in row
        for value in stats['values'].values():
            assert f'| {value:.2f} |' in row or row.endswith(
                f'| {value:.2f} |')
    assert '| -10.07 ± 3.35 | 0/5 | does not hold |' in text


def test_write_replaces_only_the_marked_block(tmp_path, capsys):
    data = _data()
    path = tmp_path / 'seg.json'
    path.write_text(json.dumps(data))
    doc = tmp_path / 'README.md'
    doc.write_text('# Title\n\nbefore\n<!-- benchmark_markdown: seg -->\n'
                   'stale\n<!-- /benchmark_markdown: seg -->\nafter\n')
    assert md.main([str(path), '--check', str(doc)]) == 1
    assert 'differ from the JSON' in capsys.readouterr().err
    assert md.main([str(path), '--write', str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith('# Title\n\nbefore\n<!-- benchmark_markdown: '
                           'seg -->\n| method (`seg`')
    assert text.endswith('- regime: `supervised-long` / `oracle` = 50.00 '
                         '/ 61.00 = 0.820 (seeds 0, 1)\n- code: commits '
                         'none recorded (14 runs)\n'
                         '<!-- /benchmark_markdown: seg -->\nafter\n')
    assert md.main([str(path), '--check', str(doc)]) == 0
    # a value that changes in the JSON makes the check fail again
    data['summary']['dmt']['mean'] = 51.5
    path.write_text(json.dumps(data))
    assert md.main([str(path), '--check', str(doc)]) == 1


def test_missing_markers_are_named(tmp_path):
    path = tmp_path / 'seg.json'
    path.write_text(json.dumps(_data()))
    doc = tmp_path / 'README.md'
    doc.write_text('no markers\n')
    with pytest.raises(ValueError, match='0 blocks "<!-- benchmark_markdown:'
                       ' seg -->"'):
        md.main([str(path), '--write', str(doc)])
    assert doc.read_text() == 'no markers\n'


def test_documented_command_runs(capsys):
    text = (REPO / 'docs/benchmarks/README.md').read_text()
    tool = '.venv/bin/python tools/analysis_tools/benchmark_markdown.py '
    commands = [line[len(tool):].split() for line in text.splitlines()
                if line.startswith(tool)]
    assert commands
    for argv in commands:
        assert md.main([str(REPO / a) for a in argv]) == 0
        out = capsys.readouterr().out
        assert out.count('| comparison |') == len(argv)


def _git(repo, *argv):
    return subprocess.run(['git', '-C', str(repo), *argv], check=True,
                          capture_output=True, text=True).stdout.strip()


def _commit(repo, name, text):
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text)
    _git(repo, 'add', '-A')
    _git(repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit',
         '-qm', name)
    return _git(repo, 'rev-parse', 'HEAD')


def test_code_line_and_check_name_commits_that_differ_in_code(tmp_path,
                                                              capsys):
    repo = tmp_path / 'repo'
    repo.mkdir()
    _git(repo, 'init', '-q')
    for d in ('dmt_mm', 'configs', 'tools'):
        first = _commit(repo, f'{d}/a.py', 'x = 1\n')
    docs = _commit(repo, 'README.md', 'only docs\n')
    tools = _commit(repo, 'tools/a.py', 'x = 2\n')
    data = _data()
    for i, run in enumerate(data['runs']):
        run['commit'] = first if i < 10 else docs
    data['runs'][0]['dirty'] = True
    lines = md.render(data).splitlines()
    assert lines[-1] == (f'- code: commits `{first[:10]}` (10 runs), '
                         f'`{docs[:10]}` (4 runs); 1 from a tree with '
                         'uncommitted changes')
    # a commit that changed only the docs is the same code version
    assert md.code_differs(data, str(repo)) == []
    path = repo / 'seg.json'
    doc = repo / 'README.md'
    doc.write_text('<!-- benchmark_markdown: seg -->\n'
                   '<!-- /benchmark_markdown: seg -->\n')
    path.write_text(json.dumps(data))
    assert md.main([str(path), '--write', str(doc)]) == 0
    assert md.main([str(path), '--check', str(doc)]) == 0
    # one run from a commit that changed tools/: the check fails, naming it
    data['runs'][-1]['commit'] = tools
    assert md.code_differs(data, str(repo)) == [
        f'seg: commit {tools} differs from {first} in tools']
    path.write_text(json.dumps(data))
    md.main([str(path), '--write', str(doc)])
    capsys.readouterr()
    assert md.main([str(path), '--check', str(doc)]) == 1
    assert 'in tools: not one code version' in capsys.readouterr().err
    # commits git does not know (a shallow clone) are not judged
    data['runs'][-1]['commit'] = 'f' * 40
    assert md.code_differs(data, str(repo)) == []


def test_committed_v1_runs_are_one_code_version():
    for name in ('seg-v1', 'cls-v1'):
        data = json.loads((REPO / f'docs/benchmarks/{name}.json').read_text())
        trees = md.code_trees({r['commit'] for r in data['runs']}, str(REPO))
        if None in trees.values():
            pytest.skip('a shallow clone: the runs\' commits are not here')
        assert len(set(trees.values())) == 1, name
