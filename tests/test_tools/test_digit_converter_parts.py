# Copyright (c) dmt_mm contributors. All rights reserved.
"""The parts of the bundled digit converters (tools/dataset_converters/):
digit_build.py, digit_scene_splits.py and digits_cls_splits.py. The whole
converters are tested in tests/test_datasets/test_digit_scenes.py and
tests/test_tools/test_cls_data_tools.py."""
import json
import os
import os.path as osp
import re
import sys

import numpy as np
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / 'tools' / 'dataset_converters'))
import digit_build  # noqa: E402
import digit_scene_splits  # noqa: E402
import digits_cls_splits  # noqa: E402


def _touch(path, data=b'old'):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def test_digit_build_clears_only_its_stale_files(tmp_path):
    root = str(tmp_path)
    for rel in ('meta.json', 'a/1.png', 'a/keep.png', 'b/2.png', 'c/3.png'):
        _touch(osp.join(root, rel))
    build = digit_build.DigitBuild(root, ('a', 'b', 'missing'),
                                   re.compile(r'^\d+\.png$'))
    left = sorted(
        osp.relpath(osp.join(d, f), root) for d, _, files in os.walk(root)
        for f in files)
    assert left == ['a/keep.png', 'c/3.png']  # c/ is not a build folder
    assert build.written == {}


def test_digit_build_writes_and_records(tmp_path):
    root = str(tmp_path / 'out')
    build = digit_build.DigitBuild(root, (), re.compile('x'))
    build.write_lines('splits/l.txt', ['b', 'a', 3])
    build.write('x/y.bin', b'\0\1')
    build.write_png('img/0.png', np.zeros((4, 5, 3), np.uint8))
    with open(osp.join(root, 'splits/l.txt')) as f:
        assert f.read() == 'b\na\n3\n'
    assert sorted(build.written) == ['img/0.png', 'splits/l.txt', 'x/y.bin']
    assert build.written['img/0.png'] == digit_build.png_bytes(
        np.zeros((4, 5, 3), np.uint8))
    assert not [f for _, _, files in os.walk(root) for f in files
                if f.endswith('.tmp')]
    assert not osp.exists(osp.join(root, 'meta.json'))  # only at the end

    summary = build.finish(dict(args=dict(n=1), counts=dict(train=2),
                                format_version=7))
    with open(osp.join(root, 'meta.json')) as f:
        text = f.read()
    meta = json.loads(text)
    assert text == json.dumps(meta, indent=1, sort_keys=True) + '\n'
    assert meta['content_hash'] == digit_build.content_hash(build.written)
    assert summary == dict(out_dir=root, skipped=False, train=2,
                           content_hash=meta['content_hash'])
    again = digit_build.existing_build_summary(
        root, 7, dict(n=1), lambda meta: ['x/y.bin', 'splits/l.txt'])
    assert again == dict(summary, skipped=True)


def test_scene_split_lists():
    train = [f'train_{i:05d}' for i in range(30)]
    val = ['val_00000', 'val_00001']
    splits = digit_scene_splits.scene_split_lists(
        train, val, num_labeled=4, seed=0, split_seeds=(0, 2))
    assert sorted(splits) == sorted([
        'labeled_a.txt', 'labeled_b.txt', 'unlabeled.txt', 'val.txt',
        'labeled_seed0.txt', 'unlabeled_seed0.txt', 'labeled_seed2.txt',
        'unlabeled_seed2.txt'
    ])
    a, b, u = (splits[f'{k}.txt'] for k in ('labeled_a', 'labeled_b',
                                            'unlabeled'))
    assert len(a) == len(b) == 4 and not set(a) & set(b)
    assert sorted(a + b + u) == train and a == sorted(a)
    assert splits['val.txt'] == val
    for s in (0, 2):
        lab, unl = digit_scene_splits.seed_split_names(s)
        assert len(splits[lab]) == 4
        assert sorted(splits[lab] + splits[unl]) == train
    assert splits['labeled_seed0.txt'] != splits['labeled_seed2.txt']

    pooled = digit_scene_splits.scene_split_lists(
        train, val, 4, 0, (0, ), num_heldout=6, budgets=(5, 10))
    assert len(pooled['heldout.txt']) == 6 and len(pooled['pool.txt']) == 24
    assert {k: v for k, v in pooled.items() if k in splits} == {
        k: v for k, v in splits.items() if k in pooled}
    meta = dict(args=dict(split_seeds=[0], budgets=[5, 10]),
                scene_sources=dict(train={'train_00000': [1]}, val={}))
    files = digit_scene_splits.required_files(meta)
    assert sorted(f[len('splits/'):] for f in files
                  if f.startswith('splits/')) == sorted(pooled)
    assert 'ann_dir/train/train_00000.png' in files


def test_check_pool_args():
    digit_scene_splits.check_pool_args(30, (0, 1), 40, (), 0)  # no budgets
    with pytest.raises(ValueError, match=r'split seeds .* got -1'):
        digit_scene_splits.check_pool_args(30, (0, -1), 6, (5, ), 0)
    with pytest.raises(ValueError, match='num_heldout=40'):
        digit_scene_splits.check_pool_args(30, (0, ), 40, (5, ), 0)
    with pytest.raises(ValueError, match='label budget 30'):
        digit_scene_splits.check_pool_args(30, (0, ), 6, (30, ), 0)


def test_digits_cls_annotation_lists():
    targets = np.repeat(np.arange(10), 6)
    train, val = digits_cls_splits.split_train_val(targets, 2, 0)
    assert np.bincount(targets[val]).tolist() == [2] * 10
    pool = dict(heldout=train[:3].tolist(), pool=train[3:].tolist())
    ann = digits_cls_splits.annotation_lists(train, val, targets, [10, 20],
                                             [1], pool)
    assert sorted(ann) == sorted([
        'meta/classes.txt', 'meta/train.txt', 'meta/val.txt',
        'meta/labeled_10_seed1.txt', 'meta/unlabeled_10_seed1.txt',
        'meta/labeled_20_seed1.txt', 'meta/unlabeled_20_seed1.txt',
        'meta/heldout.txt', 'meta/pool.txt'
    ])
    assert ann['meta/classes.txt'] == [str(c) for c in range(10)]
    i = int(val[0])
    assert f'val/{targets[i]}/{i:04d}.png {targets[i]}' in ann['meta/val.txt']
    for n in (10, 20):
        lab = ann[f'meta/labeled_{n}_seed1.txt']
        unl = ann[f'meta/unlabeled_{n}_seed1.txt']
        assert lab == sorted(lab) and len(lab) == n
        assert sorted(lab + unl) == ann['meta/train.txt']
    assert set(ann['meta/labeled_10_seed1.txt']) < set(
        ann['meta/labeled_20_seed1.txt'])
    assert len(ann['meta/heldout.txt']) == 3


def test_digits_cls_check_args():
    assert digits_cls_splits.check_args((100, 50, 100), 3, 50, 0) == (
        [50, 100], [3])
    with pytest.raises(ValueError, match='^num_labeled must list at least'):
        digits_cls_splits.check_args((), (0, ), 50, 0)
    with pytest.raises(ValueError, match='^seeds must list at least one'):
        digits_cls_splits.check_args((50, ), (), 50, 0)
    with pytest.raises(ValueError, match='^seed must be >= 0, but got -2$'):
        digits_cls_splits.check_args((50, ), (-2, ), 50, 0)
    with pytest.raises(ValueError, match='split_seed must be >= 0'):
        digits_cls_splits.check_args((50, ), (0, ), 50, -1)
