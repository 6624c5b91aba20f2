# Copyright (c) dmt_mm contributors. All rights reserved.
"""The fake ``train.py`` of the benchmark_ssl.py tests (no test here).

A small script (``--train-script``) that takes the real CLI and writes
real-format outputs: the config dumped into the work dir as the Runner does
(with ``--cfg-options`` merged), mmengine's
``<timestamp>/vis_data/scalars.json`` and ``dmt_summary.json``, with values
given per ``<task>/<method>/seed<S>`` in ``$FAKE_VALUES``; it appends every
call to ``$FAKE_CALLS`` (with its environment, cores and start time) and,
for ``$FAKE_CRASH``, leaves a ``last_checkpoint`` and exits 3 unless resumed.
A DMT-style run writes its phase-0 stage checkpoints (``phase0_A.pth``,
``phase0.pth``: placeholders) and the summary's phase-0 rows, then its other
phases, each after ``$FAKE_SLEEP`` seconds (``<key>=<s>,...``); given
``train_cfg.phase0_from`` it trains no phase 0 (rows with ``iters`` 0 and
``phase0_from``, as the DMT loop writes them) and fails when a file it
loads is missing. Events (phase 0 written, end) go to ``$FAKE_CALLS`` too.
"""
import copy
import json

import pytest

from conftest import REPO, load_tool

bench = load_tool('tools/analysis_tools/benchmark_ssl.py', 'benchmark_ssl')

FAKE_TRAIN = r'''
import argparse, json, os, os.path as osp, sys, time
p = argparse.ArgumentParser()
p.add_argument('config')
p.add_argument('--work-dir')
p.add_argument('--resume', nargs='?', const='auto')
p.add_argument('--cfg-options', nargs='+', default=[])
a = p.parse_args()
wd = a.work_dir
key = '/'.join(wd.rstrip('/').split('/')[-3:])
loaded = {o.split('=')[0][len('train_cfg.phase0_from') + 1:] or 'chain':
          o.split('=', 1)[1] for o in a.cfg_options
          if o.startswith('train_cfg.phase0_from')}
def event(**kw):
    with open(os.environ['FAKE_CALLS'], 'a') as f:
        f.write(json.dumps(dict(key=key, t=time.time(), **kw)) + '\n')
event(argv=sys.argv[1:], split=os.environ.get('DMT_SPLIT'),
      cores=sorted(os.sched_getaffinity(0)),
      threads=[os.environ.get(k) for k in ('OMP_NUM_THREADS',
                                           'MKL_NUM_THREADS')],
      missing=[p for p in loaded.values() if not osp.isfile(p)])
value = json.load(open(os.environ['FAKE_VALUES']))[key]
sleep = dict(kv.split('=') for kv in os.environ.get('FAKE_SLEEP', '').split(
    ',') if kv).get(key)
os.makedirs(wd, exist_ok=True)
stamp = f'20240101_{len(os.listdir(wd)):06d}'
os.makedirs(osp.join(wd, stamp, 'vis_data'))
if os.environ.get('FAKE_CRASH') == key and not a.resume:
    with open(osp.join(wd, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(wd, 'iter_10.pth'))
    sys.exit(3)
if isinstance(value, dict):  # a DMT-style run: {model: last-phase val}
    if any(not osp.isfile(p) for p in loaded.values()):
        sys.exit(4)  # the phase 0 to load is not there
    metric = open(a.config).read().split("fake_metric = '")[1].split("'")[0]
    stages = [dict(model=None if m == 'chain' else m, phase=k,
                   val=v - 5 * (2 - k), iters=30 if k == 0 else 10)
              for k in range(3) for m, v in value.items()]
    time.sleep(float(sleep or 0))  # training phase 0
    for s in stages[:len(value)]:  # phase 0, of every model
        if loaded:
            s.update(iters=0, phase0_from=loaded[s['model'] or 'chain'])
        name = 'phase0' + (f'_{s["model"]}' if s['model'] else '') + '.pth'
        open(osp.join(wd, name), 'w').close()
    for part in (stages[:len(value)], stages):
        with open(osp.join(wd, 'dmt_summary.json'), 'w') as f:
            json.dump(dict(metric=metric, stages=part, labelling={}), f)
        if part is not stages:
            event(event='phase0')
            time.sleep(float(sleep or 0))
else:  # a supervised run: val every 10 iterations, `value` at the end
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(a.config)
    opt = argparse.ArgumentParser()
    opt.add_argument('--o', nargs='+', action=DictAction)
    cfg.merge_from_dict(opt.parse_args(['--o', *a.cfg_options]).o)
    cfg.dump(osp.join(wd, osp.basename(a.config)))
    n = cfg.train_cfg.max_iters
    with open(osp.join(wd, stamp, 'vis_data', 'scalars.json'), 'w') as f:
        for step in range(10, n + 1, 10):
            f.write(json.dumps(dict(loss=1.0, iter=step, step=step)) + '\n')
            val = value if step == n else value - 3
            f.write(json.dumps({cfg.fake_metric: val, 'step': step}) + '\n')
event(event='end')
'''

DMT_CFG = """fake_metric = '{metric}'
model = dict(type='DMTSegmentor', segmentor=dict(decode_head=dict(
    loss_decode=dict(type='DMTLoss'))), head=dict(type='DMTClsHead'))
train_cfg = dict(type='DMTTrainLoop', teacher='partner')
train_dataloader = dict(num_workers=2, persistent_workers=True)
val_dataloader = dict(num_workers=2)
"""
SUP_CFG = """fake_metric = '{metric}'
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20, val_interval=10)
default_hooks = dict(logger=dict(type='LoggerHook',
                                 log_metric_by_epoch=False))
train_dataloader = dict(num_workers=2, persistent_workers=True)
val_dataloader = dict(num_workers=2)
"""
#: final val per run: DMT-style {model: val}, supervised a float.
#: seg finals (mean of A and B): supervised 40 42 44, self-training 44 45 49,
#: mutual-ce 47 47 50, dmt 50 51 52.
SEG_VALUES = {
    'supervised/seed0': 40.0, 'supervised/seed1': 42.0,
    'supervised/seed2': 44.0,
    'self-training/seed0': dict(A=43.0, B=45.0),
    'self-training/seed1': dict(A=45.0, B=45.0),
    'self-training/seed2': dict(A=48.0, B=50.0),
    'mutual-ce/seed0': dict(A=46.0, B=48.0),
    'mutual-ce/seed1': dict(A=47.0, B=47.0),
    'mutual-ce/seed2': dict(A=50.0, B=50.0),
    'dmt/seed0': dict(A=49.0, B=51.0), 'dmt/seed1': dict(A=51.0, B=51.0),
    'dmt/seed2': dict(A=52.0, B=52.0),
    'oracle/seed0': 60.0, 'oracle/seed1': 62.0, 'oracle/seed2': 64.0,
}
#: cls: supervised 80 81 82, chain-ce 90 92 94, dmt 85 90 95.
CLS_VALUES = {
    'supervised/seed0': 80.0, 'supervised/seed1': 81.0,
    'supervised/seed2': 82.0,
    'chain-ce/seed0': dict(chain=90.0), 'chain-ce/seed1': dict(chain=92.0),
    'chain-ce/seed2': dict(chain=94.0),
    'dmt/seed0': dict(chain=85.0), 'dmt/seed1': dict(chain=90.0),
    'dmt/seed2': dict(chain=95.0),
    'oracle/seed0': 98.0, 'oracle/seed1': 98.0, 'oracle/seed2': 98.0,
}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Tiny configs in place of the demo ones (method options unchanged),
    the fake train script and its environment."""
    tasks = copy.deepcopy(bench.TASKS)
    for task, spec in tasks.items():
        for method, (config, options, source) in spec['methods'].items():
            text = SUP_CFG if source == 'scalars' else DMT_CFG
            path = tmp_path / 'configs' / f'{task}_{source}.py'
            path.parent.mkdir(exist_ok=True)
            path.write_text(text.format(metric=spec['metric']))
            spec['methods'][method] = (str(path), options, source)
    monkeypatch.setattr(bench, 'TASKS', tasks)
    script = tmp_path / 'fake_train.py'
    script.write_text(FAKE_TRAIN)
    values = tmp_path / 'values.json'
    values.write_text(json.dumps({
        f'{task}/{key}': v
        for task, table in (('seg-v1', SEG_VALUES), ('cls-v1', CLS_VALUES))
        for key, v in table.items()}))
    monkeypatch.setenv('FAKE_VALUES', str(values))
    monkeypatch.setenv('FAKE_CALLS', str(tmp_path / 'calls.jsonl'))
    monkeypatch.setenv('PYTHONPATH', REPO.as_posix())
    out = tmp_path / 'out'

    def run(task, *extra):
        return bench.main([
            task, '--out', str(out), '--train-script', str(script),
            '--json', str(tmp_path / f'{task}.json'),
            '--png', str(tmp_path / f'{task}.png'), *extra
        ])

    def calls(event=None):
        """The calls of the fake (or its events named ``event``)."""
        path = tmp_path / 'calls.jsonl'
        if not path.exists():
            return []
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        return [c for c in lines if c.get('event') == event]

    return run, calls, tmp_path, out
