# Copyright (c) dmt_mm contributors. All rights reserved.
"""SemiSegDataset, pseudo-label injection and LabeledPseudoSampler."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmseg.registry import DATASETS

from dmt_mm.datasets import LabeledPseudoSampler, SemiSegDataset
from dmt_mm.datasets.semi_seg_dataset import pseudo_pipeline_from
from dmt_mm.utils.pseudo_label_io import (CONF_LEVELS, encode_confidence,
                                          write_manifest,
                                          write_pseudo_label)

TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(96, 64), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(40, 40)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
BLOCK = 8


def _block_image(h, w, seed):
    """Image made of 8x8 blocks, each with its own colour and block id."""
    rng = np.random.default_rng(seed)
    by, bx = h // BLOCK, w // BLOCK
    ids = np.arange(by * bx).reshape(by, bx)
    colours = rng.permutation(256 * 256)[:by * bx]
    colours = np.stack([colours // 256, colours % 256,
                        np.full_like(colours, 128)], -1).astype(np.uint8)
    block_of = np.kron(ids, np.ones((BLOCK, BLOCK), int))
    return colours[block_of], block_of, colours


@pytest.fixture()
def block_root(tmp_path):
    """A fabricated folder in MMSeg layout: 4 labelled, 3 unlabelled."""
    root = tmp_path / 'blocks'
    for sub in ('img_dir', 'ann_dir'):
        (root / sub).mkdir(parents=True)
    blocks = {}
    for i in range(7):
        img, block_of, colours = _block_image(64, 96, i)
        cv2.imwrite(str(root / 'img_dir' / f'{i}.png'), img[..., ::-1])
        cv2.imwrite(str(root / 'ann_dir' / f'{i}.png'),
                    (block_of % 11).astype(np.uint8))
        blocks[i] = (block_of, colours)
    (root / 'labeled.txt').write_text('0\n1\n2\n3\n')
    (root / 'unlabeled.txt').write_text('4\n5\n6\n')
    return root, blocks


def _cfg(root, ann, with_gt=True, **kw):
    prefix = dict(img_path='img_dir')
    if with_gt:
        prefix['seg_map_path'] = 'ann_dir'
    return dict(type='DigitScenesDataset', data_root=str(root),
                data_prefix=prefix, ann_file=ann, **kw)


def _dataset(root, labeled=None, unlabeled=None, **kw):
    return SemiSegDataset(
        labeled=labeled or _cfg(root, 'labeled.txt'),
        unlabeled=unlabeled or _cfg(root, 'unlabeled.txt', with_gt=False),
        pipeline=TRAIN_PIPELINE,
        label_pipeline=TEST_PIPELINE,
        **kw)


def _write_block_pseudo(ds, pseudo_dir, blocks):
    """Pseudo label = block id % 11, confidence level = block id % 256."""
    for j in range(ds.num_unlabeled):
        stem = osp.splitext(ds.pseudo_key(j))[0]
        block_of, _ = blocks[int(stem)]
        write_pseudo_label(
            osp.join(pseudo_dir, ds.pseudo_key(j)),
            torch.from_numpy(block_of % 11),
            torch.from_numpy(block_of % 256).to(torch.uint8))


def test_pseudo_label_moves_with_the_image(block_root, tmp_path):
    root, blocks = block_root
    ds = _dataset(root)
    pseudo_dir = str(tmp_path / 'pseudo')
    _write_block_pseudo(ds, pseudo_dir, blocks)
    ds.set_pseudo_source(pseudo_dir)
    checked = 0
    flips = set()
    for trial in range(12):
        np.random.seed(trial)
        for idx in ds.pseudo_indices():
            out = ds[int(idx)]
            sample = out['data_samples']
            assert sample.metainfo['is_pseudo'] is True
            flips.add(sample.metainfo['flip'])
            label = sample.gt_sem_seg.data[0].numpy()
            conf = sample.teacher_conf.data[0].numpy()
            assert label.shape == conf.shape == tuple(out['inputs'].shape[1:])
            stem = osp.basename(sample.img_path)[:-4]
            _, colours = blocks[int(stem)]
            # Undo PhotoMetricDistortion? It changes colours, so compare
            # against the geometric truth instead: nearest-neighbour resize,
            # crop and flip keep every label pixel on one block; the
            # confidence of that pixel must be the same block's.
            block_from_label = label.astype(int)
            for b in np.unique(block_from_label):
                mask = block_from_label == b
                levels = encode_confidence(
                    torch.from_numpy(conf[mask])).numpy().astype(int)
                # every pixel with label b carries a block id = b (mod 11)
                assert np.all(levels % 11 == b)
            checked += 1
    assert checked == 36 and flips == {True, False}


def test_pseudo_label_aligned_with_image_pixels(block_root, tmp_path):
    """Without colour jitter, each pixel's colour names its block."""
    root, blocks = block_root
    pipeline = [s for s in TRAIN_PIPELINE
                if s['type'] != 'PhotoMetricDistortion']
    unl = _cfg(root, 'unlabeled.txt', with_gt=False)
    ds = SemiSegDataset(
        labeled=_cfg(root, 'labeled.txt'), unlabeled=unl,
        pipeline=pipeline, label_pipeline=TEST_PIPELINE)
    pseudo_dir = str(tmp_path / 'pseudo')
    _write_block_pseudo(ds, pseudo_dir, blocks)
    ds.set_pseudo_source(pseudo_dir)
    matched = 0
    for trial in range(8):
        np.random.seed(100 + trial)
        for idx in ds.pseudo_indices():
            out = ds[int(idx)]
            sample = out['data_samples']
            img = out['inputs'].permute(1, 2, 0).numpy()  # BGR
            stem = osp.basename(sample.img_path)[:-4]
            block_of, colours = blocks[int(stem)]
            rgb = img[..., ::-1].astype(int)
            code = rgb[..., 0] * 256 + rgb[..., 1]
            lut = {int(c[0]) * 256 + int(c[1]): b
                   for b, c in enumerate(colours)}
            label = sample.gt_sem_seg.data[0].numpy()
            conf = encode_confidence(sample.teacher_conf.data[0]).numpy()
            # block interiors: the pixel and its 8 neighbours share a colour
            # (edges are blended by the bilinear image resize)
            pad = np.pad(code, 1, mode='edge')
            h, w = code.shape
            same = np.ones_like(code, bool)
            for dy in range(3):
                for dx in range(3):
                    same &= pad[dy:dy + h, dx:dx + w] == code
            exact = (same & (rgb[..., 2] == 128) & np.isin(code, list(lut)))
            assert exact.mean() > 0.2
            blk = np.vectorize(lut.get)(code[exact])
            np.testing.assert_array_equal(label[exact], blk % 11)
            np.testing.assert_array_equal(conf[exact], blk % 256)
            matched += int(exact.sum())
    assert matched > 0


def test_curriculum_cut_is_applied_on_load(block_root, tmp_path):
    root, blocks = block_root
    ds = _dataset(root)
    pseudo_dir = str(tmp_path / 'pseudo')
    _write_block_pseudo(ds, pseudo_dir, blocks)
    thresholds = np.full(11, 40, np.uint8)  # block ids < 40 are cut
    write_manifest(pseudo_dir, dict(thresholds_level=thresholds.tolist()))
    ds.set_pseudo_source(pseudo_dir)
    np.testing.assert_array_equal(ds.pseudo_thresholds, thresholds)
    np.random.seed(0)
    sample = ds[int(ds.pseudo_indices()[0])]['data_samples']
    label = sample.gt_sem_seg.data[0].numpy()
    level = encode_confidence(sample.teacher_conf.data[0]).numpy()
    assert np.all(label[level < 40] == 255)
    assert np.all(label[level >= 40] != 255)


def test_labelled_samples_have_no_pseudo_fields(block_root):
    root, _ = block_root
    ds = _dataset(root)
    out = ds[0]
    assert 'teacher_conf' not in out['data_samples']
    assert not out['data_samples'].metainfo.get('is_pseudo', False)
    assert 'seg_map_path' in out['data_samples'].metainfo


def test_unlabelled_gt_is_for_labelling_only(block_root, tmp_path):
    root, blocks = block_root
    ds = _dataset(root, unlabeled=_cfg(root, 'unlabeled.txt'))
    assert ds.has_unlabeled_gt
    view = ds.labeling_view()
    item = view[1]
    meta = item['data_samples'].metainfo
    assert meta['unlabeled_index'] == 1 and meta['pseudo_key'] == '5.png'
    assert 'gt_sem_seg' in item['data_samples']  # for diagnostics
    pseudo_dir = str(tmp_path / 'pseudo')
    _write_block_pseudo(ds, pseudo_dir, blocks)
    ds.set_pseudo_source(pseudo_dir)
    # the training sample carries the pseudo label, not the ground truth
    np.random.seed(0)
    out = ds[int(ds.pseudo_indices()[0])]
    assert out['data_samples'].metainfo.get('seg_map_path') is None
    # ... and, kept aside for the weight diagnostics, the ground truth,
    # moved with the image by the same crop / flip / resize
    truth = out['data_samples'].true_sem_seg.data
    assert truth.shape == out['data_samples'].gt_sem_seg.data.shape
    assert truth.dtype == torch.int64
    # a bare image folder: the labelling pipeline drops LoadAnnotations
    ds2 = _dataset(root)
    assert not ds2.has_unlabeled_gt
    assert 'gt_sem_seg' not in ds2.labeling_view()[0]['data_samples']
    _write_block_pseudo(ds2, pseudo_dir, blocks)
    ds2.set_pseudo_source(pseudo_dir)
    assert 'true_sem_seg' not in ds2[int(ds2.pseudo_indices()[0])][
        'data_samples']


def test_per_model_labelled_sets(block_root):
    root, _ = block_root
    (root / 'labeled_b.txt').write_text('2\n3\n')
    ds = _dataset(root, labeled=[_cfg(root, 'labeled.txt'),
                                 _cfg(root, 'labeled_b.txt')])
    assert len(ds) == 4 + 2 + 3
    np.testing.assert_array_equal(ds.labeled_indices(), [0, 1, 2, 3])
    ds.set_active(1)
    np.testing.assert_array_equal(ds.labeled_indices(), [4, 5])
    assert osp.basename(ds[4]['data_samples'].img_path) == '2.png'
    with pytest.raises(ValueError, match='model index 2'):
        ds.set_active(2)


def test_phase0_labelled_sets(block_root):
    # the public code's VOC 1/106 runs: A and B on two subsets in phase 0,
    # both on the whole labelled set in DMT phases
    root, _ = block_root
    (root / 'labeled_a.txt').write_text('0\n1\n')
    (root / 'labeled_b.txt').write_text('2\n3\n4\n')
    ds = _dataset(root, labeled=_cfg(root, 'labeled.txt'),
                  labeled_phase0=[_cfg(root, 'labeled_a.txt'),
                                  _cfg(root, 'labeled_b.txt')])
    assert ds.num_labeled_sets == 1 and ds.num_phase0_sets == 2
    assert (ds.num_labeled(0, 0), ds.num_labeled(1, 0)) == (2, 3)
    assert ds.num_labeled(0, 1) == ds.num_labeled(1, 3) == 4
    ds.set_active(0, phase=0)
    np.testing.assert_array_equal(ds.labeled_indices(), [4, 5])
    ds.set_active(1, phase=0)
    np.testing.assert_array_equal(ds.labeled_indices(), [6, 7, 8])
    for model in (0, 1):
        ds.set_active(model, phase=2)
        np.testing.assert_array_equal(ds.labeled_indices(), [0, 1, 2, 3])
    with pytest.raises(ValueError, match='one dataset config per model'):
        _dataset(root, labeled=_cfg(root, 'labeled.txt'),
                 labeled_phase0=_cfg(root, 'labeled_a.txt'))


def test_pipeline_rewrite():
    out = pseudo_pipeline_from(TRAIN_PIPELINE)
    names = [s['type'] for s in out]
    assert names[1] == 'LoadPseudoLabel' and names[-1] == 'PackDMTSegInputs'
    assert names[2:-1] == [s['type'] for s in TRAIN_PIPELINE[2:-1]]
    with pytest.raises(ValueError, match='LoadAnnotations'):
        pseudo_pipeline_from([dict(type='LoadImageFromFile')])


# ----------------------------------------------------------------- errors
def test_empty_unlabelled_set(block_root):
    root, _ = block_root
    (root / 'empty.txt').write_text('')
    with pytest.raises(ValueError, match='unlabeled dataset is empty'):
        _dataset(root, unlabeled=_cfg(root, 'empty.txt', with_gt=False))


def test_missing_split_file_names_it(block_root):
    root, _ = block_root
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        _dataset(root, unlabeled=_cfg(root, 'nope.txt', with_gt=False))


def test_missing_image_dir_names_it(block_root):
    root, _ = block_root
    cfg = dict(type='DigitScenesDataset', data_root=str(root),
               data_prefix=dict(img_path='no_such_dir'))
    with pytest.raises(FileNotFoundError, match='no_such_dir'):
        _dataset(root, unlabeled=cfg)


def test_missing_listed_image_names_it(block_root):
    root, _ = block_root
    os.remove(root / 'img_dir' / '5.png')
    with pytest.raises(FileNotFoundError, match='5.png'):
        _dataset(root)


def test_corrupt_image_names_it(block_root):
    root, _ = block_root
    (root / 'img_dir' / '6.png').write_bytes(b'not a png at all')
    _dataset(root)  # 'labeled' verification does not decode unlabelled
    with pytest.raises(ValueError, match=r'corrupt image .*6\.png'):
        _dataset(root, verify='all')


def test_label_value_too_large_names_file_and_classes(block_root):
    root, _ = block_root
    ann = cv2.imread(str(root / 'ann_dir' / '1.png'), cv2.IMREAD_UNCHANGED)
    ann[0, 0] = 11
    cv2.imwrite(str(root / 'ann_dir' / '1.png'), ann)
    with pytest.raises(ValueError, match=r'1\.png.*\[11\] >= num_classes 11'):
        _dataset(root)


def test_class_count_mismatch_between_sets(block_root):
    root, _ = block_root
    other = _cfg(root, 'unlabeled.txt', with_gt=False,
                 metainfo=dict(classes=('background', '0')))
    with pytest.raises(ValueError, match='2 classes'):
        _dataset(root, unlabeled=other)


def test_bad_verify_value(block_root):
    root, _ = block_root
    with pytest.raises(ValueError, match='verify'):
        _dataset(root, verify='everything')


# ---------------------------------------------------------------- sampler
def _take(sampler, n, seeds=False):
    it = iter(sampler)
    items = [next(it) for _ in range(n)]
    return items if seeds else [i for i, _ in items]


def test_sampler_mixes_at_a_fixed_ratio(block_root, tmp_path):
    root, _ = block_root
    ds = _dataset(root)
    sampler = LabeledPseudoSampler(ds, batch_size=4, num_labeled=1, seed=0)
    # phase 0: labelled only
    assert all(i < 4 for i in _take(sampler, 40))
    ds.set_pseudo_source(str(tmp_path))
    idx = np.array(_take(sampler, 4 * 30)).reshape(30, 4)
    assert np.all(idx[:, 0] < 4) and np.all(idx[:, 1:] >= 4)
    # an epoch is one pass over the pseudo set: each of the 3 unlabelled
    # images once per 3 pseudo slots
    first = idx[:1, 1:].ravel()
    assert sorted(first.tolist()) == [4, 5, 6]
    assert len(sampler) == 4  # ceil(3 / 3) batches of 4 per pass


def test_sampler_shards_ranks(block_root, tmp_path, monkeypatch):
    import dmt_mm.datasets.samplers.labeled_pseudo_sampler as mod
    root, _ = block_root
    ds = _dataset(root)
    ds.set_pseudo_source(str(tmp_path))
    streams = []
    for rank in range(2):
        monkeypatch.setattr(mod, 'get_dist_info', lambda r=rank: (r, 2))
        s = LabeledPseudoSampler(ds, batch_size=2, num_labeled=1, seed=3)
        streams.append(np.array(_take(s, 2 * 2)).reshape(2, 2))
    # labelled shards of one pass are disjoint and cover the 4 images
    lab = np.concatenate([s[:, 0] for s in streams])
    assert sorted(lab.tolist()) == [0, 1, 2, 3]


def test_sampler_stream_is_a_function_of_seed_stage_position(block_root,
                                                           tmp_path):
    # what a resumed run relies on: stage s from batch b is the tail of the
    # stage's stream, sample seeds included, whatever came before
    root, _ = block_root
    ds = _dataset(root)
    ds.set_pseudo_source(str(tmp_path))
    sampler = LabeledPseudoSampler(ds, batch_size=4, num_labeled=1, seed=5)
    sampler.set_stage(3)
    full = _take(sampler, 40, seeds=True)
    sampler.set_stage(1)
    other = _take(sampler, 40, seeds=True)
    sampler.set_stage(3, start_batch=6)
    assert _take(sampler, 16, seeds=True) == full[24:40]
    sampler.set_stage(3)
    assert _take(sampler, 40, seeds=True) == full
    assert [i for i, _ in other] != [i for i, _ in full]  # stages differ
    seeds = [s for _, s in full]
    assert len(set(seeds)) == len(seeds)  # one seed per sample


def test_item_with_a_seed_is_reproducible_and_restores_the_rngs(block_root):
    import random
    root, _ = block_root
    ds = _dataset(root)
    np.random.seed(1)
    random.seed(1)
    before = (np.random.rand(), random.random())
    np.random.seed(1)
    random.seed(1)
    a = ds[(0, 123)]['inputs']
    b = ds[(0, 123)]['inputs']
    c = ds[(0, 124)]['inputs']
    assert torch.equal(a, b)  # the random transforms follow the seed
    assert not torch.equal(a, c)
    # the caller's generators continue as if nothing had been drawn
    assert (np.random.rand(), random.random()) == before


@pytest.mark.parametrize('kw,match', [
    (dict(batch_size=4, num_labeled=0), 'num_labeled'),
    (dict(batch_size=4, num_labeled=4), 'num_labeled'),
    (dict(batch_size=0, num_labeled=1), 'batch_size'),
])
def test_sampler_bad_ratio(block_root, kw, match):
    root, _ = block_root
    with pytest.raises(ValueError, match=match):
        LabeledPseudoSampler(_dataset(root), **kw)


def test_built_from_registry(block_root):
    root, _ = block_root
    ds = DATASETS.build(
        dict(type='SemiSegDataset', labeled=_cfg(root, 'labeled.txt'),
             unlabeled=_cfg(root, 'unlabeled.txt', with_gt=False),
             pipeline=TRAIN_PIPELINE, label_pipeline=TEST_PIPELINE))
    assert isinstance(ds, SemiSegDataset) and ds.num_classes == 11
    assert CONF_LEVELS.shape == (256, )


def test_label_check_follows_reduce_zero_label(block_root):
    root, _ = block_root
    ann = cv2.imread(str(root / 'ann_dir' / '1.png'), cv2.IMREAD_UNCHANGED)
    ann[0, 0], ann[0, 1] = 255, 11  # 11 -> class 10, 255 stays ignored
    cv2.imwrite(str(root / 'ann_dir' / '1.png'), ann)
    _dataset(root, labeled=_cfg(root, 'labeled.txt', reduce_zero_label=True))
    ann[0, 2] = 12  # -> class 11: out of range
    cv2.imwrite(str(root / 'ann_dir' / '1.png'), ann)
    with pytest.raises(ValueError, match=r'\[11\] >= num_classes 11'):
        _dataset(root,
                 labeled=_cfg(root, 'labeled.txt', reduce_zero_label=True))
