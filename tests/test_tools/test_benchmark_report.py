# Copyright (c) dmt_mm contributors. All rights reserved.
"""The report of benchmark_ssl.py (benchmark_report.py): the per-seed
statistics, the claims, the charts' curves and the per-phase table; the
machine of every run, and claims across machines.

Each run records what decides its numerics and speed (``machine``). A
paired difference whose two runs ran on different machines (CPU model, CPU
capability, torch or threads differ; PROTOCOL.md amendment 9: one machine's
numerics moved a seed's dmt - mutual-ce by 6.5 mIoU) is marked, and does
not count toward a claim unless ``--count-cross-machine``. JSONs written
before ``machine`` became a dict (docs/benchmarks/seg-v1.json, cls-v1.json) are
reported as before.
"""
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from test_benchmark_fake import bench, fake  # noqa: F401 (a fixture)


def _machine(cpu='CPU A', threads=1):
    return dict(hostname='h', cpu_model=cpu, cpu_count=2, cores=[0, 1],
                torch='2.3.1', cpu_capability='AVX2', threads=threads,
                gpu=None, cuda=None)


def _runs(finals, machines):
    """Runs of supervised and dmt: finals[m][seed], machines[m][seed]
    (None: an older record, a host name only)."""
    return [dict(method=m, seed=s, final=v,
                 attempts=[dict(machine=machines[m][s] or 'vm')])
            for m in finals for s, v in enumerate(finals[m])]


@pytest.mark.slow
def test_every_run_records_its_machine(fake):
    run, calls, tmp, out = fake
    assert run('cls-v1', '--seeds', '0', '--methods', 'supervised', 'dmt') == 0
    result = json.loads((tmp / 'cls-v1.json').read_text())
    assert result['count_cross_machine'] is False
    child_threads = int(subprocess.run(
        [sys.executable, '-c', 'import torch; print(torch.get_num_threads())'],
        capture_output=True, text=True, check=True).stdout)
    for r in result['runs']:
        m = r['machine']
        assert set(m) == {'hostname', 'cpu_model', 'cpu_count', 'cores',
                          'torch', 'cpu_capability', 'threads', 'gpu',
                          'cuda'}
        assert m['hostname'] == os.uname().nodename
        assert m['cpu_count'] == os.cpu_count()
        assert m['cores'] == sorted(os.sched_getaffinity(0))
        assert m['torch'] == torch.__version__
        assert m['cpu_capability'] == torch.backends.cpu.get_cpu_capability()
        # not set by the tool: what torch takes in a training subprocess
        # (this process's count may have been changed by other tests)
        assert m['threads'] == child_threads
        assert m['cpu_model']
        if not torch.cuda.is_available():
            assert m['gpu'] is None and m['cuda'] is None
        assert r['attempts'][0]['machine'] == m
        assert bench.schedule.fingerprint(r) == (
            f'{m["cpu_model"]}, {m["cpu_capability"]}, torch {m["torch"]}, '
            f'{m["threads"]} threads')


def test_cross_machine_seeds_do_not_count_toward_a_claim():
    # dmt - supervised = +1 +1 -5; seed 2's runs on two machines
    finals = dict(supervised=[10.0, 10.0, 10.0], dmt=[11.0, 11.0, 5.0])
    same = dict(supervised=[_machine()] * 3, dmt=[_machine()] * 3)
    other = dict(same, dmt=[_machine(), _machine(), _machine('CPU B')])
    c = bench.summarize('seg-v1', _runs(finals, same))[1][
        'dmt beats supervised']
    assert c['holds'] is False and 'cross_machine' not in c
    c = bench.summarize('seg-v1', _runs(finals, other))[1][
        'dmt beats supervised']
    assert c['diffs'] == [1.0, 1.0, -5.0] and c['mean'] == pytest.approx(-1)
    assert c['excluded']['seeds'] == [2]
    assert 'different machines' in c['excluded']['reason']
    assert list(c['cross_machine']) == ['2']
    assert c['cross_machine']['2']['dmt'].startswith('CPU B, AVX2, torch')
    assert c['holds'] is True  # judged on seeds 0 and 1: +1 +1
    counted = bench.summarize('seg-v1', _runs(finals, other), True)[1][
        'dmt beats supervised']
    assert counted['holds'] is False and 'excluded' not in counted
    assert list(counted['cross_machine']) == ['2']
    # another thread count is another machine; an unknown one is not
    threads = dict(same, dmt=[_machine(), _machine(), _machine(threads=2)])
    c = bench.summarize('seg-v1', _runs(finals, threads))[1][
        'dmt beats supervised']
    assert c['excluded']['seeds'] == [2]
    unknown = dict(same, dmt=[_machine(), _machine(), None])
    c = bench.summarize('seg-v1', _runs(finals, unknown))[1][
        'dmt beats supervised']
    assert 'cross_machine' not in c and c['holds'] is False


@pytest.mark.slow
def test_report_marks_and_stores_cross_machine_seeds(fake, capsys):
    run, calls, tmp, out = fake
    seeds = ('--seeds', '0', '1', '2')
    assert run('cls-v1', *seeds, '--methods', 'supervised', 'dmt') == 0
    data = json.loads((tmp / 'cls-v1.json').read_text())
    for r in data['runs']:  # dmt seed 1 ran elsewhere
        if (r['method'], r['seed']) == ('dmt', 1):
            for a in r['attempts']:
                a['machine'] = dict(a['machine'], cpu_model='Other CPU')
    (tmp / 'cls-v1.json').write_text(json.dumps(data))
    shutil.rmtree(out)
    capsys.readouterr()
    assert run('cls-v1', *seeds, '--report-only') == 0
    assert ('(seeds 0 1 2); mean +9.00 ± 4.00, 3/3 positive; on different '
            'machines: seeds 1, not counted: holds') in capsys.readouterr().out
    c = json.loads((tmp / 'cls-v1.json').read_text())['comparison'][
        'dmt beats supervised']
    assert c['excluded']['seeds'] == [1] and c['holds'] is True
    assert run('cls-v1', *seeds, '--report-only', '--count-cross-machine') == 0
    assert 'on different machines: seeds 1, counted: holds' in (
        capsys.readouterr().out)
    result = json.loads((tmp / 'cls-v1.json').read_text())
    assert result['count_cross_machine'] is True
    assert 'excluded' not in result['comparison']['dmt beats supervised']


@pytest.mark.parametrize('task', ['seg-v1', 'cls-v1'])
def test_json_of_the_older_tool_gives_the_same_report(task, tmp_path,
                                                      capsys):
    # machine: 'vm' and a flat cpu_count per run: every machine unknown
    committed = REPO / 'docs' / 'benchmarks' / f'{task}.json'
    data = json.loads(committed.read_text())
    assert all(isinstance(r['machine'], str) for r in data['runs'])
    copy = tmp_path / f'{task}.json'
    shutil.copy(committed, copy)
    seeds = [str(s) for s in data['seeds']]
    assert bench.main([task, '--seeds', *seeds, '--report-only', '--out',
                       str(tmp_path / 'none'), '--json', str(copy), '--png',
                       str(tmp_path / f'{task}.png')]) == 0
    rebuilt = json.loads(copy.read_text())
    assert rebuilt['summary'] == data['summary']
    assert rebuilt['comparison'] == data['comparison']
    assert [(r['machine'], r['cpu_count']) for r in rebuilt['runs']] == [
        (r['machine'], r['cpu_count']) for r in data['runs']]
    table = bench.report.format_table(task, data['metric'], data['seeds'],
                                      data['summary'], data['comparison'])
    assert table in capsys.readouterr().out


def test_comparisons_pair_the_seeds_both_methods_ran():
    runs = [dict(method=m, seed=s, final=v) for m, s, v in [
        ('supervised', 0, 38.0), ('supervised', 1, 46.0),
        ('supervised', 2, 44.0), ('self-training', 0, 40.0),
        ('dmt', 0, 41.0), ('dmt', 1, 45.0), ('dmt', 2, 44.0)]]
    summary, comp = bench.summarize('seg-v1', runs)
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


def test_second_baseline_is_compared_but_kept_out_of_the_ordering():
    # PROTOCOL-v2.md: a plateau labelled-only baseline beside equal compute;
    # the paper's ordering chains the others, the regime uses the plateau
    report = bench.report
    methods = ['supervised', 'supervised-plateau', 'dmt', 'oracle']
    runs = [dict(method=m, seed=s, final=v + s) for s in range(2)
            for m, v in (('supervised', 40.0), ('supervised-plateau', 45.0),
                         ('dmt', 50.0), ('oracle', 60.0))]
    comp = report.summarize(methods, runs)[1]
    assert comp['ordering']['order'] == methods[:3]
    comp = report.summarize(methods, runs, ordering=['supervised', 'dmt'],
                            baseline='supervised-plateau')[1]
    assert comp['ordering']['order'] == ['supervised', 'dmt']
    assert comp['ordering']['holds'] is True
    assert comp['dmt beats supervised-plateau']['diffs'] == [5.0, 5.0]
    assert comp['supervised-plateau beats supervised']['holds'] is True
    regime = comp['regime']
    assert regime['baseline'] == 'supervised-plateau'
    assert regime['ratio'] == pytest.approx(45.5 / 60.5)
    table = report.format_table('seg-v1', 'mIoU', [0, 1], *report.summarize(
        methods, runs, baseline='supervised-plateau'))
    assert 'regime: supervised-plateau / oracle = 45.50 / 60.50' in table


def test_a_claim_holds_by_its_mean_when_a_seed_is_negative():
    # x - y = 5 (nine seeds) and -0.5: mean 4.45 > 2 x std 3.48
    runs = [dict(method=m, seed=s, final=v) for s in range(10)
            for m, v in (('supervised', 10.0),
                         ('dmt', 15.0 if s < 9 else 9.5))]
    c = bench.summarize('seg-v1', runs)[1]['dmt beats supervised']
    assert c['positive'] == 9 and c['mean'] == pytest.approx(4.45)
    assert c['std'] == pytest.approx(math.sqrt(3.025))
    assert c['holds'] is True
    # five seeds with one negative: mean 3.8 < 2 x std 5.37, not a claim
    runs = [r for r in runs if r['seed'] >= 5]
    c = bench.summarize('seg-v1', runs)[1]['dmt beats supervised']
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
