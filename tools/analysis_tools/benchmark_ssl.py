#!/usr/bin/env python
# Copyright (c) dmt_mm contributors. All rights reserved.
"""Run DMT and its ablations over seeds and compare their final val results.

    python tools/analysis_tools/benchmark_ssl.py {seg,cls} [--seeds 0 1 2]
        [--methods M ...] [--out work_dirs/benchmark] [--json PATH]
        [--png PATH] [--resume] [--dry-run] [--report-only]
        [--cfg-options key=value ...]

Each (method, seed) is one ``tools/train.py`` run in a subprocess, one at a
time, in ``<out>/<task>/<method>/seed<S>``; seed S sets ``randomness.seed=S``
and ``DMT_SPLIT=S`` (the labelled split). Complete runs are skipped;
interrupted ones (``last_checkpoint`` but no final value) continue with
``--resume``. The final value of a DMT-style run is the last phase's val in
``dmt_summary.json`` (two models: the mean of A and B); of a supervised run the
val at its last iteration in ``vis_data/scalars.json``. Prints mean ± sample
std (ddof=1) per method with every seed's value (then, phase by phase, what
the DMT-style runs did: val, pseudo labels kept and their quality, mean
dynamic weight), writes the runs and the comparisons of issue 8 to a JSON, a
chart (mean ± std and every seed) to a PNG and the val curves of every run
to ``<png>_curves.png`` (all atomically; the report half is
``benchmark_report.py`` next to this file).
The paper's ablations order them supervised < self-training < mutual
training without dynamic weights < DMT (Feng et al., "DMT: Dynamic Mutual
Training for Semi-Supervised Learning", arXiv:2004.08514).
"""
import argparse
import datetime
import glob
import json
import os
import os.path as osp
import shlex
import statistics
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_report as report  # noqa: E402 (the report half)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_DEMO = 'configs/dmt/dmt_deeplabv2-r18_digit-scenes.py'
CLS_DEMO = 'configs/dmt/dmt_wrn10-2_digits-50.py'
#: task -> val metric and methods, weakest expected first (the paper's
#: ordering). method -> (config, its --cfg-options, where the final value is
#: read: 'dmt' = <work_dir>/dmt_summary.json, 'scalars' = mmengine's
#: <work_dir>/<timestamp>/vis_data/scalars.json).
TASKS = {
    'seg': dict(metric='mIoU', methods={
        'supervised': (
            'configs/dmt/deeplabv2-r18_digit-scenes_labeled-only.py', (),
            'scalars'),
        'self-training': (SEG_DEMO, ('train_cfg.teacher=self', ), 'dmt'),
        'mutual-ce': (SEG_DEMO, (
            'model.segmentor.decode_head.loss_decode.dynamic=False', ), 'dmt'),
        'dmt': (SEG_DEMO, (), 'dmt'),
    }),
    'cls': dict(metric='accuracy/top1', methods={
        'supervised': ('configs/dmt/wrn10-2_digits-50_labeled-only.py', (),
                       'scalars'),
        'chain-ce': (CLS_DEMO, ('model.head.dynamic=False', ), 'dmt'),
        'dmt': (CLS_DEMO, (), 'dmt'),
    }),
}
RECORD = 'benchmark_run.json'  # per-run metadata, in the run's work dir
STD = 'sample standard deviation over seeds (ddof=1)'


def seed_setting(seed: int):
    """``(cfg-options, environment)`` of seed ``seed``."""
    return [f'randomness.seed={seed}'], {'DMT_SPLIT': str(seed)}


def _path(rel: str) -> str:
    """A repository path, relative to the current directory when inside it."""
    path = osp.relpath(osp.join(REPO, rel))
    return path if not path.startswith('..') else osp.join(REPO, rel)


def train_command(args, method: str, seed: int, resume: bool):
    """``(argv, env additions, shell line)`` of one run."""
    config, options, _ = TASKS[args.task]['methods'][method]
    seed_opts, env = seed_setting(seed)
    argv = [sys.executable, args.train_script or _path('tools/train.py'),
            _path(config), '--work-dir', work_dir_of(args, method, seed)]
    argv += ['--resume'] if resume else []
    argv += ['--cfg-options', *seed_opts, *options, *(args.cfg_options or [])]
    line = ' '.join([*(f'{k}={v}' for k, v in env.items()), shlex.join(argv)])
    return argv, env, line


def work_dir_of(args, method: str, seed: int) -> str:
    return osp.join(args.out, args.task, method, f'seed{seed}')


def _write(path: str, data: bytes) -> None:
    from dmt_mm.utils.pseudo_label_io import atomic_write_bytes
    atomic_write_bytes(path, data)


def _load_config(path: str, options=(), env=None):
    """Load a config (``{{$VAR}}`` from ``env``) and merge ``options``."""
    from mmengine.config import Config, DictAction
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        cfg = Config.fromfile(path, import_custom_modules=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if options:  # parsed as tools/train.py parses them
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o', *options]).o)
    return cfg


def read_final(work_dir: str, method: str, task: str):
    """The final value(s) of a run, or None while it is not complete.

    Returns:
        dict | None: ``final`` (float; two models: the mean of A and B),
        ``finals`` ({model: last-phase val}) and ``stages`` (the summary's
        stages: {model, phase, val, iters} and the pseudo-label diagnostics
        of each phase) of a DMT-style run; ``final`` and ``vals`` ([{step,
        val}]) of a supervised run.
    """
    config, _, source = TASKS[task]['methods'][method]
    metric = TASKS[task]['metric']
    if source == 'dmt':
        path = osp.join(work_dir, 'dmt_summary.json')
        if not osp.isfile(path):
            return None
        with open(path) as f:
            summary = json.load(f)
        if summary.get('metric') != metric:
            raise ValueError(f'{path}: metric={summary.get("metric")!r}, '
                             f'expected {metric!r} for task {task!r}')
        stages = [dict(s, iters=s.get('iters')) for s in summary['stages']]
        finals = {}
        for s in sorted(stages, key=lambda s: s['phase']):
            finals[s['model'] or 'chain'] = s['val']
        if not finals or None in finals.values():
            raise ValueError(f'{path}: a last phase has no val: {finals}')
        return dict(final=statistics.mean(finals.values()), finals=finals,
                    stages=stages)
    dumped = osp.join(work_dir, osp.basename(config))
    if not osp.isfile(dumped):
        return None
    max_iters = _load_config(dumped).train_cfg.get('max_iters')
    vals = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        vals += [dict(step=r['step'], val=r[metric]) for r in lines
                 if metric in r]
    last = [v['val'] for v in vals if v['step'] == max_iters]
    return dict(final=last[-1], vals=vals) if last else None


def check_configs(task: str, methods, extra_options) -> None:
    """Fail before any training: every config loads, the method options name
    existing fields, and supervised runs log val by iteration."""
    for method in methods:
        config, options, source = TASKS[task]['methods'][method]
        if not osp.isfile(osp.join(REPO, config)):
            raise FileNotFoundError(f'{method}: config {config} not found')
        cfg = _load_config(
            osp.join(REPO, config), extra_options, seed_setting(0)[1])
        for opt in options:
            node, *parents = cfg, *opt.split('=')[0].split('.')[:-1]
            for key in parents:
                node = node.get(key) if hasattr(node, 'get') else None
            if not hasattr(node, 'get'):
                raise KeyError(f'{method}: option {opt!r} names no field of '
                               f'{config} ({".".join(parents)} is missing)')
        logger = cfg.get('default_hooks', {}).get('logger') or {}
        if source == 'scalars' and (
                not cfg.train_cfg.get('max_iters')
                or logger.get('log_metric_by_epoch', True)):
            raise ValueError(
                f'{method}: {config} must train by iterations and log val by '
                f'iteration (train_cfg.max_iters='
                f'{cfg.train_cfg.get("max_iters")}, default_hooks.logger.'
                f'log_metric_by_epoch={logger.get("log_metric_by_epoch")})')


def run_one(args, method: str, seed: int, resume: bool) -> None:
    """Train one (method, seed) in a subprocess; append the attempt to the
    work dir's record. Raises ``RuntimeError`` on failure."""
    argv, env, line = train_command(args, method, seed, resume)
    work_dir = work_dir_of(args, method, seed)
    os.makedirs(work_dir, exist_ok=True)
    record = _read_record(work_dir)
    attempt = dict(command=line, resumed=resume, machine=os.uname().nodename,
                   cpu_count=os.cpu_count(), rc=None, wall_time_s=None,
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
    if read_final(work_dir, method, args.task) is None:
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
    for method, (config, _, _) in TASKS[args.task]['methods'].items():
        for seed in args.seeds:
            work_dir = work_dir_of(args, method, seed)
            result = read_final(work_dir, method, args.task)
            if result is None:
                if (method, seed) in old:
                    runs.append(old[method, seed])
                continue
            attempts = _read_record(work_dir)['attempts']
            first = attempts[0] if attempts else {}  # none: not run by us
            _, env, line = train_command(args, method, seed, False)
            line = first.get('command', line)
            argv = shlex.split(line)
            runs.append(dict(
                method=method, seed=seed, work_dir=work_dir, config=config,
                cfg_options=argv[argv.index('--cfg-options') + 1:], env=env,
                command=line, start=first.get('start'),
                machine=first.get('machine'),
                cpu_count=first.get('cpu_count'),
                wall_time_s=sum(a['wall_time_s'] or 0 for a in attempts)
                if attempts else None, attempts=attempts, **result))
    return runs


def summarize(task: str, runs):
    """Per-method statistics and the comparisons (``benchmark_report``)."""
    return report.summarize(list(TASKS[task]['methods']), runs)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('task', choices=sorted(TASKS))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--methods', nargs='+', help='methods to run '
                        '(default: all of the task; the report covers all)')
    parser.add_argument('--out', default='work_dirs/benchmark')
    parser.add_argument('--json', help='default docs/benchmarks/<task>.json')
    parser.add_argument('--png', help='default docs/benchmarks/<task>.png')
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
    args.json = args.json or f'docs/benchmarks/{args.task}.json'
    args.png = args.png or f'docs/benchmarks/{args.task}.png'
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    todo = [(m, s) for s in args.seeds for m in args.methods
            if read_final(work_dir_of(args, m, s), m, args.task) is None]
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
        check_configs(args.task, sorted({m for m, _, _ in todo}),
                      args.cfg_options)
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
        seeds=args.seeds,
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
