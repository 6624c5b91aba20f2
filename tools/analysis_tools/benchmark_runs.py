# Copyright (c) dmt_mm contributors. All rights reserved.
"""What ``benchmark_ssl.py`` reads of a run: its config (checked before any
training), its final value and a record of it without this machine's paths.
"""
import argparse
import glob
import json
import os
import os.path as osp
import shlex
import statistics

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


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
    logged at ``max_iters``).

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
    if source == 'dmt':
        path = osp.join(work_dir, 'dmt_summary.json')
        if not osp.isfile(path):
            return None
        with open(path) as f:
            summary = json.load(f)
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


def check_configs(args, spec: dict, methods, run_options) -> None:
    """Fail before any training: every config loads with the run's
    environment and the user's ``--cfg-options``, the method's options and
    the held-out options name fields that exist, and supervised runs log val
    by iteration. ``run_options(args, method, seed)`` gives a run's
    ``(cfg-options, env)``."""
    for method in methods:
        config, method_options, source = spec['methods'][method]
        if not osp.isfile(osp.join(REPO, config)):
            raise FileNotFoundError(f'{method}: config {config} not found')
        options, env = run_options(args, method, 0)
        cfg = _load_config(osp.join(REPO, config), args.cfg_options, env)
        checked = [o for o in options if o in method_options
                   or o in (spec.get('heldout') or ())]
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


def portable(run: dict, out: str) -> dict:
    """``run`` with no path of this machine: work dirs relative to the
    benchmark's ``--out`` (also in the commands), the interpreter
    ``python`` and repository paths relative to the repository."""
    def rel_work_dir(path):
        if not osp.isabs(path):
            return path
        rel = osp.relpath(path, osp.abspath(out))
        return rel if not rel.startswith('..') else osp.join(
            *path.rstrip(os.sep).split(os.sep)[-3:])

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
        return shlex.join(words)
    run = dict(run)
    if run.get('work_dir'):
        run['work_dir'] = rel_work_dir(run['work_dir'])
    run['command'] = command(run.get('command'))
    run['attempts'] = [dict(a, command=command(a.get('command')))
                       for a in run.get('attempts') or []]
    return run
