# Copyright (c) dmt_mm contributors. All rights reserved.
"""The paper's ablations as one-key changes, on real tiny runs.

- ``train_cfg.teacher='self'``: each model labels the unlabelled set for
  itself (single-model self-training, same curriculum and restarts);
- ``DMTLoss(dynamic=False)``: mutual training with plain cross entropy
  (every kept pseudo label weighs 1), diagnostics still logged.
"""
import json
import os
import os.path as osp

import pytest
from mmengine.runner import Runner

from conftest import fast_cpu_context
from test_dmt_chain import tiny_cls_cfg
from test_dmt_end_to_end import tiny_cfg


def _png_bytes(directory: str) -> dict:
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith('.png'):
            with open(osp.join(directory, name), 'rb') as f:
                out[name] = f.read()
    return out


@pytest.mark.slow
def test_self_training_labels_each_model_with_itself(tiny_scenes, tmp_path):
    work = str(tmp_path / 'self')
    # one DMT phase: the published sets are the phase-1 labels
    cfg = tiny_cfg(tiny_scenes, work, teacher='self', keep_ratios=(1.0, ))
    with fast_cpu_context():
        Runner.from_cfg(cfg).train()
    summary = json.load(open(osp.join(work, 'dmt_summary.json')))
    assert summary['teacher'] == 'self'
    assert sorted((r['target'], r['teacher'])
                  for r in summary['labelling']) == [('A', 'A'), ('B', 'B')]
    for model in 'AB':
        manifest = json.load(open(osp.join(work, 'pseudo_labels',
                                           f'for_{model}', 'manifest.json')))
        assert manifest['teacher'] == model
    # The labels of A really are A's: from the same end-of-phase-0 weights,
    # the partner procedure labels *for B* with A, byte for byte the same.
    check = str(tmp_path / 'partner')
    cfg2 = tiny_cfg(tiny_scenes, check, keep_ratios=(1.0, ))
    with fast_cpu_context():
        runner = Runner.from_cfg(cfg2)
        loop = runner.train_loop
        runner.load_checkpoint(osp.join(work, 'phase0_B.pth'))
        stage = loop.stages[2]  # phase1_A
        record = loop.procedure.label_for('B', stage)
    assert record['teacher'] == 'A'
    mine = _png_bytes(osp.join(work, 'pseudo_labels', 'for_A'))
    assert mine and mine == _png_bytes(
        osp.join(check, 'pseudo_labels', 'for_B'))
    assert mine != _png_bytes(osp.join(work, 'pseudo_labels', 'for_B'))


@pytest.mark.slow
def test_plain_ce_weighs_every_pseudo_label_one(tiny_scenes, tmp_path):
    work = str(tmp_path / 'ce')
    cfg = tiny_cfg(tiny_scenes, work)
    cfg.model.segmentor.decode_head.loss_decode.dynamic = False
    with fast_cpu_context():
        Runner.from_cfg(cfg).train()
    rows = json.load(open(osp.join(work, 'dmt_summary.json')))['stages']
    dmt_rows = [r for r in rows if r['phase'] >= 1]
    assert len(dmt_rows) == 4
    for r in dmt_rows:
        assert r['dmt_weight'] == pytest.approx(1.0)
        # the diagnostics are still measured
        assert 0 <= r['dmt_disagree'] <= 1 and r['dmt_student_wins'] >= 0


def test_chain_refuses_a_partner_teacher(digits_cls_root, tmp_path):
    cfg = tiny_cls_cfg(digits_cls_root, str(tmp_path / 'chain'))
    cfg.train_cfg.teacher = 'partner'
    with pytest.raises(ValueError, match=r"teacher='partner' needs two "
                       r'models.*set teacher=.self.'):
        Runner.from_cfg(cfg).train_loop  # built from train_cfg
