# Copyright (c) dmt_mm contributors. All rights reserved.
"""SemiClsDataset, the global curriculum cut, pseudo-label arrays and the
sampler's batch ratio, on the bundled digits."""
import os.path as osp

import numpy as np
import pytest

from dmt_mm.datasets import (LabeledPseudoSampler, SemiClsDataset,
                             dmt_cls_pipeline)
from dmt_mm.utils.curriculum import num_kept, rank_and_cut
from dmt_mm.utils.pseudo_label_io import (CLS_PSEUDO_DTYPE,
                                          load_cls_pseudo_labels,
                                          save_cls_pseudo_labels)

CLASSES = tuple(str(d) for d in range(10))
TRAIN = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='PackInputs'),
]
TEST = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def _sub(root, ann, **kw):
    return dict(
        type='CustomDataset',
        data_root=root,
        ann_file=ann,
        classes=CLASSES,
        **kw)


def _dataset(root, labeled=None, unlabeled=None, **kw):
    return SemiClsDataset(
        labeled=labeled or _sub(root, 'meta/labeled_50_seed0.txt'),
        unlabeled=unlabeled
        or _sub(root, 'meta/unlabeled_50_seed0.txt', indices=30),
        pipeline=TRAIN,
        label_pipeline=TEST,
        **kw)


def _ann_labels(root, ann):
    with open(osp.join(root, ann)) as f:
        return [int(line.split()[1]) for line in f.read().splitlines()]


@pytest.fixture
def ds(digits_cls_root, mmpretrain_scope):
    return _dataset(digits_cls_root)


def test_layout_and_labelled_samples(ds):
    assert len(ds) == 50 + 30 and ds.num_unlabeled == 30
    assert ds.num_classes == 10 and ds.labeled_class_counts == [5] * 10
    assert ds.labeled_indices().tolist() == list(range(50))
    assert not ds.pseudo_enabled and ds.pseudo_indices().size == 0
    out = ds[3]
    sample = out['data_samples']
    assert tuple(out['inputs'].shape) == (3, 32, 32)
    assert sample.metainfo['is_pseudo'] is False
    assert 'teacher_conf' not in sample
    with pytest.raises(RuntimeError, match='no pseudo labels'):
        ds[60]
    # stage length of a DMT epoch: the samples a keep ratio keeps
    assert ds.num_pseudo_samples(0.2) == 6
    assert ds.num_pseudo_samples(None) == 30


def test_pseudo_samples_carry_label_conf_and_flag(ds, digits_cls_root):
    hidden = ds.hidden_labels()
    assert hidden.tolist() == _ann_labels(
        digits_cls_root, 'meta/unlabeled_50_seed0.txt')[:30]
    labels = (hidden + 1) % 10  # all wrong on purpose
    confs = np.linspace(0.1, 0.9, 30)
    arr = rank_and_cut(labels, confs, 0.2)
    ds.set_pseudo_source(arr)
    assert ds.pseudo_enabled
    # the 6 most confident: the last 6 samples
    assert ds.pseudo_indices().tolist() == [50 + j for j in range(24, 30)]
    out = ds[50 + 29]
    s = out['data_samples']
    assert s.metainfo['is_pseudo'] is True
    assert int(s.gt_label) == labels[29]  # the pseudo label, not the truth
    assert float(s.teacher_conf) == pytest.approx(0.9, abs=1e-6)
    assert int(s.true_label) == hidden[29]  # kept aside for diagnostics
    assert 'true_label' not in ds[3]['data_samples']
    with pytest.raises(IndexError, match='below the curriculum cut'):
        ds[50]
    ds.set_pseudo_source(None)
    assert not ds.pseudo_enabled


def test_labelling_view_hides_nothing_but_trains_nothing(ds):
    view = ds.labeling_view(range(1, 30, 2))
    assert len(view) == 15
    out = view[2]
    assert out['data_samples'].metainfo['unlabeled_index'] == 5
    # test pipeline: no augmentation
    assert tuple(out['inputs'].shape) == (3, 32, 32)


def test_split_file_indices(digits_cls_root, mmpretrain_scope, tmp_path):
    split = tmp_path / 'labeled.txt'
    # 2 of every class from the train list, by index
    labels = _ann_labels(digits_cls_root, 'meta/train.txt')
    picked = [i for c in range(10) for i in
              [j for j, v in enumerate(labels) if v == c][:2]]
    split.write_text('\n'.join(map(str, picked)) + '\n')
    ds = _dataset(
        digits_cls_root,
        labeled=_sub(digits_cls_root, 'meta/train.txt', indices=str(split)))
    assert len(ds.labeled[0]) == 20 and ds.labeled_class_counts == [2] * 10
    # relative to data_root
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'l.txt').write_text(split.read_text())
    cfg = _sub(digits_cls_root, 'meta/train.txt')
    cfg['data_root'] = digits_cls_root
    with pytest.raises(FileNotFoundError, match='does not exist'):
        _dataset(digits_cls_root,
                 labeled=dict(cfg, indices='meta/missing_split.txt'))


@pytest.mark.parametrize('indices, match', [
    ([0, 1, 99999], r'outside \[0, 1297\)'),
    (list(range(1297)) + [0], 'lists 1298 samples but the dataset'),
    ([0, 1, 1, 2], 'repeats indices'),
    (2000, 'asks for more samples'),
])
def test_bad_indices(digits_cls_root, mmpretrain_scope, indices, match):
    with pytest.raises(ValueError, match=match):
        _dataset(
            digits_cls_root,
            labeled=_sub(digits_cls_root, 'meta/train.txt', indices=indices))


def test_bad_split_file_lines(digits_cls_root, mmpretrain_scope, tmp_path):
    bad = tmp_path / 'bad.txt'
    bad.write_text('1\n2\nthree\n')
    with pytest.raises(ValueError, match=r'bad.txt:3: expected one integer'):
        _dataset(
            digits_cls_root,
            labeled=_sub(digits_cls_root, 'meta/train.txt', indices=str(bad)))
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n')
    with pytest.raises(ValueError, match='is empty'):
        _dataset(
            digits_cls_root,
            labeled=_sub(digits_cls_root, 'meta/train.txt',
                         indices=str(empty)))


def test_labelled_subset_missing_a_class(digits_cls_root, mmpretrain_scope,
                                         tmp_path):
    labels = _ann_labels(digits_cls_root, 'meta/train.txt')
    no_seven = [i for c in range(10) if c != 7 for i in
                [j for j, v in enumerate(labels) if v == c][:4]]
    with pytest.raises(ValueError, match=r'no sample of class\(es\) 7 \(7\)'):
        _dataset(
            digits_cls_root,
            labeled=_sub(digits_cls_root, 'meta/train.txt', indices=no_seven))


def test_class_count_mismatch_and_empty(digits_cls_root, mmpretrain_scope,
                                        tmp_path):
    with pytest.raises(ValueError, match='unlabeled dataset has 11 classes'):
        _dataset(
            digits_cls_root,
            unlabeled=dict(
                _sub(digits_cls_root, 'meta/unlabeled_50_seed0.txt'),
                classes=CLASSES + ('x', )))
    empty = tmp_path / 'empty_ann.txt'
    empty.write_text('')
    with pytest.raises(ValueError, match='unlabeled dataset is empty'):
        _dataset(
            digits_cls_root,
            unlabeled=_sub(digits_cls_root, str(empty)))
    with pytest.raises(ValueError, match='label_pipeline is required'):
        SemiClsDataset(
            labeled=_sub(digits_cls_root, 'meta/labeled_50_seed0.txt'),
            unlabeled=_sub(digits_cls_root, 'meta/unlabeled_50_seed0.txt'),
            pipeline=TRAIN)


def test_pipeline_packs_dmt_keys():
    steps = dmt_cls_pipeline(TRAIN)
    pack = steps[-1]
    assert pack['algorithm_keys'] == ('teacher_conf', 'true_label')
    assert 'is_pseudo' in pack['meta_keys'] and 'img_path' in pack['meta_keys']
    assert steps[:2] == TRAIN[:2] and 'algorithm_keys' not in TRAIN[-1]
    again = dmt_cls_pipeline(steps)
    assert again[-1]['meta_keys'].count('is_pseudo') == 1
    with pytest.raises(ValueError, match='must end with PackInputs'):
        dmt_cls_pipeline(TRAIN[:2])


# ---------------------------------------------------------- the global cut
def test_rank_and_cut_hand_example():
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    confs = np.array([0.5, 0.9, 0.5, 0.2, 0.95, 0.5, 0.1, 0.7])
    # keep round(8 * 0.5) = 4: 0.95, 0.9, 0.7, then the tie at 0.5 goes to
    # the lowest index (0)
    arr = rank_and_cut(labels, confs, 0.5)
    assert arr.dtype == CLS_PSEUDO_DTYPE
    assert np.flatnonzero(arr['kept']).tolist() == [0, 1, 4, 7]
    assert arr['label'].tolist() == labels.tolist()
    np.testing.assert_allclose(arr['conf'], confs.astype(np.float32))
    assert rank_and_cut(labels, confs, 1.0)['kept'].all()
    # at least one sample, never more than all
    assert num_kept(8, 0.01) == 1 and num_kept(8, 1.0) == 8
    assert num_kept(46000, 0.2) == 9200
    with pytest.raises(ValueError, match=r'keep_ratio must be in \(0, 1\]'):
        num_kept(8, 0)
    with pytest.raises(ValueError, match='same length'):
        rank_and_cut(labels, confs[:3], 0.5)


def test_pseudo_array_roundtrip(tmp_path, ds):
    arr = rank_and_cut(np.arange(30) % 10, np.linspace(0, 1, 30), 0.4)
    path = str(tmp_path / 'pl' / 'phase2.npy')
    save_cls_pseudo_labels(path, arr)
    back = load_cls_pseudo_labels(path)
    np.testing.assert_array_equal(back, arr)
    ds.set_pseudo_source(path)
    assert len(ds.pseudo_indices()) == 12
    np.save(str(tmp_path / 'wrong.npy'), np.zeros(3))
    with pytest.raises(ValueError, match='not pseudo labels'):
        load_cls_pseudo_labels(str(tmp_path / 'wrong.npy'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_cls_pseudo_labels(str(tmp_path / 'nope.npy'))
    with pytest.raises(ValueError, match=r'of shape \(30,\)'):
        ds.set_pseudo_source(arr[:10])


# ----------------------------------------------------------- batch ratio
def test_sampler_source_ratio(ds):
    s = LabeledPseudoSampler(ds, batch_size=512, source_ratio=(1, 31), seed=0)
    assert s.num_labeled == 16 and s.num_pseudo == 496
    s = LabeledPseudoSampler(ds, batch_size=8, source_ratio=[1, 3], seed=0)
    ds.set_pseudo_source(rank_and_cut(np.zeros(30, int),
                                      np.linspace(0, 1, 30), 0.5))
    it = iter(s)
    batch = [next(it)[0] for _ in range(16)]
    lab = set(ds.labeled_indices().tolist())
    pseudo = set(ds.pseudo_indices().tolist())
    for b in (batch[:8], batch[8:]):
        assert all(i in lab for i in b[:2])
        assert all(i in pseudo for i in b[2:])
    with pytest.raises(ValueError, match='does not divide the batch: '
                       'batch_size 500 is not a multiple of 32'):
        LabeledPseudoSampler(ds, batch_size=500, source_ratio=(1, 31))
    with pytest.raises(ValueError, match='two positive ints'):
        LabeledPseudoSampler(ds, batch_size=8, source_ratio=(0, 8))
    with pytest.raises(ValueError, match='exactly one of num_labeled'):
        LabeledPseudoSampler(ds, batch_size=8, num_labeled=2,
                             source_ratio=(1, 3))


def test_unlabelled_set_without_labels(digits_cls_root, mmpretrain_scope):
    ds = _dataset(
        digits_cls_root,
        unlabeled=_sub(digits_cls_root, 'meta/unlabeled_50_seed0.txt',
                       indices=12, with_label=False))
    assert not ds.has_unlabeled_gt and ds.hidden_labels() is None
    assert len(ds.labeling_view()) == 12
