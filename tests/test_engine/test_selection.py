# Copyright (c) dmt_mm contributors. All rights reserved.
"""train_cfg.select: the weights that end a stage (last, or best on val)."""
import json
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from conftest import fast_cpu_context
from dmt_mm.engine.runner.selection import StageSelection
from test_dmt_end_to_end import STAGES, tiny_cfg


def _linear(value: float) -> torch.nn.Linear:
    m = torch.nn.Linear(2, 1)
    torch.nn.init.constant_(m.weight, value)
    return m


def test_best_snapshot_is_kept_and_put_back():
    sel = StageSelection('best', 'mIoU')
    sel.start_stage()
    sel.observe({'mIoU': 1.0}, _linear(1.0), 2)
    sel.observe({'mIoU': 3.0}, _linear(4.0), 4)
    sel.observe({'mIoU': 3.0}, _linear(5.0), 5)  # a tie keeps the earlier
    sel.observe({'aAcc': 9.0}, _linear(6.0), 6)  # not the metric
    model = _linear(8.0)
    sel.observe({'mIoU': 2.0}, model, 8)
    assert sel.finish_stage(model, 8) == dict(value=3.0, iter=4)
    assert torch.equal(model.weight, torch.full((1, 2), 4.0))
    # the copy was taken at iteration 4: later training does not change it
    state = sel.state_dict()
    restored = StageSelection('best', 'mIoU')
    restored.load_state_dict(state)
    other = _linear(0.0)
    assert restored.finish_stage(other, 8)['iter'] == 4
    assert torch.equal(other.weight, torch.full((1, 2), 4.0))
    # the last weights are the best: nothing to load
    sel.start_stage()
    sel.observe({'mIoU': 5.0}, model, 10)
    assert sel.finish_stage(model, 10) is None


def test_last_keeps_nothing():
    sel = StageSelection('last', 'mIoU')
    model = _linear(1.0)
    sel.observe({'mIoU': 9.0}, model, 3)
    assert sel.best is None and sel.finish_stage(_linear(2.0), 5) is None


@pytest.mark.parametrize('options, match', [
    (dict(select='bestest'), r"train_cfg.select must be one of.*'bestest'"),
    (dict(select='best'), r"select='best'.*val_interval=None"),
])
def test_bad_select_fails_before_training(tiny_scenes, tmp_path, options,
                                          match):
    cfg = tiny_cfg(tiny_scenes, str(tmp_path / 'run'), **options)
    with pytest.raises(ValueError, match=match):
        Runner.from_cfg(cfg).train_loop  # built from train_cfg


@HOOKS.register_module()
class _RecordVal(Hook):
    """Records (iteration, mIoU) of every validation."""
    seen = []

    def after_val_epoch(self, runner, metrics=None):
        _RecordVal.seen.append((runner.iter, float(metrics['mIoU'])))


@pytest.mark.slow
def test_each_stage_ends_with_its_best_validated_weights(tiny_scenes,
                                                         tmp_path):
    work = str(tmp_path / 'run')
    cfg = tiny_cfg(tiny_scenes, work, select='best', val_interval=1)
    cfg.default_hooks.checkpoint.interval = 1  # iter_<i>.pth of every one
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='_RecordVal')]
    _RecordVal.seen = []
    with fast_cpu_context():
        runner = Runner.from_cfg(cfg)
        runner.train()
    loop = runner.train_loop
    summary = json.load(open(osp.join(work, 'dmt_summary.json')))
    assert [f'phase{r["phase"]}_{r["model"]}'
            for r in summary['stages']] == STAGES
    restored = 0
    for stage, row in zip(loop.stages, summary['stages']):
        vals = [(it, v) for it, v in _RecordVal.seen
                if stage.begin < it <= stage.end]
        assert [it for it, _ in vals] == list(range(stage.begin + 1,
                                                    stage.end + 1))
        best_it, best = max(vals, key=lambda p: (p[1], -p[0]))
        assert row['val'] == pytest.approx(best)
        # the stage checkpoint holds the active model of the best iteration
        end = torch.load(osp.join(work, f'{stage.name}.pth'),
                         map_location='cpu', weights_only=False)['state_dict']
        at = torch.load(osp.join(work, f'iter_{best_it}.pth'),
                        map_location='cpu', weights_only=False)['state_dict']
        keys = [k for k in end if k.startswith('student.')]
        assert keys
        assert all(torch.equal(end[k], at[k]) for k in keys), stage.name
        restored += best_it != stage.end
    print(f'{restored} of {len(loop.stages)} stages ended with earlier '
          'weights')
