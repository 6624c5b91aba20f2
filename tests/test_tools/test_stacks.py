# Copyright (c) dmt_mm contributors. All rights reserved.
"""The tested stacks: tools/setup_env.sh --stack (main in .venv/, torch2.1
in .venv-torch2.1/) and --pins, the "Tested stacks" table of
docs/getting_started.md (its versions are the ones the set-up installs) and
its test commands, the Makefile's test targets and .ci/run, which runs both and keeps a failing status (pytest's exit 5
included)."""
import os
import os.path as osp
import re
import subprocess

import pytest

from conftest import REPO
from test_setup_env import SETUP, fake_exe, setup_env

TARGETS = ('test', 'test-torch2.1')


def pins(stack: str) -> dict:
    r = setup_env('--stack', stack, '--pins')
    assert r.returncode == 0, r.stderr
    return dict(line.split('==') for line in r.stdout.split())


def test_stack_pins_replace_the_requirements_by_name():
    main, t21 = pins('main'), pins('torch2.1')
    assert main == pins('main') and setup_env('--pins').stdout == \
        setup_env('--stack=main', '--pins').stdout
    assert (t21['torch'], t21['torchvision'], t21['numpy']) == \
        ('2.1.2', '0.16.2', '1.26.4')
    assert main['torch'] == '2.14.1' and main['numpy'].startswith('2.')
    # the rest is shared: requirements.txt and requirements-test.txt
    changed = {'torch', 'torchvision', 'numpy', 'opencv-python'}
    assert {k: v for k, v in t21.items() if k not in changed} == \
        {k: v for k, v in main.items() if k not in changed}
    assert {'mmcv', 'mmengine', 'mmsegmentation', 'pytest'} <= set(t21)


def test_unknown_stack_and_torch21_python_range(tmp_path):
    r = setup_env('--stack', 'torch1.8', '--check')
    assert r.returncode == 1
    assert "unknown stack 'torch1.8': the tested stacks are main" in r.stderr
    r = setup_env('--stack')
    assert r.returncode == 1 and '--stack needs a name' in r.stderr
    py = fake_exe(tmp_path / 'python3', 'echo 3.12.3')
    r = setup_env('--stack', 'torch2.1', '--check', PYTHON=py)
    assert r.returncode == 1 and 'needs Python 3.10 to 3.11' in r.stderr
    r = setup_env('--stack', 'torch2.1', '--check')
    assert r.returncode == 0, r.stderr
    assert 'can run the set-up of stack torch2.1' in r.stderr


GETTING_STARTED = REPO / 'docs' / 'getting_started.md'


def _tested_stacks() -> list:
    text = GETTING_STARTED.read_text()
    section = text[text.index('\n## Manual install'):]
    end = section.find('\n## ', 1)
    section = section[:end if end >= 0 else len(section)]
    table = section[section.index('| stack |'):].split('\n\n')[0]
    head, _, *rows = [[c.strip() for c in ln.strip('|').split('|')]
                      for ln in table.splitlines()]
    return [dict(zip(head, row)) for row in rows]


def test_tested_stacks_are_what_the_set_up_installs():
    rows = _tested_stacks()
    assert [r['stack'] for r in rows] == ['main', 'torch2.1']
    assert 'PY_BOOT=python3.11' in SETUP.read_text()  # the set-up's default
    for row in rows:
        p = pins(row['stack'])
        assert row['Python'] == '3.11'
        for col, name in (('torch', 'torch'), ('torchvision', 'torchvision'),
                          ('numpy', 'numpy'), ('mmcv', 'mmcv'),
                          ('mmengine', 'mmengine'),
                          ('mmseg', 'mmsegmentation'),
                          ('mmpretrain', 'mmpretrain')):
            assert row[col] == p[name], (row['stack'], col)
        assert re.fullmatch(r'\d{4}-\d\d-\d\d', row['tested'])
        # the command is the stack's make target (and a CI target)
        target = re.fullmatch(r'`make (\S+)`', row['command']).group(1)
        assert target in TARGETS
        dry = subprocess.run(['make', '-n', target], cwd=REPO,
                             capture_output=True, text=True).stdout
        venv = '.venv' if row['stack'] == 'main' else f'.venv-{row["stack"]}'
        assert f'{venv}/bin/python -m pytest tests' in dry
        if row['stack'] != 'main':
            assert f'tools/setup_env.sh --stack {row["stack"]}' in dry


def test_tests_section_runs_what_ci_runs():
    text = GETTING_STARTED.read_text()
    tests = text[text.index('\n## Tests'):]
    end = tests.find('\n## ', 1)
    tests = tests[:end if end >= 0 else len(tests)]
    ci = (REPO / '.ci' / 'run').read_text()
    assert f'TARGETS=({" ".join(TARGETS)})' in ci
    for target in TARGETS:
        assert f'\nmake {target} ' in tests, target


@pytest.mark.parametrize('target', TARGETS)
def test_make_test_fails_when_pytest_collects_nothing(tmp_path, target):
    py = fake_exe(tmp_path / 'python', 'echo "pytest $*"; exit 5')
    var = 'PY' if target == 'test' else 'PY_TORCH21'
    r = subprocess.run(
        ['make', '-s', '-o', 'setup', '-o', 'setup-torch2.1', target,
         f'{var}={py}'], cwd=REPO, capture_output=True, text=True)
    assert 'pytest -m pytest tests' in r.stdout
    assert r.returncode != 0


# --------------------------------------------------------------- .ci/run
def test_ci_run_times_both_stacks_and_keeps_the_first_failure(tmp_path):
    # `make` as CI sees it: the set-up writes its timings, then the tests
    # of the main stack fail (pytest's exit 5, no tests collected, makes
    # make exit 2); the second stack still runs, and passes
    fake_exe(tmp_path / 'make',
             'echo "make $*"; echo "torch 1" >> "$DMT_MM_TIMINGS"; '
             'echo "setup_total 1" >> "$DMT_MM_TIMINGS"; sleep 2; '
             '[ "$1" = test-torch2.1 ] || exit 2')
    r = subprocess.run(
        [str(REPO / '.ci' / 'run')], capture_output=True, text=True,
        env={**os.environ, 'PATH': f'{tmp_path}:{os.environ["PATH"]}'})
    assert r.returncode == 2
    assert r.stdout.index('make test\n') < r.stdout.index(
        'make test-torch2.1\n')
    for target, rc in (('test', 2), ('test-torch2.1', 0)):
        m = re.search(rf'\[ci\] make {target}: set-up 1 s \(torch 1 s\), '
                      rf'tests (\d+) s, total (\d+) s; exit status {rc}\n',
                      r.stdout)
        assert m, r.stdout
        tests, total = int(m.group(1)), int(m.group(2))
        assert total >= 2 and tests == total - 1
    assert re.search(r'\[ci\] all stacks: total \d+ s; exit status 2 '
                     r'\(make test 2, make test-torch2.1 0\)', r.stdout)


@pytest.mark.parametrize('status', [0, 1])
def test_ci_run_cold_uses_a_fresh_clone_and_empty_caches(tmp_path, status):
    fake_exe(tmp_path / 'make',
             'echo "pwd=$PWD cache=$DMT_MM_CACHE pip=$PIP_CACHE_DIR"; '
             'ls -A "$DMT_MM_CACHE" "$PIP_CACHE_DIR" 2>&1 | head -2; '
             f'echo "setup_total 0" >> "$DMT_MM_TIMINGS"; exit {status}')
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    r = subprocess.run(
        [str(REPO / '.ci' / 'run'), '--cold'], capture_output=True,
        text=True, env={**os.environ, 'TMPDIR': str(tmp),
                        'PATH': f'{tmp_path}:{os.environ["PATH"]}'})
    assert r.returncode == status, r.stdout + r.stderr
    m = re.search(r'pwd=(\S+) cache=(\S+) pip=(\S+)', r.stdout)
    work = osp.dirname(m.group(1))
    assert m.group(1) == osp.join(work, 'repo')  # the clone, not REPO
    assert m.group(2) == osp.join(work, 'cache')
    assert m.group(3) == osp.join(work, 'pip-cache')
    assert 'No such file or directory' in r.stdout  # both caches empty
    assert r.stdout.count('pwd=') == 2  # both stacks
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                          capture_output=True, text=True).stdout.strip()
    assert f'[ci] cold run of {head}' in r.stdout
    # removed after a green run, kept for inspection after a red one
    assert os.path.exists(work) == bool(status)
