# Copyright (c) dmt_mm contributors. All rights reserved.
"""A merged dataset config that points at files the user does not have.

A dict in a child config is merged into the base's dict, so an ``ann_file``
or ``data_prefix`` entry the user never wrote can survive the merge. The
error must name the key and the inherited value, not only the path.
"""
import os

import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS

from dmt_mm.datasets.base_semi_dataset import build_sub_dataset

BASE = """
train_dataloader = dict(dataset=dict(
    type='SemiSegDataset',
    labeled=dict(type='BaseSegDataset', data_root='data/base_data',
                 data_prefix=dict(img_path='img_dir/train',
                                  seg_map_path='ann_dir/train'),
                 ann_file='splits/labeled.txt'),
    unlabeled=dict(type='BaseSegDataset', data_root='data/base_data',
                   data_prefix=dict(img_path='img_dir/train',
                                    seg_map_path='ann_dir/train'),
                   ann_file='splits/unlabeled.txt'),
    pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
              dict(type='PackSegInputs')],
    label_pipeline=[dict(type='LoadImageFromFile'),
                    dict(type='PackSegInputs')]))
"""

# What a user writes: their images only, no split file, no masks.
CHILD = """
_base_ = ['./base.py']
mine = dict(type='BaseSegDataset', data_root={root!r},
            metainfo=dict(classes=('a', 'b')), img_suffix='.png',
            data_prefix=dict(img_path='images'{seg}))
train_dataloader = dict(dataset=dict(labeled=mine, unlabeled=mine))
"""


@pytest.fixture
def user_root(tmp_path):
    import cv2
    import numpy as np
    root = tmp_path / 'my_data'
    for sub in ('images', 'masks'):
        (root / sub).mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(root / 'images' / f'{i}.png'),
                    np.full((8, 8, 3), 100, np.uint8))
        cv2.imwrite(str(root / 'masks' / f'{i}.png'),
                    np.zeros((8, 8), np.uint8))
    return root


def _merged(tmp_path, root, seg=''):
    (tmp_path / 'base.py').write_text(BASE)
    (tmp_path / 'child.py').write_text(CHILD.format(root=str(root), seg=seg))
    return Config.fromfile(str(tmp_path / 'child.py')).train_dataloader.dataset


def test_inherited_ann_file_is_named(tmp_path, user_root):
    ds = _merged(tmp_path, user_root)
    assert ds.unlabeled.ann_file == 'splits/unlabeled.txt'  # inherited
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(ds)
    msg = str(e.value)
    assert "SemiSegDataset: labeled[0].ann_file='splits/labeled.txt'" in msg
    assert f'data_root={str(user_root)!r}' in msg
    assert os.path.join(str(user_root), 'splits/labeled.txt') in msg
    assert 'inherited from a base config' in msg and '_delete_=True' in msg
    with pytest.raises(FileNotFoundError,
                       match=r"unlabeled\.ann_file='splits/unlabeled\.txt'"):
        build_sub_dataset(DATASETS, ds.unlabeled, [], 'unlabeled',
                          'SemiSegDataset')


def test_inherited_folder_is_named(tmp_path, user_root):
    ds = _merged(tmp_path, user_root)
    cfg = {k: v for k, v in ds.unlabeled.items() if k != 'ann_file'}
    assert cfg['data_prefix']['seg_map_path'] == 'ann_dir/train'  # inherited
    with pytest.raises(
            FileNotFoundError,
            match=r"unlabeled\.data_prefix\.seg_map_path='ann_dir/train' "):
        build_sub_dataset(DATASETS, cfg, [], 'unlabeled', 'SemiSegDataset')
    # the user's own folders pass the check, and a dict(_delete_=True) in
    # the child drops what the base had
    (tmp_path / 'base.py').write_text(BASE)
    (tmp_path / 'child.py').write_text(
        CHILD.format(root=str(user_root), seg=", seg_map_path='masks'")
        .replace("mine = dict(", "mine = dict(_delete_=True, "))
    ds = Config.fromfile(str(tmp_path / 'child.py')).train_dataloader.dataset
    built = DATASETS.build(ds)
    assert len(built.labeled[0]) == len(built.unlabeled) == 2

