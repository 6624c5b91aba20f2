# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMTMonitor: warnings on fabricated records and on real tiny runs made to
degrade (a corrupted teacher; a class the teacher never predicts)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.hooks import EMAHook, Hook
from mmengine.registry import HOOKS

from conftest import load_tool
from dmt_mm.engine.monitor import DMTMonitor
from dmt_mm.visualization.data_access import seg_pseudo_label, unwrap

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
    assert 'fell from 80.50 (phase 2, keep ratio 0.4) to 62.00' in msgs[1]
    assert '-18.50 points, margin 5' in msgs[1]
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
def _mutual_hook(runner):
    return [h for h in runner.hooks
            if type(h).__name__ == 'MutualTrainingHook'][0]


@HOOKS.register_module()
class _MonitorProbe(Hook):
    """Builds the engine's records from today's hook and dataset state and
    calls the monitor where the redesigned loop will."""
    priority = 'LOW'  # after MutualTrainingHook labelled and swapped

    def __init__(self, **monitor):
        self.monitor = DMTMonitor(**monitor)
        self.labelling, self.log = [], []

    def before_train_stage(self, runner, stage):
        if stage.phase < 1 or runner.iter != stage.begin:
            return
        hook = _mutual_hook(runner)
        ds = runner.train_loop.dataloader.dataset
        if stage.model is None:  # chain
            arr, st = ds.pseudo, hook.label_stats[stage.name]
            total = np.bincount(arr['label'], minlength=ds.num_classes)
            kept = np.bincount(arr['label'][arr['kept']],
                               minlength=ds.num_classes)
            rec = dict(st, target=None)
        else:
            if stage.model != 'A':  # both passes run before stage A
                return
            for target in ('A', 'B'):
                pseudo = SimpleNamespace(
                    pseudo_dir=hook._target_dir(runner, target),
                    pseudo_key=ds.pseudo_key, ignore_index=255,
                    pseudo_thresholds=np.array(hook.thresholds[target],
                                               np.uint8))
                kept = np.zeros(ds.num_classes, np.int64)
                for j in range(ds.num_unlabeled):
                    lab, _ = seg_pseudo_label(pseudo, j)
                    kept += np.bincount(lab[lab != 255],
                                        minlength=ds.num_classes)
                st = hook.label_stats[target]
                self._check(dict(st, target=target,
                                 class_total=st['class_pixels'],
                                 class_kept=kept.tolist()), ds)
            return
        rec.update(class_total=total.tolist(), class_kept=kept.tolist())
        self._check(rec, ds)

    def _check(self, rec, ds):
        self.labelling.append(rec)
        for m in self.monitor.check_labelling(self.labelling,
                                              ds.metainfo['classes']):
            self.log.append((rec['phase'], m))

    def after_train_stage(self, runner, stage):
        hook = _mutual_hook(runner)
        for m in self.monitor.check_stage(hook.history, hook.metric):
            self.log.append((stage.phase, m))


@HOOKS.register_module()
class _CorruptTeachers(Hook):
    """At phase ``phase``'s labelling both teachers predict class ``cls``
    everywhere with confidence ~1 (zeroed ASPP, one biased logit); their
    weights are restored after the labelling pass."""
    priority = 'VERY_HIGH'

    def __init__(self, phase, cls):
        self.phase, self.cls, self.saved = phase, cls, None

    def before_train_stage(self, runner, stage):
        if stage.phase != self.phase or stage.model != 'A':
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


@HOOKS.register_module()
class _RestoreTeachers(Hook):
    priority = 'VERY_LOW'  # after the labelling pass

    def before_train_stage(self, runner, stage):
        corrupt = [h for h in runner.hooks
                   if isinstance(h, _CorruptTeachers)][0]
        if corrupt.saved is None:
            return
        model = unwrap(runner.model)
        active = model.active_name
        for n, state in corrupt.saved.items():
            model.activate(n)
            model.student.load_state_dict(state)
        model.activate(active)
        corrupt.saved = None


def _seg_run(root, work, corrupt):
    cfg = tiny.tiny_seg_cfg(root, work, p0=40, p1=6)
    # plain self-training (all pseudo labels at full weight) lets the bad
    # labels reach the student; the DMT weights (gamma 5) would shield it
    cfg.model.segmentor.decode_head.loss_decode.update(gamma1=0., gamma2=0.)
    cfg.custom_hooks += [
        dict(type='_CorruptTeachers', phase=2 if corrupt else -1, cls=10),
        dict(type='_RestoreTeachers'),
        dict(type='_MonitorProbe', disagree_jump=0.1, patience=1,
             stop_on_degradation=True)
    ]
    runner = tiny.run(cfg, 'mmseg')
    return [h for h in runner.hooks if isinstance(h, _MonitorProbe)][0]


@pytest.fixture(scope='module')
def seg_probes(tiny_scenes, tmp_path_factory):
    return (_seg_run(tiny_scenes, str(tmp_path_factory.mktemp('mon_ok')),
                     False),
            _seg_run(tiny_scenes, str(tmp_path_factory.mktemp('mon_bad')),
                     True))


@pytest.mark.slow
def test_real_run_with_a_corrupted_teacher_warns_and_stops(seg_probes):
    control, bad = seg_probes
    ok2 = [m for p, m in control.log if p == 2]
    bad2 = [m for p, m in bad.log if p == 2]
    # only the corrupted run: both passes lose 10 of 11 classes, the kept
    # labels' mIoU collapses, A falls below phase 0 and disagrees more
    for target in 'AB':
        assert any(f'pseudo labels for {target}' in m and
                   '10 of 11 classes get no kept pseudo labels' in m
                   and "'9'" not in m for m in bad2)
        assert any(f'pseudo labels for {target}' in m and
                   'mIoU of the kept pseudo labels fell' in m for m in bad2)
    assert any("phase2_A: val mIoU" in m and "below model A's phase-0" in m
               for m in bad2)
    assert any('phase2_A: disagreement rate' in m for m in bad2)
    assert bad.monitor.should_stop
    assert not any('10 of 11' in m or 'fell' in m or 'below' in m or
                   'jumped' in m for m in ok2), ok2
    assert not control.monitor.should_stop
    # the records the probe built match the engine's numbers
    rec = bad.labelling[-1]
    assert rec['class_kept'][10] == rec['pixels'] and rec['kept_ratio'] == 1


@HOOKS.register_module()
class _DropClass(Hook):
    """From phase ``phase`` on, the chain's teacher (the EMA model) never
    predicts the class the previous teacher predicted most."""
    priority = 'VERY_HIGH'  # before the labelling pass

    def __init__(self, phase):
        self.phase, self.cls = phase, None

    def before_train_stage(self, runner, stage):
        if stage.phase == self.phase:
            labels = runner.train_loop.dataloader.dataset.pseudo['label']
            self.cls = int(np.bincount(labels).argmax())
            ema = [h for h in runner.hooks if isinstance(h, EMAHook)][0]
            with torch.no_grad():
                ema.ema_model.module.head.fc.bias[self.cls] = -1e4


@pytest.mark.slow
def test_real_chain_warns_when_a_class_drops_out(digits_cls_root, tmp_path):
    cfg = tiny.tiny_cls_cfg(digits_cls_root, str(tmp_path), iters=20)
    cfg.custom_hooks += [dict(type='_DropClass', phase=2),
                         dict(type='_MonitorProbe')]
    runner = tiny.run(cfg, 'mmpretrain')
    probe = [h for h in runner.hooks if isinstance(h, _MonitorProbe)][0]
    c = [h for h in runner.hooks if isinstance(h, _DropClass)][0].cls
    name = f"'{c}' (teacher predicts it for 0 samples)"
    one, two = probe.labelling
    assert one['class_kept'][c] > 0 and two['class_total'][c] == 0
    assert not any(name in m for p, m in probe.log if p == 1)
    assert any(name in m for p, m in probe.log if p == 2)
