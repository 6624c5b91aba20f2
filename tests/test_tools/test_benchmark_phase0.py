# Copyright (c) dmt_mm contributors. All rights reserved.
"""benchmark_ssl.py: one phase 0 per seed, and ``--jobs``.

The methods that differ only after phase 0 (seg: dmt, self-training,
mutual-ce; cls: dmt, chain-ce) train it once per seed: dmt trains it, the
others load its phase-0 stage checkpoints with ``train_cfg.phase0_from``.
``--jobs N`` runs N at once, each pinned to cores of its own, and starts a
run that loads phase 0 only once its provider has written it. The runs are
made by the fake ``train.py`` of test_benchmark_fake.py.
"""
import json
import os
import shutil

import pytest

from conftest import REPO
from test_benchmark_fake import bench, fake  # noqa: F401 (a fixture)

SEG = 'configs/dmt/dmt_deeplabv2-lite0_digit-scenes.py'
CLS = 'configs/dmt/dmt_wrn10-2_digits-pool.py'


def _opts(call):
    return call['argv'][call['argv'].index('--cfg-options') + 1:]


def _phase0(out, seed, task='seg-v1'):
    """The options that load seed ``seed``'s phase 0 from its dmt run."""
    if task == 'cls-v1':
        return [f'train_cfg.phase0_from={out}/cls-v1/dmt/seed{seed}/'
                'phase0.pth']
    return [f'train_cfg.phase0_from.{m}={out}/seg-v1/dmt/seed{seed}/'
            f'phase0_{m}.pth' for m in 'AB']


@pytest.mark.slow
def test_provider_trains_phase0_and_the_others_load_it(fake):
    run, calls, tmp, out = fake
    assert run('seg-v1', '--seeds', '0', '1', '--methods', 'self-training',
               'mutual-ce', 'dmt') == 0
    made = calls()
    # per seed dmt first (it trains phase 0), then the others in order
    assert [c['key'] for c in made] == [
        f'seg-v1/{m}/seed{s}' for s in (0, 1)
        for m in ('dmt', 'self-training', 'mutual-ce')]
    for call in made:
        seed = int(call['key'][-1])
        if call['key'].startswith('seg-v1/dmt'):
            assert not any('phase0_from' in o for o in _opts(call))
        else:  # the exact files of this seed's dmt run, there at the start
            assert _opts(call)[2:] == _phase0(out, seed)
            assert call['missing'] == []

    result = json.loads((tmp / 'seg-v1.json').read_text())
    assert result['shared_phase0'] == dict(
        provider='dmt', consumers=['self-training', 'mutual-ce'],
        models=['A', 'B'])
    runs = {(r['method'], r['seed']): r for r in result['runs']}
    for seed in (0, 1):
        assert runs['dmt', seed]['phase0_from'] is None
        for method in ('self-training', 'mutual-ce'):
            r = runs[method, seed]
            assert r['phase0_from'] == dict(method='dmt', seed=seed,
                                            work_dir=f'seg-v1/dmt/seed{seed}')
            # its phase-0 rows say 0 iterations: the provider's count
            assert [s['iters'] for s in r['stages'] if s['phase'] == 0] == [
                0, 0]
            assert r['phase0_iters'] == dict(A=30, B=30)
            # the chart puts it where the provider's phase 0 ended
            assert bench.report.curves(r) == {
                m: [(30, v - 10), (40, v - 5), (50, v)]
                for m, v in r['finals'].items()}
    assert 'phase0_iters' not in runs['dmt', 0]


@pytest.mark.slow
def test_a_provider_missing_from_methods_is_run_first(fake, capsys):
    run, calls, tmp, out = fake
    args = ('--seeds', '0', '--methods', 'mutual-ce')
    assert run('seg-v1', *args, '--dry-run') == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ('# not in --methods, run for the phase 0 the others '
                        'of seed 0 load:')
    assert f'--work-dir {out}/seg-v1/dmt/seed0 ' in lines[1]
    assert lines[2].endswith(' '.join(_phase0(out, 0)))
    assert len(lines) == 3 and calls() == []

    assert run('seg-v1', *args) == 0
    assert [c['key'] for c in calls()] == ['seg-v1/dmt/seed0',
                                           'seg-v1/mutual-ce/seed0']
    # a later consumer reuses the provider complete on disk
    assert run('seg-v1', '--seeds', '0', '--methods', 'self-training') == 0
    made = calls()
    assert [c['key'] for c in made[2:]] == ['seg-v1/self-training/seed0']
    assert _opts(made[2])[-2:] == _phase0(out, 0)
    # a provider whose phase 0 is gone: the consumer fails before training
    os.remove(out / 'seg-v1' / 'dmt' / 'seed0' / 'phase0_B.pth')
    shutil.rmtree(out / 'seg-v1' / 'self-training')
    capsys.readouterr()
    assert run('seg-v1', '--seeds', '0', '--methods', 'self-training',
               '--dry-run') == 0
    assert capsys.readouterr().out.startswith(
        f'# will fail: {out}/seg-v1/self-training/seed0 loads phase 0 from')
    assert run('seg-v1', '--seeds', '0', '--methods', 'self-training') == 1
    assert 'phase0_B.pth, which' in capsys.readouterr().err
    assert len(calls()) == 3


@pytest.mark.slow
def test_no_shared_phase0_trains_every_phase0(fake):
    run, calls, tmp, out = fake
    assert run('cls-v1', '--seeds', '0', '--methods', 'chain-ce', 'dmt',
               '--no-shared-phase0') == 0
    made = calls()
    assert [c['key'] for c in made] == ['cls-v1/chain-ce/seed0',
                                        'cls-v1/dmt/seed0']  # as asked
    assert not any('phase0_from' in o for c in made for o in _opts(c))
    result = json.loads((tmp / 'cls-v1.json').read_text())
    assert result['shared_phase0'] is None
    for r in result['runs']:
        assert r['phase0_from'] is None
        assert r['stages'][0]['iters'] == 30


def _overlap(events, a, b):
    """Whether the runs ``a`` and ``b`` (keys) ran at the same time."""
    start = {c['key']: c['t'] for c in events[None]}
    end = {c['key']: c['t'] for c in events['end']}
    return start[a] < end[b] and start[b] < end[a]


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or not shutil.which(
    'taskset'), reason='needs two cores and taskset')
def test_jobs_run_at_once_on_cores_of_their_own(fake, monkeypatch):
    run, calls, tmp, out = fake
    cores = sorted(os.sched_getaffinity(0))[:2]
    monkeypatch.setattr(bench.schedule, 'usable_cores', lambda: cores)
    # dmt takes 2 s for phase 0 and 2 s for the rest: mutual-ce, which
    # loads its phase 0, waits with a free core while supervised goes first
    monkeypatch.setenv('FAKE_SLEEP', 'seg-v1/dmt/seed0=2')
    assert run('seg-v1', '--seeds', '0', '--methods', 'dmt', 'mutual-ce',
               'supervised', '--jobs', '2') == 0
    events = {e: calls(e) for e in (None, 'phase0', 'end')}
    made = {c['key']: c for c in events[None]}
    assert len(made) == 3 and len(events['end']) == 3
    for call in made.values():
        assert len(call['cores']) == 1 and call['cores'][0] in cores
        assert call['threads'] == ['1', '1']  # OMP_, MKL_NUM_THREADS
        opts = _opts(call)
        assert 'train_dataloader.num_workers=0' in opts
        assert 'val_dataloader.persistent_workers=False' in opts
        assert ('train_cfg.label_num_workers=0' in opts) == (
            'supervised' not in call['key'])
    dmt, ce, sup = (f'seg-v1/{m}/seed0' for m in ('dmt', 'mutual-ce',
                                                'supervised'))
    assert _overlap(events, dmt, sup)
    assert made[dmt]['cores'] != made[sup]['cores']
    # the consumer started only once its provider's phase 0 was written
    assert made[ce]['t'] >= events['phase0'][0]['t']
    assert made[ce]['missing'] == []
    for other in (dmt, sup):
        if _overlap(events, ce, other):
            assert made[ce]['cores'] != made[other]['cores']
    result = json.loads((tmp / 'seg-v1.json').read_text())
    assert result['jobs'] == 2
    for r in result['runs']:
        assert r['machine']['threads'] == 1
        assert r['machine']['cores'] == made[f'seg-v1/{r["method"]}/seed0'][
            'cores']
        assert r['env']['OMP_NUM_THREADS'] == '1'
        assert r['command'].startswith(
            f'DMT_SPLIT=0 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c '
            f'{r["machine"]["cores"][0]} python ')


@pytest.mark.skipif(not shutil.which('taskset'), reason='needs taskset')
def test_jobs_dry_run_prints_env_and_pinning(tmp_path, monkeypatch,
                                             capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(bench.schedule, 'usable_cores', lambda: [0, 1])
    out = str(tmp_path)
    argv = ['cls-v1', '--seeds', '0', '--methods', 'dmt', 'chain-ce', '--out',
            out, '--jobs', '2']
    assert bench.main(argv + ['--dry-run']) == 0
    pre = 'DMT_SPLIT=0 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c'
    workers = ('train_dataloader.num_workers=0 '
               'train_dataloader.persistent_workers=False '
               'val_dataloader.num_workers=0 '
               'val_dataloader.persistent_workers=False '
               'train_cfg.label_num_workers=0')
    assert capsys.readouterr().out.splitlines() == [
        '# --jobs 2: each run on the cores of a free slot; one that loads '
        'phase 0 once its provider wrote it',
        f'{pre} 0 python tools/train.py {CLS} --work-dir '
        f'{out}/cls-v1/dmt/seed0 '
        f'--cfg-options randomness.seed=0 {workers}',
        f'{pre} 1 python tools/train.py {CLS} --work-dir '
        f'{out}/cls-v1/chain-ce/seed0 --cfg-options randomness.seed=0 '
        f'model.head.dynamic=False {_phase0(out, 0, "cls-v1")[0]} {workers}']
    # the worker options name fields of the real configs
    for task in ('seg-v1', 'cls-v1'):
        args = bench.parse_args([task, '--jobs', '2'])
        bench.check_configs(args, args.methods)


def test_more_jobs_than_cores_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(bench.schedule, 'usable_cores', lambda: [0, 1])
    with pytest.raises(SystemExit):
        bench.parse_args(['seg-v1', '--jobs', '3'])
    err = capsys.readouterr().err
    assert '--jobs 3: this process may use 2 core(s) [0, 1]' in err
    with pytest.raises(SystemExit):
        bench.parse_args(['seg-v1', '--jobs', '0'])
    assert bench.parse_args(['seg-v1']).slots == [None]  # not pinned


def test_plan_orders_providers_first():
    spec = bench.TASKS['seg-v1']
    on_disk = {('dmt', 1): 'complete', ('mutual-ce', 2): 'interrupted'}

    def plan(methods, shared=True):
        return [(r['method'], r['seed'], r['provider'], r['added'])
                for r in bench.schedule.plan(
                    spec, methods, [0, 1, 2], shared,
                    lambda m, s: on_disk.get((m, s)))]
    got = plan(['supervised', 'mutual-ce', 'dmt'])
    assert got[:3] == [('supervised', 0, None, False),
                       ('dmt', 0, None, False),
                       ('mutual-ce', 0, 'dmt', False)]
    # seed 1: dmt complete on disk, reused; seed 2: resumed mutual-ce after
    # its provider
    assert got[3:5] == [('supervised', 1, None, False),
                        ('mutual-ce', 1, 'dmt', False)]
    assert got[5:] == [('supervised', 2, None, False),
                       ('dmt', 2, None, False),
                       ('mutual-ce', 2, 'dmt', False)]
    assert plan(['self-training'])[0] == ('dmt', 0, None, True)
    assert plan(['dmt', 'supervised'])[:2] == [('dmt', 0, None, False),
                                               ('supervised', 0, None, False)]
    assert all(p is None for _, _, p, _ in plan(['mutual-ce', 'dmt'],
                                                shared=False))
