# Copyright (c) dmt_mm contributors. All rights reserved.
"""The labelling pass's consumers: the same histograms, levels and PNG bytes
as the straightforward formula, and no host-device sync per sample."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import load_tool
from mmengine.structures import PixelData
from mmpretrain.structures import DataSample
from mmseg.structures import SegDataSample

from dmt_mm.engine.labelling import ClsLabeller, SegLabeller
from dmt_mm.utils.pseudo_label_io import (CONF_LEVELS, NUM_CONF_LEVELS,
                                          atomic_write_bytes, new_pseudo_dir,
                                          publish_pseudo_dir,
                                          read_pseudo_label, write_manifest)

no_host_sync = load_tool('tests/test_models/sync_guard.py',
                         'sync_guard_for_labelling').no_host_sync
C = 5


def _seg_samples(n=6, with_gt=True, seed=0):
    """Random logits ``(C, H, W)`` of varied sizes and sharpness, some
    pixels with equal logits (confidence 1/C) or one huge logit (level
    255), ground truth with ignored (255) pixels."""
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(n):
        h, w = 7 + 3 * i, 11 + 2 * i
        logits = torch.randn(C, h, w, generator=gen) * (1 + 4 * i)
        logits[:, 0, :3] = 0.5  # a tie: confidence exactly 1/C
        logits[1, 1, :2] = 80.0  # confidence 1.0
        key = f'sub{i % 2}/img_{i}.png'
        s = SegDataSample(metainfo=dict(pseudo_key=key,
                                        img_path=f'img_{i}.jpg'))
        s.seg_logits = PixelData(data=logits)
        if with_gt:
            gt = torch.randint(0, C, (1, h, w), generator=gen)
            gt[0, -2:] = 255
            s.gt_sem_seg = PixelData(data=gt)
        samples.append(s)
    return samples


def _reference(samples, out_dir):
    """The formula before the sync-free rewrite, inlined: bincount,
    boolean indexing, the level table copied per call, atomic writes."""
    import cv2
    table = torch.from_numpy(CONF_LEVELS).float()
    hist = torch.zeros(C * NUM_CONF_LEVELS, dtype=torch.long)
    joint = torch.zeros(C * C * NUM_CONF_LEVELS, dtype=torch.long)
    for s in samples:
        conf, label = s.seg_logits.data.float().softmax(0).max(0)
        idx = torch.searchsorted(table.to(conf.device), conf.contiguous(),
                                 right=True) - 1
        level = idx.clamp_(0, NUM_CONF_LEVELS - 1).to(torch.uint8)
        packed = ((label.to(torch.int32) << 8)
                  | level.to(torch.int32)).numpy().astype(np.uint16)
        ok, buf = cv2.imencode('.png', packed)
        assert ok
        atomic_write_bytes(osp.join(out_dir, s.metainfo['pseudo_key']),
                           buf.tobytes())
        code = label.long() * NUM_CONF_LEVELS + level.long()
        hist += torch.bincount(code.flatten(), minlength=hist.numel())
        gt = s.gt_sem_seg.data[0].long()
        valid = (gt >= 0) & (gt < C)
        jcode = gt[valid] * (C * NUM_CONF_LEVELS) + code[valid]
        joint += torch.bincount(jcode, minlength=joint.numel())
    return (hist.view(C, NUM_CONF_LEVELS).numpy(),
            joint.view(C, C, NUM_CONF_LEVELS).numpy())


def _files(root):
    found = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                found[osp.relpath(path, root)] = f.read()
    return found


@pytest.mark.parametrize('writers', [0, 2])
def test_seg_labeller_matches_the_reference_bit_for_bit(tmp_path, writers):
    samples = _seg_samples()
    ref_hist, ref_joint = _reference(samples, str(tmp_path / 'ref'))
    labeller = SegLabeller(str(tmp_path / 'new'), C, 'cpu', with_gt=True,
                           num_writers=writers)
    for s in samples:
        labeller(s)
    hist, joint = labeller.finish()
    np.testing.assert_array_equal(hist, ref_hist)
    np.testing.assert_array_equal(joint, ref_joint)
    assert hist.sum() == sum(s.seg_logits.data[0].numel() for s in samples)
    assert joint.sum() == sum(
        int((s.gt_sem_seg.data != 255).sum()) for s in samples)
    assert hist[:, 255].sum() >= len(samples)  # the confidence-1.0 pixels
    # the same PNG bytes, written in place: no temporary file is left
    ref, new = _files(tmp_path / 'ref'), _files(tmp_path / 'new')
    assert sorted(new) == sorted(ref) == sorted(
        s.metainfo['pseudo_key'] for s in samples)
    assert new == ref
    label, _ = read_pseudo_label(str(tmp_path / 'new' / 'sub0/img_0.png'))
    np.testing.assert_array_equal(
        label, samples[0].seg_logits.data.argmax(0).numpy())


def test_seg_labeller_without_gt(tmp_path):
    samples = _seg_samples(n=3, with_gt=False)
    labeller = SegLabeller(str(tmp_path), C, 'cpu', with_gt=False)
    for s in samples:
        labeller(s)
    hist, joint = labeller.finish()
    assert joint is None
    assert hist.shape == (C, NUM_CONF_LEVELS)
    assert hist.sum() == sum(s.seg_logits.data[0].numel() for s in samples)


def test_seg_labeller_names_a_ground_truth_of_the_wrong_shape(tmp_path):
    s = _seg_samples(n=1)[0]
    s.gt_sem_seg = PixelData(data=torch.zeros(1, 3, 3, dtype=torch.long))
    labeller = SegLabeller(str(tmp_path), C, 'cpu', with_gt=True)
    with pytest.raises(ValueError, match='img_0.jpg.*shape'):
        labeller(s)
    labeller.finish()


def test_in_place_writes_are_trusted_only_once_published(tmp_path,
                                                        monkeypatch):
    """No temporary file and rename per PNG: a pass writes into a private
    staging directory; a pass that dies is never published, and the next
    publish removes what it left."""
    import tempfile
    final = str(tmp_path / 'pseudo' / 'for_A')
    samples = _seg_samples(n=4)

    def one_pass(count):
        staged = new_pseudo_dir(final)
        labeller = SegLabeller(staged, C, 'cpu', with_gt=False)
        for s in samples[:count]:
            labeller(s)
        labeller.finish()
        return staged

    with monkeypatch.context() as mp:
        mp.setattr(tempfile, 'mkstemp', None)  # no per-file temporary
        first = one_pass(4)
    write_manifest(first, dict(phase=1))
    publish_pseudo_dir(first, final)
    published = _files(final)
    dead = one_pass(2)  # a pass killed before its publish
    assert _files(final) == published  # readers still see the complete set
    third = one_pass(4)
    write_manifest(third, dict(phase=2))
    publish_pseudo_dir(third, final)
    assert not osp.exists(dead)
    assert sorted(os.listdir(tmp_path / 'pseudo')) == sorted(
        ['for_A', osp.basename(third)[:-len('.tmp')]])
    assert _files(final).keys() == published.keys()


class _DeferredWriter:
    """Holds the maps until the guard is lifted: the real writer's threads
    copy to the host and encode by design, off the labelling thread."""

    def __init__(self):
        self.maps = []

    def submit(self, path, label, level):
        self.maps.append((path, label, level))


def _forbid_bincount(monkeypatch):
    # on CUDA, bincount reads its input's maximum back to the host; the CPU
    # guard cannot see that, so it is forbidden outright here
    def raiser(*args, **kwargs):
        raise AssertionError('host-device sync: torch.bincount')

    monkeypatch.setattr(torch, 'bincount', raiser)
    monkeypatch.setattr(torch.Tensor, 'bincount', raiser)


def test_seg_labeller_call_has_no_host_sync(tmp_path, monkeypatch):
    samples = _seg_samples()
    ref_hist, ref_joint = _reference(samples, str(tmp_path / 'ref'))
    labeller = SegLabeller(str(tmp_path / 'new'), C, 'cpu', with_gt=True)
    real_writer, labeller.writer = labeller.writer, _DeferredWriter()
    with monkeypatch.context() as mp:
        _forbid_bincount(mp)
        with no_host_sync():
            for s in samples:
                labeller(s)
    for path, label, level in labeller.writer.maps:
        real_writer.submit(path, label, level)
    labeller.writer = real_writer
    hist, joint = labeller.finish()
    np.testing.assert_array_equal(hist, ref_hist)
    np.testing.assert_array_equal(joint, ref_joint)
    assert _files(tmp_path / 'new') == _files(tmp_path / 'ref')


def test_the_guard_catches_the_reference_formula(tmp_path, monkeypatch):
    samples = _seg_samples(n=1)
    with no_host_sync(), pytest.raises(AssertionError, match='sync'):
        _reference(samples, str(tmp_path))
    with monkeypatch.context() as mp, pytest.raises(AssertionError,
                                                    match='bincount'):
        _forbid_bincount(mp)
        torch.bincount(torch.zeros(3, dtype=torch.long))


def _cls_samples(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, 10, generator=gen).softmax(1)
    samples = []
    for j in range(n):
        s = DataSample(metainfo=dict(unlabeled_index=j))
        s.set_pred_score(scores[j])
        samples.append(s)
    return samples, scores


def test_cls_labeller_call_has_no_host_sync():
    samples, scores = _cls_samples(12)
    labeller = ClsLabeller(12, 'cpu')
    with no_host_sync():
        for s in reversed(samples):
            labeller(s)
    labels, confs = labeller.finish()
    np.testing.assert_array_equal(labels, scores.argmax(1).numpy())
    np.testing.assert_array_equal(
        confs, scores.max(1).values.double().numpy())


def test_cls_labeller_reports_unlabelled_samples():
    samples, _ = _cls_samples(4)
    labeller = ClsLabeller(5, 'cpu')
    for s in samples:
        labeller(s)
    with pytest.raises(RuntimeError, match='1 unlabelled samples'):
        labeller.finish()
