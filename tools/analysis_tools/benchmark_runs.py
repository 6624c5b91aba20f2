# Copyright (c) dmt_mm contributors. All rights reserved.
"""What ``benchmark_ssl.py`` reads of a run: its config (checked before any
training), its final value, its phase 0 (complete, and how long it trained),
the record of its attempts in its work dir and, from all that, the run's
entry in the benchmark JSON without this machine's paths.
"""
import argparse
import glob
import json
import os
import os.path as osp
import shlex
import statistics
import subprocess

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SUMMARY = 'dmt_summary.json'  # written by the DMT loop after every stage
RECORD = 'benchmark_run.json'  # per-run metadata, in the run's work dir


def write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (never half a file)."""
    from dmt_mm.utils.pseudo_label_io import atomic_write_bytes
    atomic_write_bytes(path, data)


def _read_json(path: str, default=None):
    """The JSON in ``path``, or ``default`` where there is no such file."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def read_record(work_dir: str) -> dict:
    """The run's record (``attempts``: every start of it by the tool)."""
    return _read_json(osp.join(work_dir, RECORD), dict(attempts=[]))


def git_commit() -> dict:
    """The commit the runs start from, and whether the package, configs or
    tools differ from it (``dirty``)."""
    def git(*argv):
        return subprocess.run(['git', '-C', REPO, *argv], text=True,
                              capture_output=True).stdout.strip()
    return dict(commit=git('rev-parse', 'HEAD') or None,
                dirty=bool(git('status', '--porcelain', '--', 'dmt_mm',
                               'configs', 'tools')))


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


def read_final(work_dir: str, spec: dict, method: str):
    """The final value(s) of a run, or None while it is not complete (a
    DMT-style run: until every model has a stage of the last phase that the
    config dumped into the work dir names; a supervised run: until val is
    logged at ``max_iters``). A work dir where the Runner dumped another
    config than the method's is refused (ValueError): its results are not
    the method's.

    Returns:
        dict | None: ``final`` (float; two models: the mean of A and B),
        ``finals`` ({model: last-phase val}) and ``stages`` (the summary's
        stages: {model, phase, val, iters} and the pseudo-label diagnostics
        of each phase) of a DMT-style run; ``final`` and ``vals`` ([{step,
        val}]) of a supervised run.
    """
    config, _, source = spec['methods'][method]
    metric = spec['metric']
    dumped = osp.join(work_dir, osp.basename(config))  # by the Runner
    others = sorted(osp.basename(p)
                    for p in glob.glob(osp.join(work_dir, '*.py')))
    if others and not osp.isfile(dumped):  # e.g. a task's configs changed
        raise ValueError(
            f'{work_dir} holds a run of {", ".join(others)}, not of '
            f'{config} ({method}): move it away or pass another --out')
    if source == 'dmt':
        path = osp.join(work_dir, SUMMARY)
        summary = _read_json(path)
        if summary is None:
            return None
        if summary.get('metric') != metric:
            raise ValueError(f'{path}: metric={summary.get("metric")!r}, '
                             f'expected {metric!r}')
        stages = [dict(s, iters=s.get('iters')) for s in summary['stages']]
        finals, last = {}, {}
        for s in sorted(stages, key=lambda s: s['phase']):
            finals[s['model'] or 'chain'] = s['val']
            last[s['model'] or 'chain'] = s['phase']
        # The summary grows stage by stage: a run is complete when every
        # model has its last DMT phase (the dumped config's keep_ratios).
        if osp.isfile(dumped):
            phases = len(_load_config(dumped).train_cfg.get('keep_ratios',
                                                            ()))
            if not last or min(last.values()) < phases:
                return None
        if not finals or None in finals.values():
            raise ValueError(f'{path}: a last phase has no val: {finals}')
        return dict(final=statistics.mean(finals.values()), finals=finals,
                    stages=stages)
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


def run_state(work_dir: str, spec: dict, method: str):
    """``'complete'`` (:func:`read_final` has its value), ``'interrupted'``
    (a checkpoint, no final value) or None (nothing to continue)."""
    if read_final(work_dir, spec, method) is not None:
        return 'complete'
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        return 'interrupted'
    return None


def _phase0_rows(work_dir: str) -> dict:
    """{model (None: the chain): its phase-0 row} of the run's summary;
    ``{}`` while there is none or it is being rewritten."""
    try:
        summary = _read_json(osp.join(work_dir, SUMMARY)) or {}
    except ValueError:  # not valid JSON: read while written elsewhere
        return {}
    return {s.get('model'): s for s in summary.get('stages', [])
            if s.get('phase') == 0}


def phase0_ready(files: dict, work_dir: str) -> bool:
    """Whether the phase 0 of the run in ``work_dir`` can be loaded: its
    summary has the phase-0 row of every model of ``files`` ({model:
    stage checkpoint}, ``benchmark_tasks.phase0_files``), written after
    that model's checkpoint, and every checkpoint is there."""
    rows = _phase0_rows(work_dir)
    return all(m in rows and osp.isfile(p) for m, p in files.items())


def phase0_iters(work_dir: str) -> dict:
    """{model: phase-0 iterations} of the run in ``work_dir`` ('chain' for
    the chain's one model): what a run that loaded this phase 0 counts for
    it (its own phase-0 rows say 0)."""
    return {m or 'chain': s.get('iters')
            for m, s in _phase0_rows(work_dir).items()}


def check_configs(args, spec: dict, methods, run_options,
                  also=lambda method: ()) -> None:
    """Fail before any training: every config loads with the run's
    environment and the user's ``--cfg-options``, the method's options and
    the held-out options name fields that exist, and supervised runs log val
    by iteration. ``run_options(args, method, seed)`` gives a run's
    ``(cfg-options, env)``; ``also(method)`` names more options to check
    (the data workers of ``--jobs``)."""
    for method in methods:
        config, method_options, source = spec['methods'][method]
        if not osp.isfile(osp.join(REPO, config)):
            raise FileNotFoundError(f'{method}: config {config} not found')
        options, env = run_options(args, method, 0)
        cfg = _load_config(osp.join(REPO, config), args.cfg_options, env)
        checked = [o for o in options if o in method_options
                   or o in (spec.get('heldout') or ()) or o in also(method)]
        for opt in checked:
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


def collect(spec: dict, seeds, out: str, work_dir_of, command_of,
            previous=None) -> list:
    """Every complete run of the task's methods and seeds: from the work
    dirs, else from ``previous`` (a JSON written by ``benchmark_ssl.py``).

    Args:
        spec (dict): the task (``benchmark_tasks.TASKS[task]``).
        seeds (list[int]): the seeds.
        out (str): the benchmark's ``--out``.
        work_dir_of (callable): ``(method, seed)`` -> the run's work dir.
        command_of (callable): ``(method, seed)`` -> ``(env, shell line)``
            of a first attempt (for a run the tool did not start).
        previous (dict, optional): the JSON, for runs whose work dir is gone.

    Returns:
        list[dict]: the runs as :func:`portable` writes them; a run that
        loaded its phase 0 (``phase0_from``) also has ``phase0_iters``:
        {model: iterations} of the provider's phase 0, which it counts.
    """
    old = {(r['method'], r['seed']): r
           for r in (previous or {}).get('runs', [])}
    runs = []
    for method, (config, _, _) in spec['methods'].items():
        for seed in seeds:
            work_dir = work_dir_of(method, seed)
            result = read_final(work_dir, spec, method)
            if result is None:
                if (method, seed) in old:
                    runs.append(portable(old[method, seed], out))
                continue
            attempts = read_record(work_dir)['attempts']
            first = attempts[0] if attempts else {}  # none: not run by us
            env, line = command_of(method, seed)
            env, line = first.get('env', env), first.get('command', line)
            argv = shlex.split(line)
            source = first.get('phase0_from')
            if source:  # what its loaded phase 0 cost, for equal compute
                result['phase0_iters'] = phase0_iters(
                    osp.join(out, source['work_dir']))
            runs.append(portable(dict(
                method=method, seed=seed,
                work_dir=osp.relpath(work_dir, out), config=config,
                cfg_options=argv[argv.index('--cfg-options') + 1:], env=env,
                command=line, start=first.get('start'),
                machine=first.get('machine'), phase0_from=source,
                # the flat cpu_count of records made before `machine`
                **({'cpu_count': first['cpu_count']}
                   if 'cpu_count' in first else {}),
                commit=first.get('commit'), dirty=first.get('dirty'),
                wall_time_s=sum(a['wall_time_s'] or 0 for a in attempts)
                if attempts else None, attempts=attempts, **result), out))
    return runs


def portable(run: dict, out: str) -> dict:
    """``run`` with no path of this machine: work dirs relative to the
    benchmark's ``--out`` (also in the commands, and the files under it
    that options and loaded phase-0 stages name, such as
    ``train_cfg.phase0_from``'s), the
    interpreter ``python`` and repository paths relative to the
    repository."""
    def rel_work_dir(path):
        if not osp.isabs(path):
            return path
        rel = osp.relpath(path, osp.abspath(out))
        return rel if not rel.startswith('..') else osp.join(
            *path.rstrip(os.sep).split(os.sep)[-3:])

    def option(word):
        key, _, value = word.partition('=')
        rel = osp.relpath(value, osp.abspath(out)) if osp.isabs(value) else ''
        return f'{key}={rel}' if rel and not rel.startswith('..') else word

    def command(line):
        if not line:
            return line
        words = shlex.split(line)
        for i, w in enumerate(words):
            if i and words[i - 1] == '--work-dir':
                words[i] = rel_work_dir(w)
            elif osp.isabs(w) and osp.basename(w).startswith('python'):
                words[i] = 'python'
            elif osp.isabs(w) and w.startswith(REPO + os.sep):
                words[i] = osp.relpath(w, REPO)
            else:
                words[i] = option(w)
        return shlex.join(words)
    run = dict(run)
    if run.get('work_dir'):
        run['work_dir'] = rel_work_dir(run['work_dir'])
    if run.get('cfg_options'):
        run['cfg_options'] = [option(o) for o in run['cfg_options']]
    run['command'] = command(run.get('command'))
    run['attempts'] = [dict(a, command=command(a.get('command')))
                       for a in run.get('attempts') or []]
    if run.get('stages'):  # a loaded phase 0 names its checkpoint
        run['stages'] = [
            dict(s, phase0_from=option('=' + s['phase0_from'])[1:])
            if s.get('phase0_from') else s for s in run['stages']]
    return run
