# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/dataset_converters/make_splits.py: the DMT split protocol."""
import json
import math
import os
import os.path as osp
import random

import pytest

from conftest import load_tool
from fabricated_data import fabricate_cityscapes, fabricate_voc

ms = load_tool('tools/dataset_converters/make_splits.py', 'make_splits')


def voc_like_names(n=10582):
    return [f'{2007 + i % 6}_{i:06d}' for i in range(n)]


@pytest.mark.parametrize(
    'n, divisor, expected',
    [
        (10582, 105.82, 100),  # VOC 1/106: 100 labels
        (10582, 50, 211),
        (10582, 20, 530),  # 529 = 1 mod 8 -> 530
        (10582, 8, 1322),
        (10582, 2, 5291),
        (2975, 29.75, 100),  # Cityscapes 1/30: 100 labels
        (2975, 8, 371),
        (2975, 20, 148),
        (18, 2, 10),  # 9 -> 10
        (16, 2, 8),
        (7, 8, 0),
    ])
def test_labeled_count(n, divisor, expected):
    assert ms.labeled_count(n, divisor) == expected


@pytest.mark.parametrize('n, divisor', [(0, 2), (10, 0.5), (10, float('nan'))])
def test_labeled_count_rejects_bad_values(n, divisor):
    with pytest.raises(ValueError):
        ms.labeled_count(n, divisor)


@pytest.fixture(scope='module')
def voc_splits():
    return ms.protocol_splits(voc_like_names(), ms.RATIOS['voc'],
                              ms.SUBSET_RATIOS['voc'])


def test_counts_and_disjointness(voc_splits):
    names = set(voc_like_names())
    assert voc_splits['full'] == sorted(names)
    for i in range(3):
        for key, divisor in ms.RATIOS['voc'].items():
            s = voc_splits[(key, i)]
            lab, unl = s['labeled'], s['unlabeled']
            assert len(lab) == ms.labeled_count(10582, divisor)
            assert len(lab) % 8 != 1
            assert not set(lab) & set(unl)
            assert set(lab) | set(unl) == names
            assert len(set(lab)) == len(lab) and len(set(unl)) == len(unl)
    sizes = {k: len(voc_splits[(k, 0)]['labeled']) for k in ms.RATIOS['voc']}
    assert sizes == {
        '1-2': 5291,
        '1-4': 2645,
        '1-8': 1322,
        '1-20': 530,
        '1-50': 211,
        '1-106': 100
    }


def test_smaller_labelled_sets_are_prefixes(voc_splits):
    for i in range(3):
        big = voc_splits[('1-2', i)]['labeled']
        for key in ms.RATIOS['voc']:
            lab = voc_splits[(key, i)]['labeled']
            assert big[:len(lab)] == lab


def test_three_different_splits(voc_splits):
    a, b, c = (set(voc_splits[('1-106', i)]['labeled']) for i in range(3))
    assert a != b and b != c and a != c


def test_two_overlapping_subsets(voc_splits):
    for i in range(3):
        for key in ms.SUBSET_RATIOS['voc']:
            s = voc_splits[(key, i)]
            k = len(s['labeled'])
            m = math.ceil((1 - 0.6) / 2 * k)
            a, b = s['labeled_a'], s['labeled_b']
            assert len(a) == len(b) == k - m
            assert set(a) | set(b) == set(s['labeled'])
            assert len(set(a) & set(b)) == k - 2 * m  # 60% shared
            assert not (set(a) | set(b)) & set(s['unlabeled'])
    s = voc_splits[('1-106', 0)]
    assert len(s['labeled_a']) == 80 and len(
        set(s['labeled_a']) & set(s['labeled_b'])) == 60
    assert 'labeled_a' not in voc_splits[('1-2', 0)]  # as in the public code


def test_deterministic_and_independent_of_input_order(voc_splits):
    names = voc_like_names()
    random.Random(3).shuffle(names)
    again = ms.protocol_splits(names, ms.RATIOS['voc'],
                               ms.SUBSET_RATIOS['voc'])
    assert again == voc_splits
    other_seed = ms.protocol_splits(
        names, ms.RATIOS['voc'], ms.SUBSET_RATIOS['voc'], seed=1)
    assert other_seed[('1-106', 0)] != voc_splits[('1-106', 0)]


def test_same_rng_use_as_the_public_protocol():
    """seed 7777 on Python's random, three cumulative shuffles of the sorted
    list, then a fresh seed-7777 RNG shuffling each labelled list in the
    order (split, ratio) for the subsets."""
    names = [f'c{i:04d}' for i in range(2975)]
    ratios = ms.RATIOS['cityscapes']
    out = ms.protocol_splits(names[::-1], ratios,
                             ms.SUBSET_RATIOS['cityscapes'])
    random.seed(7777)
    order = sorted(names)
    for i in range(3):
        random.shuffle(order)
        for key, d in ratios.items():
            k = int(len(order) / d)
            k += k % 8 == 1
            assert out[(key, i)]['labeled'] == order[:k]
    random.seed(7777)
    for i in range(3):
        for key in ms.SUBSET_RATIOS['cityscapes']:
            lines = list(out[(key, i)]['labeled'])
            random.shuffle(lines)
            m = math.ceil((1 - 0.6) / 2 * len(lines))
            assert out[(key, i)]['labeled_a'] == lines[:len(lines) - m]
            assert out[(key, i)]['labeled_b'] == lines[m:]


def test_protocol_rejects_bad_input():
    with pytest.raises(ValueError, match='duplicate'):
        ms.protocol_splits(['a', 'b', 'a'], {'1-2': 2})
    with pytest.raises(ValueError, match='empty'):
        ms.protocol_splits([], {'1-2': 2})
    with pytest.raises(ValueError, match='subset_ratios'):
        ms.protocol_splits(['a', 'b'], {'1-2': 2}, ['1-8'])
    with pytest.raises(ValueError, match='num_splits'):
        ms.protocol_splits(['a', 'b'], {'1-2': 2}, num_splits=0)


# -------------------------------------------------------- on-disk layouts
def _lines(path):
    with open(path) as f:
        return f.read().split()


def test_voc_layout_of_mmseg_converter(tmp_path):
    root = str(tmp_path / 'VOCdevkit' / 'VOC2012')
    ids = fabricate_voc(root, num_train=4, num_aug=12, num_val=2)
    summary = ms.main(['voc', root])
    # the train id outside "SBD" got its mask copied into the Aug folder
    assert summary['masks_copied'] == 1
    assert osp.isfile(
        osp.join(root, 'SegmentationClassAug', ids['train'][0] + '.png'))
    out = osp.join(root, 'dmt_splits')
    full = _lines(osp.join(out, 'train_full.txt'))
    assert full == sorted(ids['train'] + ids['aug'])  # val excluded
    # 16 images: 1/2 -> 8 labelled, 1/4 -> 4, 1/8 -> 2 (1 mod 8 bumped)
    for key, k in (('1-2', 8), ('1-4', 4), ('1-8', 2)):
        for i in range(3):
            d = osp.join(out, key, f'split{i}')
            lab = _lines(osp.join(d, 'labeled.txt'))
            unl = _lines(osp.join(d, 'unlabeled.txt'))
            assert len(lab) == k and sorted(lab + unl) == full
    assert sorted(os.listdir(osp.join(out, '1-8', 'split0'))) == [
        'labeled.txt', 'labeled_a.txt', 'labeled_b.txt', 'unlabeled.txt'
    ]
    protocol = json.load(open(osp.join(out, 'protocol.json')))
    assert protocol['seed'] == 7777 and protocol['total'] == 16
    assert protocol['ratios']['1-106']['divisor'] == 105.82
    # rerunning writes the same files
    before = {
        f: open(osp.join(out, '1-4', 'split1', f)).read()
        for f in os.listdir(osp.join(out, '1-4', 'split1'))
    }
    ms.main(['voc', root])
    after = {f: open(osp.join(out, '1-4', 'split1', f)).read() for f in before}
    assert before == after


def test_voc_trainaug_list_and_no_fill(tmp_path):
    root = str(tmp_path / 'VOC2012')
    ids = fabricate_voc(root, num_train=3, num_aug=5, num_val=1)
    sets = osp.join(root, 'ImageSets', 'Segmentation')
    os.remove(osp.join(sets, 'aug.txt'))
    with pytest.raises(FileNotFoundError, match='trainaug.txt'):
        ms.make_splits('voc', root)
    with open(osp.join(sets, 'trainaug.txt'), 'w') as f:
        f.writelines(n + '\n' for n in ids['aug'] + ids['train'])
    with pytest.raises(FileNotFoundError, match='without --no-fill'):
        ms.make_splits('voc', root, fill=False)
    os.remove(osp.join(root, 'SegmentationClass', ids['train'][0] + '.png'))
    with pytest.raises(FileNotFoundError, match='in neither'):
        ms.make_splits('voc', root)
    os.remove(osp.join(root, 'JPEGImages', ids['aug'][0] + '.jpg'))
    with pytest.raises(FileNotFoundError, match='1 images are missing'):
        ms.make_splits('voc', root)


def test_cityscapes_layout(tmp_path):
    root = str(tmp_path / 'cityscapes')
    names = fabricate_cityscapes(root)
    summary = ms.make_splits('cityscapes', root)
    out = osp.join(root, 'dmt_splits')
    full = _lines(osp.join(out, 'train_full.txt'))
    assert full == sorted(names['train']) and full[0] == \
        'aachen/aachen_000000_000019'
    assert summary['ratios']['1-30']['divisor'] == 29.75
    lab = _lines(osp.join(out, '1-2', 'split0', 'labeled.txt'))
    assert len(lab) == 3  # int(7 / 2)
    # the names resolve to MMSeg's Cityscapes layout
    for n in full:
        assert osp.isfile(
            osp.join(root, 'leftImg8bit', 'train', n + '_leftImg8bit.png'))
    os.remove(
        osp.join(root, 'gtFine', 'train',
                 full[0] + '_gtFine_labelTrainIds.png'))
    with pytest.raises(FileNotFoundError, match='labelTrainIds'):
        ms.make_splits('cityscapes', root)
    with pytest.raises(ValueError, match='only used for voc'):
        ms.make_splits('cityscapes', root, list_file='x.txt')
    with pytest.raises(ValueError, match='dataset must be one of'):
        ms.make_splits('ade', root)
