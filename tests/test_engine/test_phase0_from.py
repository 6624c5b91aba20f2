# Copyright (c) dmt_mm contributors. All rights reserved.
"""``train_cfg.phase0_from``: a DMT run that starts from models already
trained.

A run given another run's ``phase0_A.pth`` / ``phase0_B.pth`` (model A
exported by ``tools/export_model.py``; or a chain's ``phase0.pth``) trains
no phase-0 iteration and ends bit for bit where the
run that trained that phase 0 ends; a labelled-only MMSeg checkpoint is
accepted; bad input fails before any training with a message naming the
field and the value. (Kill and resume of such a run: test_exact_resume.py.)
"""
import copy
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import REPO, fast_cpu_context, load_tool
from dmt_mm.engine import format_summary
from dmt_mm.engine.runner.phase0_from import (check_phase0_from,
                                              load_phase0_states)
from dmt_mm.models.segmentors import dmt_model_state
from dmt_mm.utils.checkpoint import load_checkpoint_safely
from test_dmt_end_to_end import P1, tiny_cfg

LABELED_ONLY = REPO / 'configs/dmt/deeplabv2-r18_digit-scenes_labeled-only.py'


def _train(cfg: Config):
    with fast_cpu_context():
        runner = Runner.from_cfg(copy.deepcopy(cfg))
        runner.train()
    return runner


def _summary(work: str) -> dict:
    with open(osp.join(work, 'dmt_summary.json')) as f:
        return json.load(f)


def _weights(path: str) -> dict:
    return load_checkpoint_safely(path)['state_dict']


def _assert_same_weights(a: str, b: str) -> None:
    sa, sb = _weights(a), _weights(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), (a, b, k)


@pytest.fixture(scope='module')
def trained_phase0(tiny_scenes, tmp_path_factory):
    """A tiny DMT run that trains its own phase 0."""
    work = str(tmp_path_factory.mktemp('trains_phase0'))
    _train(tiny_cfg(tiny_scenes, work))
    return work


@pytest.mark.slow
def test_loaded_phase0_ends_bit_identical(trained_phase0, tiny_scenes,
                                          tmp_path):
    ref = trained_phase0
    sources = {m: osp.join(ref, f'phase0_{m}.pth') for m in 'AB'}
    # model A as tools/export_model.py writes it (plain segmentor keys)
    export = load_tool('tools/export_model.py', 'export_for_phase0_from')
    cfg_path = str(tmp_path / 'dmt.py')
    tiny_cfg(tiny_scenes, ref).dump(cfg_path)
    exported = str(tmp_path / 'model_a.pth')
    export.export(cfg_path, sources['A'], exported, 'A')
    work = str(tmp_path / 'loaded')
    runner = _train(tiny_cfg(tiny_scenes, work,
                             phase0_from=dict(sources, A=exported)))
    assert runner.iter == 2 * 2 * P1  # only the DMT stages train
    for name in ('phase2_A.pth', 'phase2_B.pth'):
        _assert_same_weights(osp.join(ref, name), osp.join(work, name))
    # the phase-0 stage checkpoints hold the loaded models
    for m in 'AB':
        got = dmt_model_state(
            _weights(osp.join(work, f'phase0_{m}.pth')), m, 'AB')
        want = dmt_model_state(_weights(sources[m]), m, 'AB')
        assert all(torch.equal(got[k], want[k]) for k in want)
    old, new = _summary(ref), _summary(work)
    assert format_summary(new['stages']) == format_summary(old['stages'])
    assert new['labelling'] == old['labelling']
    for a, b in zip(old['stages'], new['stages']):
        if a['phase']:
            assert a == b
        else:  # validated as phase 0, loaded rather than trained
            assert b['val'] == a['val'] and b['iters'] == 0
            assert b['phase0_from'] == dict(sources, A=exported)[b['model']]
    for m in 'AB':  # the same pseudo labels
        d_ref, d_new = (osp.join(w, 'pseudo_labels', f'for_{m}')
                        for w in (ref, work))
        for name in os.listdir(d_ref):
            assert open(osp.join(d_ref, name), 'rb').read() == open(
                osp.join(d_new, name), 'rb').read(), name


def _labeled_only_cfg(root: str, work: str, seed: int) -> Config:
    """The demo's labelled-only config at test size (2 iterations)."""
    dmt = tiny_cfg(root, work)
    cfg = Config.fromfile(str(LABELED_ONLY))
    cfg.work_dir = work
    cfg.model = copy.deepcopy(dmt.model.segmentor)
    cfg.model.decode_head.loss_decode = dict(type='CrossEntropyLoss')
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False,
                                batch_size=4)
    cfg.train_dataloader.dataset = dmt.train_dataloader.dataset.labeled
    cfg.train_dataloader.dataset.pipeline = \
        dmt.train_dataloader.dataset.pipeline
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key] = dmt[key]
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.param_scheduler[0].end = 2
    cfg.randomness = dict(seed=seed)
    cfg.default_hooks.checkpoint.update(interval=2, max_keep_ckpts=-1)
    cfg.log_level = 'WARNING'
    return cfg


@pytest.mark.slow
def test_labeled_only_checkpoints_are_accepted(tiny_scenes, tmp_path):
    sources = {}
    for m, seed in (('A', 0), ('B', 1)):
        work = str(tmp_path / f'sup_{m}')
        _train(_labeled_only_cfg(tiny_scenes, work, seed))
        sources[m] = osp.join(work, 'iter_2.pth')
    work = str(tmp_path / 'dmt')
    _train(tiny_cfg(tiny_scenes, work, phase0_from=sources,
                    keep_ratios=(1.0, )))
    rows = _summary(work)['stages']
    assert [(r['model'], r['phase'], r['iters']) for r in rows] == [
        ('A', 0, 0), ('B', 0, 0), ('A', 1, P1), ('B', 1, P1)]
    for m in 'AB':
        plain = _weights(sources[m])
        got = dmt_model_state(
            _weights(osp.join(work, f'phase0_{m}.pth')), m, 'AB')
        assert plain.keys() == got.keys()
        assert all(torch.equal(plain[k], got[k]) for k in plain)


@pytest.mark.slow
def test_chain_loaded_phase0_ends_bit_identical(digits_cls_root, tmp_path,
                                                mmpretrain_scope):
    from test_dmt_chain import tiny_cls_cfg
    ref, work = str(tmp_path / 'ref'), str(tmp_path / 'loaded')
    cfg = tiny_cls_cfg(digits_cls_root, ref)
    cfg.train_cfg.keep_ratios = (0.5, 1.0)
    _train(cfg)
    cfg = tiny_cls_cfg(digits_cls_root, work)
    cfg.train_cfg.update(keep_ratios=(0.5, 1.0),
                         phase0_from=osp.join(ref, 'phase0.pth'))
    runner = _train(cfg)
    assert runner.iter == 2 * 2
    _assert_same_weights(osp.join(ref, 'phase2.pth'),
                         osp.join(work, 'phase2.pth'))
    old, new = _summary(ref), _summary(work)
    assert format_summary(new['stages'], 'accuracy/top1') == \
        format_summary(old['stages'], 'accuracy/top1')
    assert new['stages'][1:] == old['stages'][1:]
    assert new['stages'][0]['phase0_from'] == osp.join(ref, 'phase0.pth')


# ------------------------------------------------------------------ errors
def test_form_errors_name_the_field_and_value():
    with pytest.raises(ValueError, match=r"phase0_from names model 'C', "
                       r"which is not one of model.model_names \('A', 'B'\)"):
        check_phase0_from(dict(A='a.pth', C='c.pth'), 'mutual', 'AB')
    with pytest.raises(ValueError, match="no checkpoint for model 'B'"):
        check_phase0_from(dict(A='a.pth'), 'mutual', 'AB')
    with pytest.raises(TypeError, match="maps each model to a checkpoint.*"
                       "got 'a.pth'"):
        check_phase0_from('a.pth', 'mutual', 'AB')
    with pytest.raises(TypeError, match=r"chain \(procedure='chain'\) is the "
                       "path of one checkpoint, got {'A': 'a.pth'}"):
        check_phase0_from(dict(A='a.pth'), 'chain', ())
    with pytest.raises(ValueError, match="or load_from, not both; got "
                       "load_from='x.pth'"):
        check_phase0_from('a.pth', 'chain', (), dict(load_from='x.pth'))
    # the checkpoint a --resume continues from is no conflict
    assert check_phase0_from('a.pth', 'chain', (), dict(
        load_from='x.pth', resume=True)) == {None: 'a.pth'}


def test_checkpoint_errors(tmp_path):
    template = dict(w=torch.zeros(2, 3), b=torch.zeros(2))

    def save(name, state):
        path = str(tmp_path / name)
        torch.save(dict(state_dict=state), path)
        return path

    a = save('a.pth', dict(w=torch.ones(2, 3), b=torch.ones(2)))
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match=r"phase0_from.B: checkpoint "
                       f"'{missing}' not found"):
        load_phase0_states(dict(A=a, B=missing), template)
    other = save('other.pth', dict(w=torch.ones(2, 3), c=torch.ones(2)))
    with pytest.raises(ValueError, match=r"phase0_from.B: the weights in "
                       rf"{other} do not fit model B: missing keys \['b'\] "
                       r"\(1 in all\), unexpected keys \['c'\]"):
        load_phase0_states(dict(A=a, B=other), template)
    wide = save('wide.pth', dict(w=torch.ones(2, 4), b=torch.ones(2)))
    with pytest.raises(ValueError, match=r"w has shape \(2, 4\) in .*wide.pth"
                       r" but \(2, 3\) in model A"):
        load_phase0_states(dict(A=wide, B=a), template)
    copy_of_a = save('copy.pth', dict(w=torch.ones(2, 3), b=torch.ones(2)))
    with pytest.raises(ValueError, match="gives models A and B the same "
                       "weights .*nothing to disagree about"):
        load_phase0_states(dict(A=a, B=copy_of_a), template)
    b = save('b.pth', dict(w=torch.ones(2, 3), b=torch.zeros(2)))
    states = load_phase0_states(dict(A=a, B=b), template)
    assert torch.equal(states['B']['b'], torch.zeros(2))
    # a stage checkpoint of a DMT run: the model of the same name is taken
    dmt = save('phase0_B.pth', {
        'student.w': torch.full((2, 3), 2.), 'student.b': torch.ones(2),
        'bank.w': torch.full((2, 3), 3.), 'bank.b': torch.ones(2),
        'active_index': torch.tensor(1)})
    states = load_phase0_states(dict(A=dmt, B=dmt), template, 'AB')
    assert states['A']['w'][0, 0] == 3 and states['B']['w'][0, 0] == 2
    with pytest.raises(ValueError, match='two-model DMTSegmentor checkpoint'):
        load_phase0_states({None: dmt}, template)


@pytest.mark.slow
def test_bad_checkpoint_fails_before_any_training(tiny_scenes, tmp_path):
    work = str(tmp_path / 'bad')
    bad = str(tmp_path / 'bad.pth')
    torch.save(dict(state_dict=dict(conv=torch.zeros(1))), bad)
    cfg = tiny_cfg(tiny_scenes, work, phase0_from=dict(A=bad, B=bad))
    with fast_cpu_context():
        runner = Runner.from_cfg(cfg)
        with pytest.raises(ValueError, match=r"phase0_from.A: the weights in "
                           r".*bad.pth do not fit model A: missing keys "
                           r"\['backbone.conv1.weight'"):
            runner.train()
    assert runner.iter == 0
    assert not [f for f in os.listdir(work) if f.endswith('.pth')]
