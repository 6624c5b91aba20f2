#!/usr/bin/env python
# Copyright (c) dmt_mm contributors. All rights reserved.
"""Run DMT and its ablations over seeds and compare their final val results.

    python tools/analysis_tools/benchmark_ssl.py {seg,seg-scratch,cls}
        [--seeds 0 1 2 3 4] [--methods M ...] [--out work_dirs/benchmark]
        [--eval-on {val,heldout}] [--env KEY=VALUE ...] [--tag NAME]
        [--json PATH] [--png PATH] [--resume] [--dry-run] [--report-only]
        [--no-shared-phase0] [--jobs N] [--count-cross-machine]
        [--cfg-options key=value ...]

Each (method, seed) is one ``tools/train.py`` run in a subprocess, in
``<out>/<task>[-<tag>][-heldout]/<method>/seed<S>``; seed S sets
``randomness.seed=S`` and ``DMT_SPLIT=S`` (the labelled split); ``--env`` and
``--cfg-options`` add to every run; ``--eval-on heldout`` validates on the
held-out part of the labelled pool (the selection runs of
docs/benchmarks/PROTOCOL.md). The methods that differ only after phase 0
(``benchmark_tasks.py``) train it once per seed: the provider (dmt, run first,
even when not asked for) trains it, the others load it with
``train_cfg.phase0_from`` (``--no-shared-phase0``: each its own). One run at a
time, or ``--jobs N``, each pinned to cores of its own (benchmark_schedule.py).
Every run records its commit and machine; a claim does not count the seeds
whose paired runs ran on different machines unless ``--count-cross-machine``.
Complete runs are skipped; interrupted ones continue with ``--resume``. The
final value of a DMT-style run is the last phase's val in ``dmt_summary.json``
(two models: the mean of A and B), of a supervised run the val at its last
iteration. Prints mean ± sample std (ddof=1) per method and every seed's
value, then what the DMT-style runs did phase by phase; writes the runs and
the paired comparisons (judged as PROTOCOL.md says) to a JSON, a chart to a PNG
and the val curves to ``<png>_curves.png``, atomically (the report half is
``benchmark_report.py``), with paths relative to ``--out`` or the repository.
"""
import argparse
import datetime
import json
import os
import os.path as osp
import shlex
import sys
from functools import partial

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_report as report  # noqa: E402 (the report half)

import benchmark_runs  # noqa: E402 (reading runs)
import benchmark_schedule as schedule  # noqa: E402 (order, cores, machine)
from benchmark_runs import portable, read_final  # noqa: E402
from benchmark_runs import write as _write  # noqa: E402 (atomic)
from benchmark_tasks import TASKS, seed_setting  # noqa: E402
from benchmark_tasks import (phase0_files, phase0_options,  # noqa: E402
                             worker_options)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STD = 'sample standard deviation over seeds (ddof=1)'


def _path(rel: str) -> str:
    """A repository path, relative to the current directory when inside it."""
    path = osp.relpath(osp.join(REPO, rel))
    return path if not path.startswith('..') else osp.join(REPO, rel)


def run_options(args, method: str, seed: int, provider=None):
    """``(cfg-options, env additions)`` of one run; ``provider``: the method
    whose phase 0 it loads (None: it trains its own). With ``--jobs`` > 1
    the data workers and threads of a run on its share of the cores."""
    _, options, source = TASKS[args.task]['methods'][method]
    seed_opts, env = seed_setting(seed)
    env = {**env, **dict(e.split('=', 1) for e in args.env or [])}
    heldout = (TASKS[args.task]['heldout']
               if args.eval_on == 'heldout' else ())
    phase0 = phase0_options(
        work_dir_of(args, provider, seed),
        TASKS[args.task]['phase0']['models']) if provider else []
    options = [*seed_opts, *options, *heldout, *phase0,
               *_workers(args, method), *(args.cfg_options or [])]
    return options, {**env, **schedule.thread_env(args.slots[0])}


def _workers(args, method: str) -> list:
    """The data-worker options of ``--jobs`` > 1 (none for one run at a
    time: the config's own)."""
    cores = args.slots[0]
    return worker_options(TASKS[args.task]['methods'][method][2],
                          schedule.loader_workers(len(cores))) if cores else []


def train_command(args, method: str, seed: int, resume: bool,
                  provider=None, cores=None):
    """``(argv, env additions, shell line)`` of one run (pinned to
    ``cores``, None: not pinned); the line names the interpreter ``python``
    and paths relative to the current directory."""
    config = TASKS[args.task]['methods'][method][0]
    options, env = run_options(args, method, seed, provider)
    tail = [args.train_script or _path('tools/train.py'), _path(config),
            '--work-dir', work_dir_of(args, method, seed)]
    tail += ['--resume'] if resume else []
    tail += ['--cfg-options', *options]
    pin = schedule.pinning(cores)
    line = ' '.join([*(f'{k}={v}' for k, v in env.items()),
                     shlex.join([*pin, 'python', *tail])])
    return [*pin, sys.executable, *tail], env, line


def check_configs(args, methods) -> None:
    """Fail before any training (see ``benchmark_runs.check_configs``)."""
    benchmark_runs.check_configs(args, TASKS[args.task], methods,
                                 run_options, also=partial(_workers, args))


def group_of(args) -> str:
    """``<task>[-<tag>][-heldout]``: the folder of the runs under --out."""
    return '-'.join([args.task] + ([args.tag] if args.tag else []) +
                    (['heldout'] if args.eval_on == 'heldout' else []))


def work_dir_of(args, method: str, seed: int) -> str:
    return osp.join(args.out, group_of(args), method, f'seed{seed}')


def phase0_source(args, run: dict):
    """The JSON's ``phase0_from`` of a run: the provider's method, seed and
    work dir (relative to --out), or None where the run trains its own."""
    if not run['provider']:
        return None
    return dict(method=run['provider'], seed=run['seed'],
                work_dir=osp.relpath(work_dir_of(args, run['provider'],
                                                 run['seed']), args.out))


def ready(args, run: dict, waiting) -> bool:
    """Whether ``run`` can start: its provider's phase-0 checkpoints are
    complete. Raises ``RuntimeError`` when they never will be (the provider
    is not among the runs ``waiting`` to end)."""
    if not run['provider']:
        return True
    work_dir = work_dir_of(args, run['provider'], run['seed'])
    files = phase0_files(work_dir, TASKS[args.task]['phase0']['models'])
    if benchmark_runs.phase0_ready(files, work_dir):
        return True
    if (run['provider'], run['seed']) in waiting:
        return False
    raise RuntimeError(
        f'{work_dir_of(args, run["method"], run["seed"])} loads phase 0 from '
        f'{", ".join(files.values())}, which {work_dir} has not written '
        '(and nothing is to run there): rerun it, or pass '
        '--no-shared-phase0')


def start_run(args, total: int, run: dict, cores):
    """Print and start one run, pinned to ``cores`` (None: not pinned)."""
    argv, env, line = train_command(args, run['method'], run['seed'],
                                    run['interrupted'], run['provider'], cores)
    print(f'[{run["index"]}/{total}] {line}', flush=True)
    return schedule.launch(work_dir_of(args, run['method'], run['seed']),
                           argv, env, line, cores, run['interrupted'],
                           phase0_from=phase0_source(args, run))


def finish_run(args, run: dict, handle: dict, rc) -> None:
    """Record how a run ended; ``RuntimeError`` when it failed or has no
    final value."""
    schedule.end(handle, rc)
    if rc == 0 and read_final(handle['work_dir'], TASKS[args.task],
                              run['method']) is None:
        raise RuntimeError(f'{handle["line"]}\nfinished but '
                           f'{handle["work_dir"]} has no final val (see '
                           'read_final)')


def collect(args, previous=None):
    """Every complete run of the task's methods and seeds (see
    ``benchmark_runs.collect``)."""
    return benchmark_runs.collect(
        TASKS[args.task], args.seeds, args.out, partial(work_dir_of, args),
        lambda m, s: train_command(args, m, s, False)[1:], previous)


def summarize(task: str, runs, count_cross_machine: bool = False):
    """Per-method statistics and the comparisons (``benchmark_report``),
    each run's machine by ``benchmark_schedule.fingerprint``."""
    machines = {}
    for r in runs:
        machines.setdefault(r['method'], {})[str(r['seed'])] = (
            schedule.fingerprint(r))
    return report.summarize(list(TASKS[task]['methods']), runs, machines,
                            count_cross_machine, TASKS[task].get('ordering'),
                            TASKS[task].get('regime', report.BASELINE))


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
    parser.add_argument('--no-shared-phase0', dest='shared_phase0',
                        action='store_false', help='every run trains its '
                        'own phase 0 (default: once per seed, loaded by the '
                        'methods that share it)')
    parser.add_argument('--jobs', type=int, default=1, help='runs at once, '
                        'each pinned to its share of the usable cores (at '
                        'most one run per core)')
    parser.add_argument('--count-cross-machine', action='store_true',
                        help='count seeds whose paired runs ran on different '
                        'machines toward a claim')
    args = parser.parse_args(argv)
    try:
        args.slots = schedule.slots(args.jobs)
    except ValueError as e:
        parser.error(str(e))
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


def dry_run(args, todo) -> None:
    """Print what a run of the tool would do: the skipped runs, then every
    command, pinned as with ``--jobs`` (to slot ``i % jobs``; the real run
    takes whichever slot is free)."""
    for m, s in [(m, s) for s in args.seeds for m in args.methods]:
        if all((m, s) != (r['method'], r['seed']) for r in todo):
            print(f'# complete, skipped: {work_dir_of(args, m, s)}')
    if len(args.slots) > 1:
        print(f'# --jobs {len(args.slots)}: each run on the cores of a free '
              'slot; one that loads phase 0 once its provider wrote it')
    waiting = {(r['method'], r['seed']) for r in todo}
    for i, run in enumerate(todo):
        if run['added']:
            print(f'# not in --methods, run for the phase 0 the others of '
                  f'seed {run["seed"]} load:')
        try:
            ready(args, run, waiting)
        except RuntimeError as e:
            print(f'# will fail: {e}')
        if run['interrupted'] and not args.resume:
            print('# interrupted, needs --resume:')
        print(train_command(args, run['method'], run['seed'],
                            run['interrupted'] and args.resume,
                            run['provider'],
                            args.slots[i % len(args.slots)])[2])


def main(argv=None) -> int:
    args = parse_args(argv)
    todo = schedule.plan(
        TASKS[args.task], args.methods, args.seeds, args.shared_phase0,
        lambda m, s: benchmark_runs.run_state(work_dir_of(args, m, s),
                                              TASKS[args.task], m))
    for i, run in enumerate(todo):
        run['index'] = i + 1
    if args.dry_run:
        dry_run(args, todo)
        return 0
    previous = None
    if args.report_only and osp.isfile(args.json):
        with open(args.json) as f:
            previous = json.load(f)
        if previous.get('task') != args.task:
            raise ValueError(f'{args.json} holds task={previous.get("task")!r}'
                             f', not {args.task!r}')
    elif not args.report_only:
        stuck = [work_dir_of(args, r['method'], r['seed']) for r in todo
                 if r['interrupted']]
        if stuck and not args.resume:
            print('interrupted runs (pass --resume to continue them, or '
                  'delete them): ' + ', '.join(stuck), file=sys.stderr)
            return 1
        check_configs(args, sorted({r['method'] for r in todo}))
        if schedule.run_all(todo, args.slots,
                            partial(start_run, args, len(todo)),
                            partial(finish_run, args), partial(ready, args)):
            return 1
    runs = collect(args, previous)
    if not runs:
        print(f'no complete run of {args.task} under {args.out}'
              + (' nor in ' + args.json if args.report_only else '')
              + f': {args.json} not written', file=sys.stderr)
        return 1 if args.report_only else 0
    summary, comparison = summarize(args.task, runs,
                                    args.count_cross_machine)
    metric = TASKS[args.task]['metric']
    print(report.format_table(args.task, metric, args.seeds, summary,
                              comparison))
    print(report.format_phases(list(TASKS[args.task]['methods']), runs))
    result = dict(
        task=args.task, metric=TASKS[args.task]['metric'], std=STD,
        seeds=args.seeds, eval_on=args.eval_on, env=args.env, tag=args.tag,
        shared_phase0=TASKS[args.task].get('phase0')
        if args.shared_phase0 else None, jobs=args.jobs,
        count_cross_machine=args.count_cross_machine,
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
