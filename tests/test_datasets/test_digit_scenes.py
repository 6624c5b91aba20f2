# Copyright (c) dmt_mm contributors. All rights reserved.
"""Tests of the digit scenes converter, dataset class and base config."""
import importlib.util
import json
import os
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SMALL = dict(num_train=40, num_val=12, num_labeled=5, size=48)


def _load_converter():
    path = REPO / 'tools' / 'dataset_converters' / 'digit_scenes.py'
    spec = importlib.util.spec_from_file_location('digit_scenes_converter',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


conv = _load_converter()


def _read_split(root, name):
    with open(osp.join(root, 'splits', name + '.txt')) as f:
        return [line.strip() for line in f if line.strip()]


def _all_bytes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('digit_scenes'))
    summary = conv.build_digit_scenes(root, seed=0, **SMALL)
    return root, summary


def test_layout_and_splits(small_set):
    root, summary = small_set
    assert summary['skipped'] is False
    assert summary['train'] == 40 and summary['val'] == 12
    for sub in ('img_dir/train', 'ann_dir/train', 'img_dir/val',
                'ann_dir/val'):
        assert osp.isdir(osp.join(root, sub))
    train_files = sorted(os.listdir(osp.join(root, 'img_dir/train')))
    train_stems = [f[:-4] for f in train_files]
    assert len(train_stems) == 40
    assert sorted(os.listdir(osp.join(root, 'ann_dir/train'))) == train_files

    a = _read_split(root, 'labeled_a')
    b = _read_split(root, 'labeled_b')
    unl = _read_split(root, 'unlabeled')
    val = _read_split(root, 'val')
    assert len(a) == len(b) == 5
    assert len(unl) == 40 - 10
    assert not set(a) & set(b)
    assert not (set(a) | set(b)) & set(unl)
    assert sorted(a + b + unl) == train_stems
    assert all('.' not in s for s in a + b + unl + val)
    val_files = sorted(os.listdir(osp.join(root, 'img_dir/val')))
    assert sorted(val) == [f[:-4] for f in val_files] and len(val) == 12
    # one shared labelled subset per split seed, the rest unlabelled
    subsets = []
    for s in (0, 1, 2):
        lab = _read_split(root, f'labeled_seed{s}')
        rest = _read_split(root, f'unlabeled_seed{s}')
        assert len(lab) == 5 and sorted(lab + rest) == train_stems
        subsets.append(tuple(lab))
    assert len(set(subsets)) == 3  # the seeds draw different subsets

    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    assert meta['args'] == dict(
        num_train=40,
        num_val=12,
        num_labeled=5,
        size=48,
        seed=0,
        val_fraction=0.3,
        split_seeds=[0, 1, 2, 3, 4],
        num_heldout=100,
        budgets=[])
    assert meta['classes'] == ['background'] + [str(d) for d in range(10)]
    assert meta['counts'] == dict(
        train=40, val=12, labeled_a=5, labeled_b=5, unlabeled=30, heldout=0,
        pool=0)
    assert not osp.exists(osp.join(root, 'splits', 'heldout.txt'))
    assert meta['content_hash'] == summary['content_hash']
    assert meta['content_hash'].startswith('sha256:')


def test_images_and_labels(small_set):
    root, _ = small_set
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    _, targets = conv.load_source_digits()
    for split in ('train', 'val'):
        counts = np.zeros(11, dtype=np.int64)
        for stem, sources in meta['scene_sources'][split].items():
            img = np.array(
                Image.open(osp.join(root, 'img_dir', split, stem + '.png')))
            label_img = Image.open(
                osp.join(root, 'ann_dir', split, stem + '.png'))
            assert label_img.mode == 'L'
            label = np.array(label_img)
            assert img.shape == (48, 48, 3) and img.dtype == np.uint8
            assert label.shape == img.shape[:2] and label.dtype == np.uint8
            assert label.max() <= 10
            assert (conv.NUM_DIGITS_RANGE[0] <= len(sources)
                    <= conv.NUM_DIGITS_RANGE[1])
            assert len(set(sources)) == len(sources)
            # Every labelled digit class comes from a pasted source digit,
            # and there is background.
            present = set(np.unique(label).tolist())
            assert 0 in present and len(present) >= 2
            assert present - {0} <= {int(targets[s]) + 1 for s in sources}
            counts += np.bincount(label.ravel(), minlength=11)
        assert counts.tolist() == meta['class_pixel_counts'][split]
    # The textured background is not flat.
    img = np.array(
        Image.open(osp.join(root, 'img_dir/train', 'train_00000.png')))
    assert img.reshape(-1, 3).std(0).min() > 5


def test_digit_pixels_contrast_with_background(small_set):
    root, _ = small_set
    img = np.array(
        Image.open(osp.join(root, 'img_dir/train/train_00001.png')),
        dtype=np.float64)
    label = np.array(
        Image.open(osp.join(root, 'ann_dir/train/train_00001.png')))
    lum = img @ np.array([0.299, 0.587, 0.114])
    for cls in np.unique(label[label > 0]):
        # Mean luminance of a digit differs clearly from the background
        # right around it (the bounding box, excluding any digit pixels).
        ys, xs = np.nonzero(label == cls)
        box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        bg = lum[box][label[box] == 0]
        if bg.size > 20:
            assert abs(lum[label == cls].mean() - bg.mean()) > 20


def test_pools_disjoint(small_set):
    root, _ = small_set
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    _, targets = conv.load_source_digits()
    assert len(targets) == 1797
    train_pool, val_pool = conv.split_digit_pools(targets, 0.3, seed=0)
    assert not set(train_pool.tolist()) & set(val_pool.tolist())
    assert len(train_pool) + len(val_pool) == 1797
    assert meta['pools']['train'] == len(train_pool)
    assert meta['pools']['val'] == len(val_pool)
    # Stratified: each class keeps about 30 % of its images for val.
    for c in range(10):
        n_c = int((targets == c).sum())
        assert int((targets[val_pool] == c).sum()) == round(0.3 * n_c)
    used_train = {
        s
        for v in meta['scene_sources']['train'].values()
        for s in v
    }
    used_val = {s for v in meta['scene_sources']['val'].values() for s in v}
    assert used_train <= set(train_pool.tolist())
    assert used_val <= set(val_pool.tolist())
    assert not used_train & used_val


def test_deterministic(small_set, tmp_path):
    root, summary = small_set
    again = conv.build_digit_scenes(str(tmp_path / 'again'), seed=0, **SMALL)
    assert again['content_hash'] == summary['content_hash']
    assert _all_bytes(root) == _all_bytes(str(tmp_path / 'again'))
    other = conv.build_digit_scenes(str(tmp_path / 'other'), seed=1, **SMALL)
    assert other['content_hash'] != summary['content_hash']
    a = open(osp.join(root, 'img_dir/train/train_00000.png'), 'rb').read()
    b = open(str(tmp_path / 'other/img_dir/train/train_00000.png'),
             'rb').read()
    assert a != b


def test_skip_if_exists(tmp_path):
    root = str(tmp_path / 'ds')
    args = dict(num_train=8, num_val=3, num_labeled=2, size=40)
    first = conv.build_digit_scenes(root, **args)
    img = osp.join(root, 'img_dir/train/train_00000.png')
    os.utime(img, (1, 1))  # mark: a regeneration would rewrite the file

    second = conv.build_digit_scenes(root, **args)
    assert second['skipped'] is True
    assert second['content_hash'] == first['content_hash']
    assert os.stat(img).st_mtime == 1

    # Through the command line, default --skip-if-exists.
    summary = conv.main([
        '-o', root, '--num-train', '8', '--num-val', '3', '--num-labeled', '2',
        '--size', '40', '--budgets'
    ])
    assert summary['skipped'] is True and os.stat(img).st_mtime == 1

    # --no-skip-if-exists regenerates the same content.
    summary = conv.main([
        '-o', root, '--num-train', '8', '--num-val', '3', '--num-labeled', '2',
        '--size', '40', '--budgets', '--no-skip-if-exists'
    ])
    assert summary['skipped'] is False and os.stat(img).st_mtime != 1
    assert summary['content_hash'] == first['content_hash']

    # A missing file triggers regeneration.
    os.remove(osp.join(root, 'ann_dir/val/val_00002.png'))
    third = conv.build_digit_scenes(root, **args)
    assert third['skipped'] is False
    assert osp.isfile(osp.join(root, 'ann_dir/val/val_00002.png'))

    # Different arguments regenerate and leave no stale scene behind.
    fourth = conv.build_digit_scenes(
        root, num_train=6, num_val=2, num_labeled=1, size=40)
    assert fourth['skipped'] is False
    assert len(os.listdir(osp.join(root, 'img_dir/train'))) == 6
    assert len(os.listdir(osp.join(root, 'ann_dir/val'))) == 2
    with open(osp.join(root, 'meta.json')) as f:
        assert json.load(f)['args']['num_train'] == 6


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_train=10, num_labeled=5), r'num_labeled=5.*num_train=10'),
    (dict(num_train=10, num_labeled=6), r'num_labeled=6'),
    (dict(num_train=0), r'num_train must be positive, but got 0'),
    (dict(num_val=-3), r'num_val must be positive, but got -3'),
    (dict(num_labeled=0), r'num_labeled must be positive, but got 0'),
    (dict(size=16), r'size must be at least 40.*got 16'),
    (dict(seed=-1), r'seed must be non-negative, but got -1'),
    (dict(val_fraction=1.0), r'val_fraction.*1\.0'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    args = dict(num_train=10, num_val=2, num_labeled=2, size=40)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        conv.build_digit_scenes(str(tmp_path / 'bad'), **args)
    assert not osp.exists(tmp_path / 'bad')


def test_bad_argument_types(tmp_path):
    with pytest.raises(TypeError, match='num_train must be an int'):
        conv.build_digit_scenes(str(tmp_path), num_train=10.0)
    with pytest.raises(ValueError, match='num_labeled=20'):
        conv.main(
            ['-o',
             str(tmp_path), '--num-train', '40', '--num-labeled', '20'])


# ---------------------------------------------------------------------------
# Dataset class and base config
# ---------------------------------------------------------------------------


@pytest.fixture
def mmseg_scope():
    from mmengine.registry import DefaultScope
    pytest.importorskip('mmseg')
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


@pytest.fixture(scope='module')
def base_cfg():
    from mmengine.config import Config
    return Config.fromfile(
        str(REPO / 'configs/_base_/datasets/digit_scenes.py'))


def test_dataset_labelled(small_set):
    from dmt_mm.datasets.digit_scenes import DigitScenesDataset
    root, _ = small_set
    ds = DigitScenesDataset(
        data_root=root,
        ann_file='splits/labeled_a.txt',
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'))
    stems = _read_split(root, 'labeled_a')
    assert len(ds) == 5
    assert len(ds.metainfo['classes']) == 11
    assert len(ds.metainfo['palette']) == 11
    assert ds.metainfo['classes'][0] == 'background'
    assert ds.metainfo['reduce_zero_label'] is False
    for i, stem in enumerate(stems):
        info = ds.get_data_info(i)
        assert info['img_path'] == osp.join(root, 'img_dir/train',
                                            stem + '.png')
        assert info['seg_map_path'] == osp.join(root, 'ann_dir/train',
                                                stem + '.png')
        assert osp.isfile(info['seg_map_path'])


def test_dataset_unlabelled(small_set):
    from dmt_mm.datasets.digit_scenes import DigitScenesDataset
    root, _ = small_set
    ds = DigitScenesDataset(
        data_root=root,
        ann_file='splits/unlabeled.txt',
        data_prefix=dict(img_path='img_dir/train'))
    assert len(ds) == 30
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert all(info['seg_map_path'] is None for info in infos)
    assert [osp.basename(i['img_path'])[:-4] for i in infos] == \
        _read_split(root, 'unlabeled')
    # A bare image folder (no split file), seg_map_path=None spelled out.
    ds = DigitScenesDataset(
        data_root=root,
        data_prefix=dict(img_path='img_dir/train', seg_map_path=None))
    assert len(ds) == 40
    assert ds.get_data_info(0)['seg_map_path'] is None


def test_dataset_missing_paths(small_set, tmp_path):
    from dmt_mm.datasets.digit_scenes import DigitScenesDataset
    root, _ = small_set
    missing = osp.join(root, 'splits', 'nope.txt')
    with pytest.raises(FileNotFoundError, match=missing):
        DigitScenesDataset(
            data_root=root,
            ann_file='splits/nope.txt',
            data_prefix=dict(
                img_path='img_dir/train', seg_map_path='ann_dir/train'))
    empty = str(tmp_path / 'empty')
    with pytest.raises(
            FileNotFoundError, match=osp.join(empty, 'img_dir/train')):
        DigitScenesDataset(
            data_root=empty, data_prefix=dict(img_path='img_dir/train'))


def test_pipelines(small_set, base_cfg, mmseg_scope):
    from mmseg.registry import DATASETS

    import dmt_mm.datasets.digit_scenes  # noqa: F401 (registers the class)
    root, _ = small_set
    assert base_cfg.dataset_type == 'DigitScenesDataset'
    assert base_cfg.val_evaluator['type'] == 'IoUMetric'

    cfg = base_cfg.train_dataloader.dataset.copy()
    cfg.data_root = root
    ds = DATASETS.build(cfg)
    assert len(ds) == 5
    for i in range(2):
        out = ds[i]
        # crops are at most 48x48 (a scene scaled below 48 px stays whole)
        c, h, w = out['inputs'].shape
        assert c == 3 and h <= 48 and w <= 48
        seg = out['data_samples'].gt_sem_seg.data
        assert tuple(seg.shape) == (1, h, w)
        assert int(seg.max()) <= 10

    cfg = base_cfg.val_dataloader.dataset.copy()
    cfg.data_root = root
    ds = DATASETS.build(cfg)
    assert len(ds) == 12
    out = ds[0]
    # The test pipeline resizes 48 -> 64 and keeps the label at 48.
    assert tuple(out['inputs'].shape) == (3, 64, 64)
    assert tuple(out['data_samples'].gt_sem_seg.data.shape) == (1, 48, 48)

    cfg = base_cfg.unlabeled_dataset.copy()
    cfg.data_root = root
    cfg.pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    ds = DATASETS.build(cfg)
    assert len(ds) == 35  # seed 0's split: every train scene but its 5 labels
    out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 48, 48)
    assert 'gt_sem_seg' not in out['data_samples']


def test_pool_lists_hold_out_scenes_and_nest_budgets(tmp_path):
    root = str(tmp_path / 'pool')
    conv.main(['-o', root, '--num-train', '30', '--num-val', '4',
               '--num-labeled', '3', '--size', '40', '--split-seeds', '0',
               '1', '--num-heldout', '6', '--budgets', '5', '10'])
    heldout = set(_read_split(root, 'heldout'))
    pool = set(_read_split(root, 'pool'))
    train = set(_read_split(root, 'labeled_seed0')) | set(
        _read_split(root, 'unlabeled_seed0'))
    assert len(heldout) == 6 and not heldout & pool and heldout | pool == train
    for s in (0, 1):
        lab5 = _read_split(root, f'pool_labeled5_seed{s}')
        lab10 = _read_split(root, f'pool_labeled10_seed{s}')
        unl10 = _read_split(root, f'pool_unlabeled10_seed{s}')
        assert len(lab5) == 5 and set(lab5) < set(lab10)  # nested
        assert sorted(lab10 + unl10) == sorted(pool)
        # difference-maximised: each drops a different ceil(0.2 * 10) = 2
        a = _read_split(root, f'pool_labeled10_seed{s}_a')
        b = _read_split(root, f'pool_labeled10_seed{s}_b')
        assert len(a) == len(b) == 8 and len(set(a) & set(b)) == 6
        assert set(a) | set(b) == set(lab10)
    assert _read_split(root, 'pool_labeled10_seed0') != _read_split(
        root, 'pool_labeled10_seed1')
    with pytest.raises(ValueError, match='num_heldout=40'):
        conv.build_digit_scenes(str(tmp_path / 'bad'), num_train=30,
                                num_labeled=3, size=40, num_heldout=40,
                                budgets=(5, ))
    assert not osp.exists(str(tmp_path / 'bad'))  # refused before writing
