# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMTMonitor: warnings on fabricated records and on real tiny runs made to
degrade (a corrupted teacher; a class the teacher never predicts)."""
import glob
import os.path as osp

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


#: The monitor settings of the real seg runs.
SEG_MONITOR = dict(disagree_jump=0.3, patience=1, stop_on_degradation=True)


def _seg_run(root, work, corrupt):
    cfg = tiny.tiny_seg_cfg(root, work, p0=40, p1=6)
    # plain self-training (all pseudo labels at full weight) lets the bad
    # labels reach the student; the DMT weights (gamma 5) would shield it
    cfg.model.segmentor.decode_head.loss_decode.update(gamma1=0., gamma2=0.)
    cfg.train_cfg.monitor = dict(SEG_MONITOR)
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


def _check_warnings_are_true(runner, msgs):
    """What a run logs is what the monitor says about the engine's records,
    each warning is true of them (and none is missing), and the run stops
    after the first stage whose val really fell below phase 0 (patience 1)
    or finishes. Properties, not numbers: how good a 40-iteration model is
    differs between torch versions."""
    loop = runner.train_loop
    summary = loop.report.summary()
    assert [m for m in DMTMonitor(**SEG_MONITOR).replay(summary)
            if m not in msgs] == []
    names = summary['classes']
    for rec in summary['labelling']:
        empty = [c for c, k in enumerate(rec['class_kept']) if k == 0]
        got = [m for m in msgs if m.startswith(
            f'DMT phase {rec["phase"]} pseudo labels for {rec["target"]} ')
            and 'get no kept pseudo labels' in m]
        assert len(got) == (1 if empty else 0), (rec['phase'], got)
        if empty:
            assert f'{len(empty)} of {len(names)} classes' in got[0]
            assert all(f'{names[c]!r} (teacher' in got[0] for c in empty)
    stages = summary['stages']
    base = {r['model']: r['val'] for r in stages if r['phase'] == 0}
    below = [r for r in stages if r['phase'] >= 1
             and base[r['model']] - r['val'] > 1.0]  # val_drop's default
    for r in (r for r in stages if r['phase'] >= 1):
        warned = any(f'phase{r["phase"]}_{r["model"]}: val mIoU' in m and
                     "below model" in m for m in msgs)
        assert warned == (r in below), r
    if below:  # stopped cleanly after it, its checkpoint written
        assert any('stopping the run' in m for m in msgs)
        assert stages[-1] == below[0] and \
            loop.finished_stage == below[0]['stage']
        name = f'phase{below[0]["phase"]}_{below[0]["model"]}'
        assert osp.isfile(osp.join(runner.work_dir, f'{name}.pth'))
    else:
        assert loop.finished_stage == len(loop.stages) - 1
    return summary


@pytest.mark.slow
def test_real_run_with_a_corrupted_teacher_warns_and_stops(seg_runs):
    (control, ok), (bad_runner, bad) = seg_runs
    _check_warnings_are_true(control, ok)
    summary = _check_warnings_are_true(bad_runner, bad)
    # the corrupted teachers predict class 10 everywhere: both phase-2
    # passes keep only class 10 (all of it, keep ratio 1), so the monitor's
    # first phase-2 warnings name exactly the other 10 classes, for A first
    phase2 = [r for r in summary['labelling'] if r['phase'] == 2]
    assert [r['target'] for r in phase2] == ['A', 'B'], \
        'the run stopped before the corrupted labelling of phase 2'
    for rec in phase2:
        assert rec['class_kept'][10] == rec['pixels'] and \
            rec['kept_ratio'] == 1
    assert _in_phase(bad, 2)[0].startswith('DMT phase 2 pseudo labels for A')
    empty = [m for m in _in_phase(bad, 2) if 'get no kept pseudo' in m]
    for msg, target in zip(empty[:2], 'AB'):
        assert msg.startswith(f'DMT phase 2 pseudo labels for {target} ')
        assert '10 of 11 classes get no kept pseudo labels' in msg
        assert "'10' (teacher" not in msg


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
