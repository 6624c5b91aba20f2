#!/usr/bin/env python
# Copyright (c) dmt_mm contributors. All rights reserved.
"""Run DMT and its ablations over seeds and compare their final val results.

    python tools/analysis_tools/benchmark_ssl.py {seg,seg-scratch,cls}
        [--seeds 0 1 2 3 4] [--methods M ...] [--out work_dirs/benchmark]
        [--eval-on {val,heldout}] [--env KEY=VALUE ...] [--tag NAME]
        [--json PATH] [--png PATH] [--resume] [--dry-run] [--report-only]
        [--cfg-options key=value ...]

Each (method, seed) is one ``tools/train.py`` run in a subprocess, one at a
time, in ``<out>/<task>[-<tag>][-heldout]/<method>/seed<S>``; seed S sets
``randomness.seed=S`` and ``DMT_SPLIT=S`` (the labelled split); ``--env``
adds environment settings (e.g. ``DMT_BUDGET=10``) and ``--cfg-options``
options to every run. ``--eval-on heldout`` validates on the held-out part
of the labelled pool instead of val: the selection runs of
docs/benchmarks/PROTOCOL.md, whose JSON and charts go to
``docs/benchmarks/selection/``. Every run records the commit it ran from. Complete runs are skipped;
interrupted ones (``last_checkpoint`` but no final value) continue with
``--resume``. The final value of a DMT-style run is the last phase's val in
``dmt_summary.json`` (two models: the mean of A and B); of a supervised run the
val at its last iteration in ``vis_data/scalars.json``. Prints mean ± sample
std (ddof=1) per method with every seed's value (then, phase by phase, what
the DMT-style runs did: val, pseudo labels kept and their quality, mean
dynamic weight), writes the runs and the paired comparisons (each claim
"X beats Y" judged as PROTOCOL.md says) to a JSON, a
chart (mean ± std and every seed) to a PNG and the val curves of every run
to ``<png>_curves.png`` (all atomically; the report half is
``benchmark_report.py`` next to this file).
The tasks and methods are in ``benchmark_tasks.py`` next to this file.
Paths in the JSON are relative (work dirs to ``--out``, configs to the
repository) and the interpreter is written as ``python``.
"""
import argparse
import datetime
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_report as report  # noqa: E402 (the report half)

import benchmark_runs  # noqa: E402 (reading runs)
from benchmark_runs import portable, read_final  # noqa: E402
from benchmark_tasks import TASKS, seed_setting  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RECORD = 'benchmark_run.json'  # per-run metadata, in the run's work dir
STD = 'sample standard deviation over seeds (ddof=1)'


def git_commit() -> dict:
    """The commit the runs start from, and whether the package, configs or
    tools differ from it (``dirty``)."""
    def git(*argv):
        return subprocess.run(['git', '-C', REPO, *argv], text=True,
                              capture_output=True).stdout.strip()
    return dict(commit=git('rev-parse', 'HEAD') or None,
                dirty=bool(git('status', '--porcelain', '--', 'dmt_mm',
                               'configs', 'tools')))


def _path(rel: str) -> str:
    """A repository path, relative to the current directory when inside it."""
    path = osp.relpath(osp.join(REPO, rel))
    return path if not path.startswith('..') else osp.join(REPO, rel)


def run_options(args, method: str, seed: int):
    """``(cfg-options, env additions)`` of one run."""
    _, options, _ = TASKS[args.task]['methods'][method]
    seed_opts, env = seed_setting(seed)
    env = {**env, **dict(e.split('=', 1) for e in args.env or [])}
    heldout = (TASKS[args.task]['heldout']
               if args.eval_on == 'heldout' else ())
    return [*seed_opts, *options, *heldout, *(args.cfg_options or [])], env


def train_command(args, method: str, seed: int, resume: bool):
    """``(argv, env additions, shell line)`` of one run; the line names the
    interpreter ``python`` and paths relative to the current directory."""
    config = TASKS[args.task]['methods'][method][0]
    options, env = run_options(args, method, seed)
    tail = [args.train_script or _path('tools/train.py'), _path(config),
            '--work-dir', work_dir_of(args, method, seed)]
    tail += ['--resume'] if resume else []
    tail += ['--cfg-options', *options]
    line = ' '.join([*(f'{k}={v}' for k, v in env.items()),
                     shlex.join(['python', *tail])])
    return [sys.executable, *tail], env, line


def check_configs(args, methods) -> None:
    """Fail before any training (see ``benchmark_runs.check_configs``)."""
    benchmark_runs.check_configs(args, TASKS[args.task], methods,
                                 run_options)


def group_of(args) -> str:
    """``<task>[-<tag>][-heldout]``: the folder of the runs under --out."""
    return '-'.join([args.task] + ([args.tag] if args.tag else []) +
                    (['heldout'] if args.eval_on == 'heldout' else []))


def work_dir_of(args, method: str, seed: int) -> str:
    return osp.join(args.out, group_of(args), method, f'seed{seed}')


def _write(path: str, data: bytes) -> None:
    from dmt_mm.utils.pseudo_label_io import atomic_write_bytes
    atomic_write_bytes(path, data)


def run_one(args, method: str, seed: int, resume: bool) -> None:
    """Train one (method, seed) in a subprocess; append the attempt to the
    work dir's record. Raises ``RuntimeError`` on failure."""
    argv, env, line = train_command(args, method, seed, resume)
    work_dir = work_dir_of(args, method, seed)
    os.makedirs(work_dir, exist_ok=True)
    record = _read_record(work_dir)
    attempt = dict(command=line, resumed=resume, machine=os.uname().nodename,
                   cpu_count=os.cpu_count(), **git_commit(), rc=None,
                   wall_time_s=None,
                   start=datetime.datetime.now().astimezone().isoformat(
                       timespec='seconds'))
    record['attempts'].append(attempt)
    _write(osp.join(work_dir, RECORD), json.dumps(record, indent=1).encode())
    log = osp.join(work_dir, 'benchmark_train.log')
    tic = time.monotonic()
    try:
        with open(log, 'a') as f:
            attempt['rc'] = subprocess.call(
                argv, env={**os.environ, **env}, stdout=f,
                stderr=subprocess.STDOUT)
    except KeyboardInterrupt:
        attempt['rc'] = 'interrupted'
        raise
    finally:
        attempt['wall_time_s'] = round(time.monotonic() - tic, 3)
        _write(osp.join(work_dir, RECORD),
               json.dumps(record, indent=1).encode())
    if attempt['rc'] != 0:
        with open(log) as f:
            tail = ''.join(f.readlines()[-20:])
        raise RuntimeError(f'{line}\nexited with {attempt["rc"]}; the end of '
                           f'{log}:\n{tail}')
    if read_final(work_dir, TASKS[args.task], method) is None:
        raise RuntimeError(f'{line}\nfinished but {work_dir} has no final '
                           'val (see read_final)')


def _read_record(work_dir: str) -> dict:
    path = osp.join(work_dir, RECORD)
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    return dict(attempts=[])


def collect(args, previous=None):
    """Every complete run of the task's methods and seeds: from the work dirs,
    else from ``previous`` (a JSON written by this tool)."""
    old = {(r['method'], r['seed']): r
           for r in (previous or {}).get('runs', [])}
    runs = []
    for method in TASKS[args.task]['methods']:
        config = TASKS[args.task]['methods'][method][0]
        for seed in args.seeds:
            work_dir = work_dir_of(args, method, seed)
            result = read_final(work_dir, TASKS[args.task], method)
            if result is None:
                if (method, seed) in old:
                    runs.append(portable(old[method, seed], args.out))
                continue
            attempts = _read_record(work_dir)['attempts']
            first = attempts[0] if attempts else {}  # none: not run by us
            _, env, line = train_command(args, method, seed, False)
            line = first.get('command', line)
            argv = shlex.split(line)
            runs.append(portable(dict(
                method=method, seed=seed,
                work_dir=osp.relpath(work_dir, args.out), config=config,
                cfg_options=argv[argv.index('--cfg-options') + 1:], env=env,
                command=line, start=first.get('start'),
                machine=first.get('machine'),
                cpu_count=first.get('cpu_count'),
                commit=first.get('commit'), dirty=first.get('dirty'),
                wall_time_s=sum(a['wall_time_s'] or 0 for a in attempts)
                if attempts else None, attempts=attempts, **result),
                args.out))
    return runs


def summarize(task: str, runs):
    """Per-method statistics and the comparisons (``benchmark_report``)."""
    return report.summarize(list(TASKS[task]['methods']), runs)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('task', choices=sorted(TASKS))
    parser.add_argument('--seeds', type=int, nargs='+',
                        default=[0, 1, 2, 3, 4])
    parser.add_argument('--methods', nargs='+', help='methods to run '
                        '(default: all of the task; the report covers all)')
    parser.add_argument('--out', default='work_dirs/benchmark')
    parser.add_argument('--eval-on', choices=('val', 'heldout'),
                        default='val', help='heldout: validate on the '
                        'held-out part of the labelled pool (selection)')
    parser.add_argument('--env', nargs='+', default=[], metavar='KEY=VALUE',
                        help='environment added to every run')
    parser.add_argument('--tag', help='names a variant (its folder and JSON)')
    parser.add_argument('--json', help='default docs/benchmarks/<task>.json '
                        '(heldout: docs/benchmarks/selection/<task>[-<tag>]'
                        '.json)')
    parser.add_argument('--png', help='default: the JSON path with .png')
    parser.add_argument('--resume', action='store_true',
                        help='continue interrupted runs (train.py --resume)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands of the runs to do and stop')
    parser.add_argument('--report-only', action='store_true', help='rebuild '
                        'table, JSON and PNG from the work dirs or the JSON')
    parser.add_argument('--train-script', help='default tools/train.py; '
                        'another script with its CLI (tests)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='key=value options added to every run')
    args = parser.parse_args(argv)
    names = TASKS[args.task]['methods']
    args.methods = args.methods or list(names)
    bad = [m for m in args.methods if m not in names]
    if bad:
        parser.error(f'--methods {bad}: {args.task} has {list(names)}')
    bad = [e for e in args.env if '=' not in e or not e.split('=')[0]]
    if bad:
        parser.error(f'--env {bad}: expected KEY=VALUE')
    if args.eval_on == 'heldout' and TASKS[args.task]['heldout'] is None:
        parser.error(f'--eval-on heldout: task {args.task} has no held-out '
                     'part')
    name = '-'.join([args.task] + ([args.tag] if args.tag else []))
    folder = ('docs/benchmarks/selection' if args.eval_on == 'heldout'
              else 'docs/benchmarks')
    args.json = args.json or f'{folder}/{name}.json'
    args.png = args.png or osp.splitext(args.json)[0] + '.png'
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    todo = [(m, s) for s in args.seeds for m in args.methods
            if read_final(work_dir_of(args, m, s), TASKS[args.task], m) is None]
    todo = [(m, s, osp.isfile(osp.join(work_dir_of(args, m, s),
                                       'last_checkpoint'))) for m, s in todo]
    if args.dry_run:
        for m, s in [(m, s) for s in args.seeds for m in args.methods]:
            if all((m, s) != t[:2] for t in todo):
                print(f'# complete, skipped: {work_dir_of(args, m, s)}')
        for m, s, interrupted in todo:
            if interrupted and not args.resume:
                print('# interrupted, needs --resume:')
            print(train_command(args, m, s, interrupted and args.resume)[2])
        return 0
    previous = None
    if args.report_only and osp.isfile(args.json):
        with open(args.json) as f:
            previous = json.load(f)
        if previous.get('task') != args.task:
            raise ValueError(f'{args.json} holds task={previous.get("task")!r}'
                             f', not {args.task!r}')
    elif not args.report_only:
        stuck = [work_dir_of(args, m, s) for m, s, i in todo if i]
        if stuck and not args.resume:
            print('interrupted runs (pass --resume to continue them, or '
                  'delete them): ' + ', '.join(stuck), file=sys.stderr)
            return 1
        check_configs(args, sorted({m for m, _, _ in todo}))
        for i, (m, s, interrupted) in enumerate(todo):
            line = train_command(args, m, s, interrupted)[2]
            print(f'[{i + 1}/{len(todo)}] {line}', flush=True)
            try:
                run_one(args, m, s, interrupted)
            except RuntimeError as e:
                print(e, file=sys.stderr)
                return 1
    runs = collect(args, previous)
    if not runs:
        print(f'no complete run of {args.task} under {args.out}'
              + (' nor in ' + args.json if args.report_only else '')
              + f': {args.json} not written', file=sys.stderr)
        return 1 if args.report_only else 0
    summary, comparison = summarize(args.task, runs)
    metric = TASKS[args.task]['metric']
    print(report.format_table(args.task, metric, args.seeds, summary,
                              comparison))
    print(report.format_phases(list(TASKS[args.task]['methods']), runs))
    result = dict(
        task=args.task, metric=TASKS[args.task]['metric'], std=STD,
        seeds=args.seeds, eval_on=args.eval_on, env=args.env, tag=args.tag,
        generated=datetime.datetime.now().astimezone().isoformat(
            timespec='seconds'),
        generated_by=shlex.join(['python', osp.relpath(__file__, REPO)] +
                                list(argv if argv is not None else
                                     sys.argv[1:])),
        methods={m: dict(config=c, cfg_options=list(o), final_from=src)
                 for m, (c, o, src) in TASKS[args.task]['methods'].items()},
        runs=runs, summary=summary, comparison=comparison)
    _write(args.json, json.dumps(result, indent=1).encode())
    _write(args.png, report.draw_chart(args.task, metric, summary, runs))
    curves_png = osp.splitext(args.png)[0] + '_curves.png'
    _write(curves_png, report.draw_curves(
        args.task, metric, list(TASKS[args.task]['methods']), runs))
    print(f'wrote {args.json}, {args.png} and {curves_png}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
