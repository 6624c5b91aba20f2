# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_ssl.py: commands, skip/resume, statistics,
JSON and chart.

The runs are made by a small fake ``train.py`` (``--train-script``) that
takes the real CLI and writes real-format outputs: the config dumped into
the work dir as the Runner does (with ``--cfg-options`` merged), mmengine's
``<timestamp>/vis_data/scalars.json`` and ``dmt_summary.json``, with values
given per ``<task>/<method>/seed<S>`` in ``$FAKE_VALUES``; it appends every
call to ``$FAKE_CALLS`` and, for ``$FAKE_CRASH``, leaves a ``last_checkpoint``
and exits 3 unless resumed.
"""
import copy
import json
import math
import os
import shutil
import sys

import pytest

from conftest import REPO, load_tool

bench = load_tool('tools/analysis_tools/benchmark_ssl.py', 'benchmark_ssl')

FAKE_TRAIN = r'''
import argparse, json, os, os.path as osp, sys
p = argparse.ArgumentParser()
p.add_argument('config')
p.add_argument('--work-dir')
p.add_argument('--resume', nargs='?', const='auto')
p.add_argument('--cfg-options', nargs='+', default=[])
a = p.parse_args()
wd = a.work_dir
key = '/'.join(wd.rstrip('/').split('/')[-3:])
with open(os.environ['FAKE_CALLS'], 'a') as f:
    f.write(json.dumps(dict(key=key, argv=sys.argv[1:],
                            split=os.environ.get('DMT_SPLIT'))) + '\n')
value = json.load(open(os.environ['FAKE_VALUES']))[key]
os.makedirs(wd, exist_ok=True)
stamp = f'20240101_{len(os.listdir(wd)):06d}'
os.makedirs(osp.join(wd, stamp, 'vis_data'))
if os.environ.get('FAKE_CRASH') == key and not a.resume:
    with open(osp.join(wd, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(wd, 'iter_10.pth'))
    sys.exit(3)
if isinstance(value, dict):  # a DMT-style run: {model: last-phase val}
    metric = open(a.config).read().split("fake_metric = '")[1].split("'")[0]
    stages = [dict(model=None if m == 'chain' else m, phase=k,
                   val=v - 5 * (2 - k), iters=30 if k == 0 else 10)
              for k in range(3) for m, v in value.items()]
    with open(osp.join(wd, 'dmt_summary.json'), 'w') as f:
        json.dump(dict(metric=metric, stages=stages, labelling={}), f)
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
'''

DMT_CFG = """fake_metric = '{metric}'
model = dict(type='DMTSegmentor', segmentor=dict(decode_head=dict(
    loss_decode=dict(type='DMTLoss'))), head=dict(type='DMTClsHead'))
train_cfg = dict(type='DMTTrainLoop', teacher='partner')
"""
SUP_CFG = """fake_metric = '{metric}'
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20, val_interval=10)
default_hooks = dict(logger=dict(type='LoggerHook',
                                 log_metric_by_epoch=False))
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
        for task, table in (('seg', SEG_VALUES), ('cls', CLS_VALUES))
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

    def calls():
        path = tmp_path / 'calls.jsonl'
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    return run, calls, tmp_path, out


def test_dry_run_prints_exact_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    out = str(tmp_path)
    seg = 'configs/dmt/dmt_deeplabv2-lite0_digit-scenes.py'
    cls = 'configs/dmt/dmt_wrn10-2_digits-pool.py'
    assert bench.main(['seg', '--seeds', '0', '5', '--out', out,
                       '--dry-run']) == 0
    expected = []
    for s in (0, 5):
        pre = f'DMT_SPLIT={s} python tools/train.py'
        tail = f'seed{s} --cfg-options randomness.seed={s}'
        expected += [
            f'{pre} configs/dmt/deeplabv2-lite0_digit-scenes_labeled-only.py'
            f' --work-dir {out}/seg/supervised/{tail}',
            f'{pre} {seg} --work-dir {out}/seg/self-training/{tail} '
            'train_cfg.teacher=self',
            f'{pre} {seg} --work-dir {out}/seg/mutual-ce/{tail} '
            'model.segmentor.decode_head.loss_decode.dynamic=False',
            f'{pre} {seg} --work-dir {out}/seg/dmt/{tail}',
            f'{pre} configs/dmt/deeplabv2-lite0_digit-scenes_oracle.py '
            f'--work-dir {out}/seg/oracle/{tail}',
        ]
    assert capsys.readouterr().out.splitlines() == expected

    # cls, with one complete and one interrupted run
    os.makedirs(f'{out}/cls/dmt/seed0')
    with open(f'{out}/cls/dmt/seed0/dmt_summary.json', 'w') as f:
        json.dump(dict(metric='accuracy/top1',
                       stages=[dict(model=None, phase=0, val=70.0)]), f)
    os.makedirs(f'{out}/cls/chain-ce/seed0')
    open(f'{out}/cls/chain-ce/seed0/last_checkpoint', 'w').close()
    pre = 'DMT_SPLIT=0 python tools/train.py'
    tail = '--cfg-options randomness.seed=0'
    sup = 'configs/dmt/wrn10-2_digits-pool_labeled-only.py'
    for flag, resume in (([], ''), (['--resume'], '--resume ')):
        assert bench.main(['cls', '--seeds', '0', '--methods', 'supervised',
                           'chain-ce', 'dmt', '--out', out, '--dry-run',
                           *flag]) == 0
        assert capsys.readouterr().out.splitlines() == [
            f'# complete, skipped: {out}/cls/dmt/seed0',
            f'{pre} {sup} --work-dir {out}/cls/supervised/seed0 {tail}',
        ] + (['# interrupted, needs --resume:'] if not flag else []) + [
            f'{pre} {cls} --work-dir {out}/cls/chain-ce/seed0 {resume}{tail} '
            'model.head.dynamic=False',
        ]


def test_selection_runs_validate_on_the_heldout_part(tmp_path, monkeypatch,
                                                     capsys):
    monkeypatch.chdir(REPO)
    out = str(tmp_path)
    assert bench.main(['cls', '--seeds', '1', '--methods', 'dmt', '--out',
                       out, '--eval-on', 'heldout', '--env', 'DMT_BUDGET=10',
                       '--tag', 'n10', '--dry-run']) == 0
    assert capsys.readouterr().out.splitlines() == [
        'DMT_SPLIT=1 DMT_BUDGET=10 python tools/train.py '
        'configs/dmt/dmt_wrn10-2_digits-pool.py --work-dir '
        f'{out}/cls-n10-heldout/dmt/seed1 --cfg-options randomness.seed=1 '
        'val_dataloader.dataset.ann_file=meta/heldout.txt']
    args = bench.parse_args(['seg', '--eval-on', 'heldout', '--tag', 'g3'])
    assert args.json == 'docs/benchmarks/selection/seg-g3.json'
    assert args.png == 'docs/benchmarks/selection/seg-g3.png'
    with pytest.raises(SystemExit):  # the from-scratch data has none
        bench.parse_args(['seg-scratch', '--eval-on', 'heldout'])
    with pytest.raises(SystemExit):
        bench.parse_args(['seg', '--env', 'DMT_BUDGET'])


def test_portable_records_hold_no_path_of_the_machine():
    run = dict(work_dir='/data/bench/seg/dmt/seed0', attempts=[], command=(
        f'DMT_SPLIT=0 /opt/venv/bin/python {REPO}/tools/train.py '
        f'{REPO}/configs/x.py --work-dir /data/bench/seg/dmt/seed0 '
        '--cfg-options randomness.seed=0'))
    got = bench.portable(run, '/data/bench')
    assert got['work_dir'] == 'seg/dmt/seed0'
    assert got['command'] == (
        'DMT_SPLIT=0 python tools/train.py configs/x.py --work-dir '
        'seg/dmt/seed0 --cfg-options randomness.seed=0')


def test_bad_method_is_refused():
    with pytest.raises(SystemExit):
        bench.parse_args(['cls', '--methods', 'mutual-ce'])


@pytest.mark.slow
def test_seg_runs_statistics_json_png_and_skip(fake, capsys):
    run, calls, tmp, out = fake
    seeds = ('--seeds', '0', '1', '2')
    assert run('seg', *seeds, '--cfg-options', 'train_cfg.max_iters=30') == 0
    made = calls()
    assert len(made) == 15
    for call in made:  # seeds outer, one run at a time
        seed = call['key'][-1]
        assert call['split'] == seed
        opts = call['argv'][call['argv'].index('--cfg-options') + 1:]
        assert opts[0] == f'randomness.seed={seed}'
        assert opts[-1] == 'train_cfg.max_iters=30' and '--resume' not in opts
    assert [c['key'] for c in made[:5]] == [
        'seg/supervised/seed0', 'seg/self-training/seed0',
        'seg/mutual-ce/seed0', 'seg/dmt/seed0', 'seg/oracle/seed0']
    table = capsys.readouterr().out
    assert 'ddof=1' in table
    assert ('dmt beats supervised: +10.00 +9.00 +8.00 (seeds 0 1 2); mean '
            '+9.00 ± 1.00, 3/3 positive: holds') in table
    assert 'supervised / oracle = 42.00 / 62.00 = 0.677' in table

    result = json.loads((tmp / 'seg.json').read_text())
    assert result['metric'] == 'mIoU' and result['seeds'] == [0, 1, 2]
    summary = result['summary']
    # hand-computed: sample std (ddof=1)
    expected = {'supervised': (42.0, 2.0, [40, 42, 44]),
                'self-training': (46.0, math.sqrt(7), [44, 45, 49]),
                'mutual-ce': (48.0, math.sqrt(3), [47, 47, 50]),
                'dmt': (51.0, 1.0, [50, 51, 52]),
                'oracle': (62.0, 2.0, [60, 62, 64])}
    assert list(summary) == list(expected)
    for method, (mean, std, values) in expected.items():
        assert summary[method]['mean'] == pytest.approx(mean)
        assert summary[method]['std'] == pytest.approx(std)
        assert list(summary[method]['values'].values()) == values
    comp = result['comparison']
    assert comp['dmt beats supervised']['diffs'] == [10.0, 9.0, 8.0]
    assert comp['dmt beats supervised']['mean'] == pytest.approx(9.0)
    assert comp['dmt beats supervised']['std'] == pytest.approx(1.0)
    assert comp['dmt beats supervised']['positive'] == 3
    assert comp['dmt beats supervised']['holds'] is True
    # self-training - supervised = 4 3 5: all positive
    assert comp['self-training beats supervised']['holds'] is True
    # dmt - mutual-ce = 3 4 2, mutual-ce - self-training = 3 2 1
    assert comp['dmt beats mutual-ce']['diffs'] == [3.0, 4.0, 2.0]
    assert comp['ordering']['holds'] is True
    assert comp['regime']['ratio'] == pytest.approx(42 / 62)
    assert not any('oracle' in k for k in comp if k != 'regime')

    runs = {(r['method'], r['seed']): r for r in result['runs']}
    assert len(runs) == 15
    dmt0 = runs['dmt', 0]
    assert dmt0['finals'] == dict(A=49.0, B=51.0) and dmt0['final'] == 50.0
    assert [s['val'] for s in dmt0['stages']] == [39, 41, 44, 46, 49, 51]
    assert dmt0['env'] == {'DMT_SPLIT': '0'}
    assert dmt0['command'].endswith('randomness.seed=0 train_cfg.max_iters=30')
    assert dmt0['machine'] == os.uname().nodename
    assert dmt0['cpu_count'] == os.cpu_count() and dmt0['wall_time_s'] > 0
    assert dmt0['start'] and dmt0['attempts'][0]['rc'] == 0
    assert dmt0['commit'] and len(dmt0['commit']) == 40
    assert isinstance(dmt0['dirty'], bool)
    assert dmt0['work_dir'] == 'seg/dmt/seed0'
    assert dmt0['command'].startswith('DMT_SPLIT=0 python ')
    sup1 = runs['supervised', 1]
    assert sup1['final'] == 42.0  # the val at iteration 30, not at 20
    assert sup1['vals'] == [dict(step=10, val=39.0), dict(step=20, val=39.0),
                            dict(step=30, val=42.0)]
    assert dmt0['stages'][2]['iters'] == 10
    for png in ('seg.png', 'seg_curves.png'):
        assert (tmp / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    # complete runs are skipped; the report is rebuilt from the work dirs
    os.remove(tmp / 'seg.png')
    assert run('seg', *seeds, '--cfg-options', 'train_cfg.max_iters=30') == 0
    assert len(calls()) == 15
    again = json.loads((tmp / 'seg.json').read_text())
    assert again['summary'] == summary and (tmp / 'seg.png').is_file()


@pytest.mark.slow
def test_cls_ordering_failures_and_report_only_from_json(fake, capsys):
    run, calls, tmp, out = fake
    seeds = ('--seeds', '0', '1', '2')
    assert run('cls', *seeds) == 0
    assert len(calls()) == 12
    result = json.loads((tmp / 'cls.json').read_text())
    assert result['metric'] == 'accuracy/top1'
    s = result['summary']
    assert (s['chain-ce']['mean'], s['chain-ce']['std']) == (92.0, 2.0)
    assert (s['dmt']['mean'], s['dmt']['std']) == (90.0, 5.0)
    comp = result['comparison']
    # dmt - supervised = 5 9 13: positive on every seed
    assert comp['dmt beats supervised']['holds'] is True
    # dmt - chain-ce = -5 -2 +1: mean -2, std 3
    assert comp['dmt beats chain-ce']['diffs'] == [-5.0, -2.0, 1.0]
    assert comp['dmt beats chain-ce']['mean'] == pytest.approx(-2.0)
    assert comp['dmt beats chain-ce']['std'] == pytest.approx(3.0)
    assert comp['dmt beats chain-ce']['positive'] == 1
    assert comp['dmt beats chain-ce']['holds'] is False
    assert comp['ordering']['holds'] is False
    run_dmt = [r for r in result['runs'] if r['method'] == 'dmt'][0]
    assert run_dmt['finals'] == {'chain': 85.0}
    assert 'does not hold' in capsys.readouterr().out

    # work dirs gone (a new machine): --report-only rebuilds from the JSON
    shutil.rmtree(out)
    os.remove(tmp / 'cls.png')
    assert run('cls', *seeds, '--report-only') == 0
    assert len(calls()) == 12
    rebuilt = json.loads((tmp / 'cls.json').read_text())
    assert rebuilt['runs'] == result['runs']
    assert rebuilt['summary'] == result['summary']
    assert (tmp / 'cls.png').is_file()
    assert '92.00 ± 2.00' in capsys.readouterr().out
    # nothing to report: no JSON is written over an empty result
    assert run('cls', *seeds, '--report-only', '--json',
               str(tmp / 'none.json')) == 1
    assert not (tmp / 'none.json').exists()


@pytest.mark.slow
def test_interrupted_run_needs_resume_and_continues(fake, monkeypatch,
                                                    capsys):
    run, calls, tmp, out = fake
    monkeypatch.setenv('FAKE_CRASH', 'seg/dmt/seed0')
    args = ('--seeds', '0', '--methods', 'supervised', 'dmt')
    assert run('seg', *args) == 1  # the crash is reported
    assert 'exited with 3' in capsys.readouterr().err
    work = out / 'seg' / 'dmt' / 'seed0'
    record = json.loads((work / 'benchmark_run.json').read_text())
    assert [a['rc'] for a in record['attempts']] == [3]
    assert len(calls()) == 2

    # without --resume: refused before any training
    assert run('seg', *args) == 1
    assert 'pass --resume' in capsys.readouterr().err
    assert len(calls()) == 2

    assert run('seg', *args, '--resume') == 0
    made = calls()
    assert len(made) == 3 and made[2]['key'] == 'seg/dmt/seed0'
    assert '--resume' in made[2]['argv']
    result = json.loads((tmp / 'seg.json').read_text())
    dmt0 = [r for r in result['runs'] if r['method'] == 'dmt'][0]
    assert [(a['rc'], a['resumed']) for a in dmt0['attempts']] == [
        (3, False), (0, True)]
    assert dmt0['wall_time_s'] == pytest.approx(
        sum(a['wall_time_s'] for a in dmt0['attempts']))
    # one seed: no std, and one paired difference decides no claim
    assert result['summary']['dmt']['std'] is None
    assert result['comparison']['dmt beats supervised']['holds'] is None


@pytest.mark.parametrize('broken, message', [
    ('dmt', 'names no field'),
    ('scalars', 'log_metric_by_epoch'),
])
def test_config_errors_come_before_any_run(fake, broken, message):
    run, calls, tmp, out = fake
    config = bench.TASKS['seg']['methods']['dmt' if broken == 'dmt' else
                                           'supervised'][0]
    text = open(config).read()
    if broken == 'dmt':
        text = text.replace('decode_head', 'auxiliary_head')
    else:
        text = text.replace('log_metric_by_epoch=False', 'interval=50')
    with open(config, 'w') as f:
        f.write(text)
    with pytest.raises((KeyError, ValueError), match=message):
        run('seg', '--seeds', '0')
    assert calls() == []


def test_comparisons_pair_the_seeds_both_methods_ran():
    runs = [dict(method=m, seed=s, final=v) for m, s, v in [
        ('supervised', 0, 38.0), ('supervised', 1, 46.0),
        ('supervised', 2, 44.0), ('self-training', 0, 40.0),
        ('dmt', 0, 41.0), ('dmt', 1, 45.0), ('dmt', 2, 44.0)]]
    summary, comp = bench.summarize('seg', runs)
    # self-training ran seed 0 only: compared with DMT's seed 0 (41 - 40),
    # not with DMT's mean over three seeds; one seed decides nothing
    assert comp['dmt beats self-training']['seeds'] == [0]
    assert comp['dmt beats self-training']['diffs'] == [1.0]
    assert comp['dmt beats self-training']['holds'] is None
    # dmt - supervised = 3 -1 0: mean 2/3, std sqrt(13/3)
    c = comp['dmt beats supervised']
    assert c['seeds'] == [0, 1, 2] and c['positive'] == 1
    assert c['mean'] == pytest.approx(2 / 3)
    assert c['std'] == pytest.approx(math.sqrt(13 / 3))
    assert c['holds'] is False
    assert comp['ordering']['holds'] is None  # a link cannot be decided
    assert summary['dmt']['mean'] == pytest.approx(130 / 3)


def test_a_claim_holds_by_its_mean_when_a_seed_is_negative():
    # x - y = 5 (nine seeds) and -0.5: mean 4.45 > 2 x std 3.48
    runs = [dict(method=m, seed=s, final=v) for s in range(10)
            for m, v in (('supervised', 10.0),
                         ('dmt', 15.0 if s < 9 else 9.5))]
    c = bench.summarize('seg', runs)[1]['dmt beats supervised']
    assert c['positive'] == 9 and c['mean'] == pytest.approx(4.45)
    assert c['std'] == pytest.approx(math.sqrt(3.025))
    assert c['holds'] is True
    # five seeds with one negative: mean 3.8 < 2 x std 5.37, not a claim
    runs = [r for r in runs if r['seed'] >= 5]
    c = bench.summarize('seg', runs)[1]['dmt beats supervised']
    assert c['positive'] == 4 and c['holds'] is False


def test_curves_put_each_phase_at_the_iterations_its_model_trained():
    curves = bench.report.curves
    sup = dict(method='supervised', seed=0, final=3.0, vals=[
        dict(step=500, val=1.0), dict(step=1000, val=3.0)])
    assert curves(sup) == {'': [(500, 1.0), (1000, 3.0)]}
    # two models, stages in training order A0 B0 A1 B1 A2 B2
    mutual = dict(method='dmt', seed=0, final=0.0, stages=[
        dict(model=m, phase=k, val=10 * k + (m == 'B'),
             iters=3000 if k == 0 else 400)
        for k in range(3) for m in 'AB'])
    assert curves(mutual) == {'A': [(3000, 0), (3400, 10), (3800, 20)],
                              'B': [(3000, 1), (3400, 11), (3800, 21)]}
    # the chain: one count, each student continues its teacher's
    chain = dict(method='dmt', seed=1, final=0.0, stages=[
        dict(model=None, phase=k, val=90.0 + k, iters=800)
        for k in range(3)])
    assert curves(chain) == {'chain': [(800, 90.0), (1600, 91.0),
                                       (2400, 92.0)]}
    # an epoch-based phase has no iteration count: no curve, no guess
    chain['stages'][1]['iters'] = None
    assert curves(chain) == {}


def test_phase_means_average_runs_and_models_per_phase():
    def run(seed, phase0, phase1):
        """phase0: val of A and B; phase1: (val, kept_ratio, kept_miou,
        pseudo_miou, dmt_weight) of A and B."""
        stages = [dict(model=m, phase=0, val=v, iters=10)
                  for m, v in zip('AB', phase0)]
        stages += [dict(model=m, phase=1, val=v, iters=10, kept_ratio=k,
                        kept_miou=q, pseudo_miou=a, dmt_weight=w,
                        dmt_weight_correct=w + 0.1, dmt_weight_wrong=w / 2,
                        dmt_weight_auc=0.5 + w / 4)
                   for m, (v, k, q, a, w) in zip('AB', phase1)]
        return dict(method='dmt', seed=seed, final=0.0, stages=stages)
    runs = [
        run(0, (40.0, 42.0), [(44.0, 0.2, 80.0, 40.0, 0.8),
                              (46.0, 0.3, 70.0, 42.0, 0.6)]),
        run(1, (43.0, 45.0), [(48.0, 0.1, 90.0, 44.0, 0.7),
                              (50.0, 0.2, 60.0, 46.0, 0.5)]),
        dict(method='supervised', seed=0, final=1.0, vals=[])]
    table = bench.report.phase_means(['supervised', 'dmt'], runs)
    assert list(table) == ['dmt']  # no stages, no phases
    assert table['dmt'][0] == {'runs': 2, 'val': 42.5, 'kept %': None,
                               'kept q': None, 'all q': None,
                               'weight': None, 'w right': None,
                               'w wrong': None, 'w AUC': None}
    one = table['dmt'][1]
    assert one['val'] == pytest.approx(47.0)
    assert one['kept %'] == pytest.approx(20.0)  # a fraction, shown in %
    assert one['kept q'] == pytest.approx(75.0)
    assert one['all q'] == pytest.approx(43.0)
    assert one['weight'] == pytest.approx(0.65)
    assert one['w right'] == pytest.approx(0.75)
    assert one['w wrong'] == pytest.approx(0.325)
    assert one['w AUC'] == pytest.approx(0.6625)
    text = bench.report.format_phases(['supervised', 'dmt'], runs)
    assert ('    1    47.00    20.00    75.00    43.00    0.650    0.750'
            '    0.325    0.662') in text
