# Copyright (c) dmt_mm contributors. All rights reserved.
"""The configs of the README's tables (docs/benchmarks/PROTOCOL-v2.md):
each a short diff of the demo recipe it lengthens, and its labelled-only
baselines exactly as long as the protocol says (equal compute: one DMT
model's iterations, counted as the loop counts them; the longest run: 2 x
phase 0; the oracle as long as the longest run)."""
import inspect
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from conftest import REPO, load_tool
from dmt_mm.engine.runner.schedule import build_stages

TASKS = load_tool('tools/analysis_tools/benchmark_tasks.py',
                  'benchmark_tasks_long').TASKS
SCENES = load_tool('tools/dataset_converters/digit_scenes.py',
                   'digit_scenes_long')


def _load(path, monkeypatch, budget=None):
    monkeypatch.delenv('DMT_SPLIT', raising=False)
    if budget is None:
        monkeypatch.delenv('DMT_BUDGET', raising=False)
    else:
        monkeypatch.setenv('DMT_BUDGET', str(budget))
    return Config.fromfile(str(REPO / path))


def _flat(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def _diff(a, b) -> set:
    fa, fb = _flat(a.to_dict()), _flat(b.to_dict())
    return {k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k)}


def _one_model_iters(cfg, num_unlabeled: int) -> int:
    """One model's phase 0 + DMT stages, as the loop counts them."""
    tc, sampler = cfg.train_cfg, cfg.train_dataloader.sampler
    dataset = SimpleNamespace(num_pseudo_samples=lambda r: num_unlabeled)
    stages = build_stages(
        ('A', ), len(tc.keep_ratios), dataset,
        SimpleNamespace(batch_size=sampler.batch_size,
                        num_pseudo=sampler.batch_size - sampler.num_labeled),
        1, dict(phase0_iters=tc.phase0_iters, phase_iters=tc.phase_iters,
                phase_epochs=tc.phase_epochs), tc.keep_ratios)
    return stages[-1].end


def test_seg_long_is_the_demo_with_the_protocol_lengths(monkeypatch):
    demo = _load(TASKS['seg-v1']['methods']['dmt'][0], monkeypatch, 40)
    long = _load(TASKS['seg']['methods']['dmt'][0], monkeypatch, 40)
    assert long.train_cfg.phase0_iters == 4000
    assert long.train_cfg.phase_iters is None
    assert long.train_cfg.phase_epochs == 8  # 2 x the paper's 4 epochs
    loss = long.model.segmentor.decode_head.loss_decode
    assert (loss.gamma1, loss.gamma2) == (1.0, 1.0)  # amendment 11
    assert _diff(demo, long) == {
        'train_cfg.phase0_iters', 'train_cfg.phase_iters',
        'train_cfg.phase_epochs', 'default_hooks.checkpoint.interval',
        'model.segmentor.decode_head.loss_decode.gamma1',
        'model.segmentor.decode_head.loss_decode.gamma2'}
    # its default budget is the demo's
    default = _load(TASKS['seg']['methods']['dmt'][0], monkeypatch)
    assert _diff(_load(TASKS['seg-v1']['methods']['dmt'][0], monkeypatch),
                 default) == _diff(demo, long)
    data = default.train_dataloader.dataset
    assert data.labeled.ann_file == 'splits/pool_labeled80_seed0.txt'
    assert data.unlabeled.ann_file == 'splits/pool_unlabeled80_seed0.txt'


@pytest.mark.parametrize('budget', [10, 20, 40, 80])
def test_seg_baselines_are_as_long_as_the_protocol_says(budget,
                                                         monkeypatch):
    methods = TASKS['seg']['methods']
    dmt = _load(methods['dmt'][0], monkeypatch, budget)
    # the unlabelled scenes: the pool (the converter's train scenes less
    # the held-out ones) less the labelled ones
    defaults = inspect.signature(SCENES.build_digit_scenes).parameters
    pool = defaults['num_train'].default - defaults['num_heldout'].default
    equal = _load(methods['supervised'][0], monkeypatch, budget)
    assert equal.train_cfg.max_iters == _one_model_iters(dmt, pool - budget)
    labeled = f'splits/pool_labeled{budget}_seed0.txt'
    assert equal.train_dataloader.dataset.ann_file == labeled
    longest = _load(methods['supervised-long'][0], monkeypatch, budget)
    assert longest.train_cfg.max_iters == 2 * dmt.train_cfg.phase0_iters
    assert longest.train_dataloader.dataset.ann_file == labeled
    oracle = _load(methods['oracle'][0], monkeypatch, budget)
    assert oracle.train_cfg.max_iters == longest.train_cfg.max_iters
    assert oracle.train_dataloader.dataset.ann_file == 'splits/pool.txt'
    for cfg in (equal, longest, oracle):  # one schedule to the end
        assert cfg.param_scheduler[0].end == cfg.train_cfg.max_iters


def test_seg_equal_compute_at_the_default_budget(monkeypatch):
    cfg = _load(TASKS['seg']['methods']['supervised'][0], monkeypatch)
    assert cfg.train_cfg.max_iters == 4000 + 5 * 1094
    assert cfg.train_dataloader.dataset.ann_file == (
        'splits/pool_labeled80_seed0.txt')


def test_cls_long_and_its_baselines(monkeypatch):
    methods = TASKS['cls']['methods']
    demo = _load(TASKS['cls-v1']['methods']['dmt'][0], monkeypatch)
    dmt = _load(methods['dmt'][0], monkeypatch)
    tc = dmt.train_cfg
    assert (tc.phase0_iters, tc.phase_iters) == (720, 720)
    assert (dmt.model.head.gamma1, dmt.model.head.gamma2) == (2.0, 2.0)
    assert _diff(demo, dmt) == {'train_cfg.phase0_iters',
                                'train_cfg.phase_iters', 'model.head.gamma1',
                                'model.head.gamma2'}
    equal = _load(methods['supervised'][0], monkeypatch)
    assert equal.train_cfg.max_iters == (tc.phase0_iters + len(
        tc.keep_ratios) * tc.phase_iters)
    longest = _load(methods['supervised-long'][0], monkeypatch)
    assert longest.train_cfg.max_iters == 2 * tc.phase0_iters
    oracle = _load(methods['oracle'][0], monkeypatch)
    assert oracle.train_cfg.max_iters == longest.train_cfg.max_iters
    assert oracle.train_dataloader.dataset.ann_file == 'meta/pool.txt'
    labeled = dmt.train_dataloader.dataset.labeled.ann_file
    for cfg in (equal, longest):
        assert cfg.train_dataloader.dataset.ann_file == labeled
    for cfg in (equal, longest, oracle):
        assert cfg.param_scheduler[0].end == cfg.train_cfg.max_iters


@pytest.mark.parametrize('task', ['seg', 'cls'])
def test_tables_keep_the_longest_run_out_of_the_ordering(task):
    spec = TASKS[task]
    assert spec['regime'] == 'supervised-long'
    assert 'supervised-long' not in spec['ordering']
    assert spec['ordering'][0] == 'supervised'
    assert spec['ordering'][-1] == 'dmt'
    assert set(spec['ordering']) <= set(spec['methods'])
