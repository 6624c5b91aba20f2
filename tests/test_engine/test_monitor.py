# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMTMonitor: warnings on fabricated records and on real tiny runs made to
degrade (a corrupted teacher; a class the teacher never predicts)."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.hooks import EMAHook, Hook
from mmengine.registry import HOOKS

from conftest import load_tool
from dmt_mm.engine.monitor import DMTMonitor
from dmt_mm.visualization.data_access import unwrap

fx = load_tool('tests/test_visualization/dmt_summary_fixtures.py',
               'monitor_summary_fixtures')
tiny = load_tool('tests/test_visualization/tiny_runs.py',
                 'monitor_tiny_runs')


# ------------------------------------------------------ fabricated records
def test_healthy_runs_give_no_warning_but_the_chains_first_dip():
    assert DMTMonitor().replay(fx.make_summary('mutual')) == []
    mon = DMTMonitor(stop_on_degradation=True)
    msgs = mon.replay(fx.make_summary('chain'))
    # the fresh phase-1 student dips once (95.0 -> 92.8), then recovers
    assert len(msgs) == 1
    assert 'phase1: val accuracy/top1 92.80 is 2.20 below' in msgs[0]
    assert '1 stage(s) in a row' in msgs[0]
    assert not mon.should_stop and mon.stop_reason is None


def test_degrading_mutual_run_warns_with_the_numbers():
    s = fx.make_summary('mutual', degrade=True)
    mon = DMTMonitor()
    lab, stages = s['labelling'], s['stages']
    # phase 2 is healthy
    for i in range(4):
        assert mon.check_labelling(lab[:i + 1], s['classes']) == []
    assert all(mon.check_stage(stages[:i + 1], 'mIoU') == []
               for i in range(6))
    # phase 3: B stops predicting '7' and its labels for A get worse
    msgs = mon.check_labelling(lab[:5], s['classes'])
    assert len(msgs) == 2
    assert msgs[0].startswith('DMT phase 3 pseudo labels for A (teacher B): '
                              "1 of 11 classes get no kept pseudo labels: "
                              "'7' (teacher predicts it for 0 pixels)")
    # compared at the same cut: B's labels at keep ratio 0.4 this phase
    assert ('mIoU of the most confident 0.4 of the pseudo labels fell from '
            '80.50 (phase 2) to 66.50 at the same keep ratio') in msgs[1]
    assert '-14.00 points, margin 5' in msgs[1]
    assert mon.check_labelling(lab[:6], s['classes']) == []  # B is fine
    msgs = mon.check_stage(stages[:7], 'mIoU')  # phase3_A
    assert len(msgs) == 2
    assert ("phase3_A: val mIoU 26.50 is 5.00 below model A's phase-0 "
            '(labelled-only) value 31.50') in msgs[0]
    assert 'jumped from 14.0% (phase2_A) to 41.0% (+27.0 points' in msgs[1]
    assert mon.check_stage(stages[:8], 'mIoU') == []  # phase3_B is fine
    assert not mon.should_stop  # warn-only by default


def test_stop_on_degradation_waits_for_patience():
    s = fx.make_summary('mutual', degrade=True)
    mon = DMTMonitor(stop_on_degradation=True, patience=2)
    stages = s['stages']
    mon.check_stage(stages[:7])  # phase3_A: first stage below
    assert not mon.should_stop
    msgs = mon.check_stage(stages[:9])  # phase4_A: second in a row
    assert mon.should_stop and 'phase4_A' in mon.stop_reason
    assert msgs[0].endswith('[stop_on_degradation: stopping the run]')
    quick = DMTMonitor(stop_on_degradation=True, patience=1)
    quick.check_stage(stages[:7])
    assert quick.should_stop and 'phase3_A' in quick.stop_reason


def test_stop_on_chooses_what_counts_as_a_degradation():
    s = fx.make_summary('chain', degrade=True)
    mon = DMTMonitor(stop_on_degradation=True, stop_on='empty_class')
    for i in range(len(s['labelling'])):
        mon.check_labelling(s['labelling'][:i + 1], s['classes'])
        if mon.should_stop:
            break
    assert i == 1 and "'3' (teacher predicts it for 0 samples)" in \
        mon.stop_reason
    with pytest.raises(ValueError, match="unknown kinds \\['val'\\]"):
        DMTMonitor(stop_on=('val', ))


def test_without_ground_truth_quality_is_not_checked():
    s = fx.make_summary('chain', degrade=True, with_gt=False)
    msgs = DMTMonitor().replay(s)
    assert not any('accuracy of the kept' in m for m in msgs)
    assert any('no kept pseudo labels' in m for m in msgs)


def test_monitor_is_stateless_for_a_resumed_run():
    s = fx.make_summary('mutual', degrade=True)
    seen_all = DMTMonitor()
    for i in range(8):
        seen_all.check_stage(s['stages'][:i + 1], 'mIoU')
    last = seen_all.check_stage(s['stages'][:9], 'mIoU')  # phase4_A
    resumed = DMTMonitor()  # a resumed run rebuilds it from the config
    assert resumed.check_stage(s['stages'][:9], 'mIoU') == last
    assert '2 stage(s) in a row' in last[0]
    assert len(DMTMonitor().replay(s)) == 8


@pytest.mark.parametrize('kwargs, field', [
    (dict(val_drop=-1), 'val_drop'),
    (dict(disagree_jump='x'), 'disagree_jump'),
    (dict(kept_quality_drop=float('nan')), 'kept_quality_drop'),
    (dict(patience=0), 'patience'),
    (dict(stop_on_degradation=1), 'stop_on_degradation'),
])
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f'monitor.{field}'):
        DMTMonitor(**kwargs)


# ------------------------------------------------------------ real runs
def _warnings(work: str) -> list:
    """The WARNING lines of a run's log (what a user reads)."""
    lines = []
    for log in glob.glob(osp.join(work, '*', '*.log')):
        with open(log) as f:
            lines += [ln.split(' - WARNING - ', 1)[1].strip() for ln in f
                      if ' - WARNING - ' in ln]
    return lines


def _in_phase(msgs, phase):
    return [m for m in msgs
            if f'phase {phase} ' in m or f'phase{phase}_' in m
            or f'phase{phase}:' in m]


@HOOKS.register_module()
class _CorruptTeachers(Hook):
    """Before phase ``phase``'s labelling (after the checkpoint of the stage
    before it) both teachers predict class ``cls`` everywhere with confidence
    ~1 (zeroed ASPP, one biased logit); ``before_train_stage``, which runs
    after the labelling pass, restores their weights."""
    priority = 'LOWEST'  # after MutualTrainingHook saved the stage

    def __init__(self, phase, cls):
        self.phase, self.cls, self.saved = phase, cls, None

    def after_train_stage(self, runner, stage):
        if stage.phase != self.phase - 1 or stage.model != 'B':
            return
        model = unwrap(runner.model)
        active = model.active_name
        self.saved = {n: model.model_state_dict(n) for n in model.model_names}
        for n in model.model_names:
            model.activate(n)
            with torch.no_grad():
                for i, conv in enumerate(
                        model.student.decode_head.aspp_convs):
                    conv.weight.zero_()
                    conv.bias.zero_()
                    if i == 0:
                        conv.bias[self.cls] = 10.0
        model.activate(active)

    def before_train_stage(self, runner, stage):
        if self.saved is None:
            return
        model = unwrap(runner.model)
        active = model.active_name
        for n, state in self.saved.items():
            model.activate(n)
            model.student.load_state_dict(state)
        model.activate(active)
        self.saved = None


def _seg_run(root, work, corrupt):
    cfg = tiny.tiny_seg_cfg(root, work, p0=40, p1=6)
    # plain self-training (all pseudo labels at full weight) lets the bad
    # labels reach the student; the DMT weights (gamma 5) would shield it
    cfg.model.segmentor.decode_head.loss_decode.update(gamma1=0., gamma2=0.)
    cfg.train_cfg.monitor = dict(
        disagree_jump=0.3, patience=1, stop_on_degradation=True)
    cfg.custom_hooks += [
        dict(type='_CorruptTeachers', phase=2 if corrupt else -1, cls=10)
    ]
    runner = tiny.run(cfg, 'mmseg')
    return runner, _warnings(work)


@pytest.fixture(scope='module')
def seg_runs(tiny_scenes, tmp_path_factory):
    return (_seg_run(tiny_scenes, str(tmp_path_factory.mktemp('mon_ok')),
                     False),
            _seg_run(tiny_scenes, str(tmp_path_factory.mktemp('mon_bad')),
                     True))


@pytest.mark.slow
def test_real_run_with_a_corrupted_teacher_warns_and_stops(seg_runs):
    (control, ok), (bad_runner, bad) = seg_runs
    ok2, bad2 = _in_phase(ok, 2), _in_phase(bad, 2)
    # only the corrupted run: both passes lose 10 of 11 classes, the kept
    # labels' mIoU collapses, A falls below phase 0 and disagrees more
    for target in 'AB':
        assert any(f'pseudo labels for {target}' in m and
                   '10 of 11 classes get no kept pseudo labels' in m
                   and "'9'" not in m for m in bad2), bad2
        assert any(f'pseudo labels for {target}' in m and
                   'of the pseudo labels fell from' in m for m in bad2)
    below = [m for m in bad2 if re.search(
        r"phase2_[AB]: val mIoU .* below model [AB]'s phase-0", m)]
    assert below, bad2
    assert any('phase2_A: disagreement rate' in m for m in bad2)
    assert not any('10 of 11' in m or 'fell' in m or 'below' in m or
                   'jumped' in m for m in ok2), ok2
    # stop_on_degradation: the corrupted run stops cleanly after the first
    # phase-2 stage whose val fell below phase 0, with its checkpoint
    # written; the control run finishes
    assert any('stopping the run' in m for m in bad)
    loop = bad_runner.train_loop
    last = loop.stage_at(bad_runner.iter - 1)
    assert last.phase == 2 and loop.finished_stage == last.index
    assert f'{last.name}: val mIoU' in below[0]
    assert osp.isfile(osp.join(bad_runner.work_dir, f'{last.name}.pth'))
    assert control.train_loop.finished_stage == len(
        control.train_loop.stages) - 1
    # the records the monitor saw are the engine's
    rec = loop.report.labelling[-1]
    assert rec['class_kept'][10] == rec['pixels'] and rec['kept_ratio'] == 1


@HOOKS.register_module()
class _DropClass(Hook):
    """From phase ``phase`` on, the chain's teacher (the EMA model) never
    predicts the class the previous teacher predicted most."""
    priority = 'LOWEST'  # after the previous phase ended

    def __init__(self, phase):
        self.phase, self.cls = phase, None

    def after_train_stage(self, runner, stage):
        if stage.phase == self.phase - 1:
            labels = runner.train_loop.dataloader.dataset.pseudo['label']
            self.cls = int(np.bincount(labels).argmax())
            ema = [h for h in runner.hooks if isinstance(h, EMAHook)][0]
            with torch.no_grad():
                ema.ema_model.module.head.fc.bias[self.cls] = -1e4


@pytest.mark.slow
def test_real_chain_warns_when_a_class_drops_out(digits_cls_root, tmp_path):
    cfg = tiny.tiny_cls_cfg(digits_cls_root, str(tmp_path), iters=20)
    cfg.custom_hooks += [dict(type='_DropClass', phase=2)]
    runner = tiny.run(cfg, 'mmpretrain')
    msgs = _warnings(str(tmp_path))
    c = [h for h in runner.hooks if isinstance(h, _DropClass)][0].cls
    name = f"'{c}' (teacher predicts it for 0 samples)"
    one, two = runner.train_loop.report.labelling
    assert one['class_kept'][c] > 0 and two['class_total'][c] == 0
    assert not any(name in m for m in _in_phase(msgs, 1))
    assert any(name in m for m in _in_phase(msgs, 2)), msgs
