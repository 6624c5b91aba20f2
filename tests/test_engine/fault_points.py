# Copyright (c) dmt_mm contributors. All rights reserved.
"""Pause points for the kill-anywhere tests (imported by a training
subprocess through ``custom_imports``).

``DMT_FAULT`` names one point; when the run reaches it, the process writes
the file ``DMT_FAULT_MARKER`` and sleeps, and the test kills it with
SIGKILL. Points (phase, target and counts refer to the DMT run):

- ``iter:N`` - before training iteration ``N``;
- ``label:P:T:K`` - in the phase-``P`` labelling pass for model ``T``, after
  its ``K``-th image;
- ``between:P`` - after the phase-``P`` pass for the first model, before
  the pass for the second;
- ``swap1:P:T`` - inside the publication of the phase-``P`` labels of
  ``T``: the new set is complete and renamed, the link to it is made, but
  ``for_T`` still points to the old set;
- ``swap2:P:T`` - after the swap, before the old set is removed;
- ``save:NAME`` - while writing checkpoint ``NAME``: half of it is on disk.
"""
import os
import shutil
import time

from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

import dmt_mm.engine.labelling as labelling
import dmt_mm.engine.procedures.mutual as mutual
import dmt_mm.utils.pseudo_label_io as storage

POINT = os.environ.get('DMT_FAULT', '')
_RUNNER = []


def pause(what: str) -> None:
    with open(os.environ['DMT_FAULT_MARKER'], 'w') as f:
        f.write(what)
    time.sleep(600)


def _phase() -> int:
    loop = _RUNNER[0].train_loop
    return loop.current_stage.phase


def _target(directory: str) -> str:
    name = os.path.basename(directory.rstrip('/'))
    return name.split('.')[0][len('for_'):]


@HOOKS.register_module()
class FaultHook(Hook):
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        _RUNNER[:] = [runner]

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if POINT == f'iter:{runner.iter}':
            pause(POINT)


if POINT.startswith('label:'):
    _, _p, _t, _k = POINT.split(':')
    _call = labelling.SegLabeller.__call__

    def _counting_call(self, sample):
        _call(self, sample)
        self.fault_count = getattr(self, 'fault_count', 0) + 1
        if (_phase() == int(_p) and _target(self.out_dir) == _t
                and self.fault_count == int(_k)):
            self.writer.close()  # what was written so far is on disk
            pause(POINT)

    labelling.SegLabeller.__call__ = _counting_call

if POINT.startswith('between:'):
    _label_for = mutual.MutualProcedure.label_for

    def _label_then_pause(self, target, stage):
        record = _label_for(self, target, stage)
        if (POINT == f'between:{stage.phase}'
                and target == self.model.model_names[0]):
            pause(POINT)
        return record

    mutual.MutualProcedure.label_for = _label_then_pause

if POINT.startswith('swap'):
    _kind, _p, _t = POINT.split(':')
    _publish = storage.publish_pseudo_dir
    _symlink, _rmtree = os.symlink, shutil.rmtree
    _inside = []

    def _match(final):
        return _phase() == int(_p) and _target(final) == _t

    def _publish_watched(staged, final):
        _inside[:] = [_match(final)]
        try:
            _publish(staged, final)
        finally:
            _inside[:] = []

    def _symlink_then_pause(src, dst, *args, **kwargs):
        _symlink(src, dst, *args, **kwargs)
        if _kind == 'swap1' and _inside and _inside[0]:
            pause(POINT)

    def _pause_then_rmtree(path, *args, **kwargs):
        if _kind == 'swap2' and _inside and _inside[0]:
            pause(POINT)
        return _rmtree(path, *args, **kwargs)

    mutual.publish_pseudo_dir = _publish_watched
    os.symlink = _symlink_then_pause
    storage.shutil.rmtree = _pause_then_rmtree

if POINT.startswith('save:'):
    _name = POINT.split(':', 1)[1]
    _put = LocalBackend.put

    def _half_then_pause(self, obj, filepath):
        if os.path.basename(str(filepath)) != _name:
            return _put(self, obj, filepath)
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        pause(POINT)

    LocalBackend.put = _half_then_pause
