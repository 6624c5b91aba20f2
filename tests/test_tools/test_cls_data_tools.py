# Copyright (c) dmt_mm contributors. All rights reserved.
"""Classification data tools: the digits image folder and CIFAR-10 splits."""
import json
import os
import os.path as osp
from collections import Counter

import numpy as np
import pytest
from mmengine.registry import DefaultScope

from conftest import fabricate_cifar, load_tool

digits_tool = load_tool('tools/dataset_converters/digits_cls.py',
                        'digits_cls_converter_test')
cifar_tool = load_tool('tools/dataset_converters/make_cifar_splits.py',
                       'make_cifar_splits_test')


def _read_ann(path):
    with open(path) as f:
        return [tuple(line.split()) for line in f.read().splitlines()]


# ------------------------------------------------------------------- digits


@pytest.fixture(scope='module')
def digits_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('digits_cls'))
    summary = digits_tool.build_digits_cls(
        root, num_labeled=(50, 100), seeds=(0, 1))
    assert not summary['skipped']
    return root


def test_digits_layout_and_split(digits_root):
    from sklearn.datasets import load_digits
    targets = load_digits().target
    train = _read_ann(osp.join(digits_root, 'meta', 'train.txt'))
    val = _read_ann(osp.join(digits_root, 'meta', 'val.txt'))
    assert (len(train), len(val)) == (1297, 500)
    assert Counter(label for _, label in val) == {
        str(c): 50
        for c in range(10)
    }
    src = {}
    for split, rows in (('train', train), ('val', val)):
        for path, label in rows:
            s, cls, name = path.split('/')
            assert s == split and cls == label
            idx = int(name[:-4])
            assert targets[idx] == int(label)
            assert osp.isfile(osp.join(digits_root, path))
            src.setdefault(split, set()).add(idx)
    # Every source digit exactly once, none shared between train and val.
    assert not src['train'] & src['val']
    assert len(src['train'] | src['val']) == 1797
    pngs = sum(
        len(files) for d, _, files in os.walk(digits_root)
        if d.split(os.sep)[-2:-1] in (['train'], ['val']))
    assert pngs == 1797
    with open(osp.join(digits_root, 'meta', 'classes.txt')) as f:
        assert f.read().split() == [str(c) for c in range(10)]


def _np_bilinear(img, size):
    """Half-pixel-centre bilinear resize with edge clamping (numpy)."""
    h, w = img.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


def test_digits_images_are_bilinear_upsampled_grey_rgb(digits_root):
    from PIL import Image
    from sklearn.datasets import load_digits
    digits = load_digits()
    for path, label in _read_ann(osp.join(digits_root, 'meta',
                                          'val.txt'))[:20]:
        idx = int(path.split('/')[-1][:-4])
        img = np.asarray(Image.open(osp.join(digits_root, path)))
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
        assert (img[..., 0] == img[..., 1]).all()
        assert (img[..., 0] == img[..., 2]).all()
        expected = _np_bilinear(digits.images[idx] * 255.0 / 16.0, 32)
        assert np.abs(img[..., 0].astype(float) - expected).max() <= 1.0


def test_digits_labeled_subsets(digits_root):
    meta = osp.join(digits_root, 'meta')
    train = set(_read_ann(osp.join(meta, 'train.txt')))
    subsets = {}
    for seed in (0, 1):
        for n in (50, 100):
            lab = _read_ann(osp.join(meta, f'labeled_{n}_seed{seed}.txt'))
            unl = _read_ann(osp.join(meta, f'unlabeled_{n}_seed{seed}.txt'))
            assert len(lab) == n and len(unl) == 1297 - n
            assert Counter(label for _, label in lab) == {
                str(c): n // 10
                for c in range(10)
            }
            # Disjoint; together the train set; hidden labels are the truth.
            assert not set(lab) & set(unl)
            assert set(lab) | set(unl) == train
            assert lab == sorted(lab) and unl == sorted(unl)
            subsets[n, seed] = set(lab)
        assert subsets[50, seed] < subsets[100, seed]
    assert subsets[50, 0] != subsets[50, 1]


def test_digits_deterministic_and_skip(digits_root, tmp_path):
    with open(osp.join(digits_root, 'meta.json')) as f:
        meta = json.load(f)
    again = digits_tool.build_digits_cls(
        digits_root, num_labeled=(50, 100), seeds=(0, 1))
    assert again['skipped']
    assert again['content_hash'] == meta['content_hash']
    other = str(tmp_path / 'other')
    fresh = digits_tool.build_digits_cls(
        other, num_labeled=(100, 50), seeds=(1, 0, 1))
    assert not fresh['skipped']
    assert fresh['content_hash'] == meta['content_hash']
    # Different arguments rebuild (and change the split files).
    changed = digits_tool.main(
        ['-o', other, '--num-labeled', '20', '--seeds', '3'])
    assert not changed['skipped']
    assert changed['content_hash'] != meta['content_hash']
    assert osp.isfile(osp.join(other, 'meta', 'labeled_20_seed3.txt'))
    assert digits_tool.main(
        ['-o', other, '--num-labeled', '20', '--seeds', '3'])['skipped']


def test_digits_bad_arguments(tmp_path):
    out = str(tmp_path / 'bad')
    with pytest.raises(ValueError, match='num_labeled=55'):
        digits_tool.build_digits_cls(out, num_labeled=(55, ))
    with pytest.raises(ValueError, match='num_labeled=1300'):
        digits_tool.build_digits_cls(out, num_labeled=(1300, ))
    with pytest.raises(ValueError, match='val_per_class'):
        digits_tool.build_digits_cls(out, val_per_class=0)
    with pytest.raises(TypeError, match='seed'):
        digits_tool.build_digits_cls(out, seeds=('a', ))
    assert not osp.exists(out)


def test_digits_read_by_mmpretrain_custom_dataset(digits_root):
    from mmpretrain.datasets import CustomDataset
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ds = CustomDataset(
            data_root=digits_root,
            ann_file='meta/labeled_50_seed0.txt',
            metainfo=dict(classes=[str(c) for c in range(10)]),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='PackInputs')])
        unl = CustomDataset(
            data_root=digits_root,
            ann_file='meta/unlabeled_50_seed0.txt',
            with_label=True,
            pipeline=[])
    assert len(ds) == 50 and len(unl) == 1247
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 32, 32)
    path, label = _read_ann(
        osp.join(digits_root, 'meta', 'labeled_50_seed0.txt'))[0]
    assert int(item['data_samples'].gt_label) == int(label)
    assert item['data_samples'].img_path.endswith(path)
    assert unl.get_data_info(0)['gt_label'] in range(10)


# ------------------------------------------------------------------ CIFAR-10


def _unchecked_cifar10():
    """mmpretrain's CIFAR10 without its MD5 checks (fabricated files).

    ``CIFAR10._check_integrity`` skips the MD5 comparison of an entry whose
    checksum is None, so the subclass only replaces the checksum tables.
    """
    from mmpretrain.datasets import CIFAR10

    class UncheckedCIFAR10(CIFAR10):
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = dict(CIFAR10.meta, md5=None)

    return UncheckedCIFAR10


@pytest.fixture()
def cifar_root(tmp_path):
    root = str(tmp_path / 'cifar10')
    labels, data = fabricate_cifar(root)
    return root, labels, data


def test_fabricated_cifar_is_read_by_mmpretrain(cifar_root):
    from mmpretrain.datasets import CIFAR10
    root, labels, data = cifar_root
    # The real class refuses the fabricated files (MD5) and would download.
    with pytest.raises(RuntimeError, match='download'):
        CIFAR10(data_root=root, split='train', download=False)
    ds = _unchecked_cifar10()(data_root=root, split='train', download=False)
    assert len(ds) == 150
    assert [ds.get_data_info(i)['gt_label'] for i in range(150)] == \
        labels.tolist()
    img = ds.get_data_info(37)['img']
    np.testing.assert_array_equal(
        img, data[37].reshape(3, 32, 32).transpose(1, 2, 0))
    # The script reads the labels in the same order.
    np.testing.assert_array_equal(
        cifar_tool.load_train_labels(root, check_md5=False), labels)


def test_cifar_splits(cifar_root):
    root, labels, _ = cifar_root
    summary = cifar_tool.make_cifar_splits(
        root, num_labeled=(100, 50), seeds=(0, 1), check_md5=False)
    assert summary['num_train'] == 150
    assert summary['out_dir'] == osp.join(root, 'meta')
    assert len(summary['files']) == 8
    got = {}
    for seed in (0, 1):
        for n in (50, 100):
            lab = cifar_tool.read_split(
                osp.join(root, 'meta', f'cifar10_labeled_{n}_seed{seed}.txt'))
            unl = cifar_tool.read_split(
                osp.join(root, 'meta',
                         f'cifar10_unlabeled_{n}_seed{seed}.txt'))
            assert len(lab) == n and len(unl) == 150 - n
            assert lab == sorted(lab) and unl == sorted(unl)
            assert sorted(lab + unl) == list(range(150))
            assert np.bincount(labels[lab], minlength=10).tolist() == \
                [n // 10] * 10
            got[n, seed] = set(lab)
        assert got[50, seed] < got[100, seed]
    assert got[50, 0] != got[50, 1]
    # File format: one decimal index per line.
    with open(osp.join(root, 'meta', 'cifar10_labeled_50_seed0.txt')) as f:
        text = f.read()
    assert text.endswith('\n') and all(line.isdigit()
                                       for line in text.splitlines())
    # Deterministic.
    again = cifar_tool.make_cifar_splits(
        root,
        num_labeled=(50, ),
        seeds=(0, ),
        check_md5=False,
        out_dir=osp.join(root, 'again'))
    assert cifar_tool.read_split(
        osp.join(again['out_dir'], 'cifar10_labeled_50_seed0.txt')) == \
        sorted(got[50, 0])

    # The indices select the same images from mmpretrain's dataset.
    lab = sorted(got[50, 0])
    sub = _unchecked_cifar10()(
        data_root=root, split='train', download=False, indices=lab)
    assert len(sub) == 50
    assert [sub.get_data_info(i)['gt_label'] for i in range(50)] == \
        labels[lab].tolist()


def test_cifar_split_errors(cifar_root, tmp_path):
    root, _, _ = cifar_root
    with pytest.raises(ValueError, match='num_labeled=160 is larger'):
        cifar_tool.make_cifar_splits(
            root, num_labeled=(160, ), check_md5=False)
    with pytest.raises(ValueError, match='num_labeled=55 is not divisible'):
        cifar_tool.make_cifar_splits(root, num_labeled=(55, ), check_md5=False)
    # MD5 check against mmpretrain's table rejects fabricated files.
    with pytest.raises(ValueError, match='MD5'):
        cifar_tool.make_cifar_splits(root, num_labeled=(50, ))
    # A missing class.
    missing = str(tmp_path / 'missing')
    fabricate_cifar(missing, classes=range(9))
    with pytest.raises(ValueError, match=r'class\(es\) \[9\] have only \[0\]'):
        cifar_tool.make_cifar_splits(
            missing, num_labeled=(10, ), check_md5=False)
    with pytest.raises(FileNotFoundError, match='cifar-10-batches-py'):
        cifar_tool.make_cifar_splits(
            str(tmp_path / 'nowhere'), check_md5=False)


def test_cifar_cli(cifar_root, capsys):
    root, _, _ = cifar_root
    out = osp.join(root, 'splits')
    summary = cifar_tool.main([
        root, '--num-labeled', '30', '--seeds', '2', '-o', out,
        '--no-check-md5'
    ])
    assert summary['files'] == [
        'cifar10_labeled_30_seed2.txt', 'cifar10_unlabeled_30_seed2.txt'
    ]
    assert 'wrote 2 split files' in capsys.readouterr().out
    assert len(cifar_tool.read_split(osp.join(out, summary['files'][0]))) \
        == 30
