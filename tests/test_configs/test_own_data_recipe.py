# Copyright (c) dmt_mm contributors. All rights reserved.
"""The README's "Use it on your own dataset" recipe, run as written.

The config block is taken from README.md (docs/own_data.md, the full guide,
holds the same block, checked here), saved where the README says
(``configs/dmt/my_dataset.py``, here in a temporary copy of ``configs/``)
and trained from the directory holding ``data/my_dataset``: a folder of the
kind a user has (labelled images + masks, a bare unlabelled image folder,
a user-defined class list). Only the stage lengths and the width of the
network are shrunk, as the other end-to-end tests do.
"""
import inspect
import json
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import REPO, fast_cpu_context

MARKER = '<!-- own-data recipe:'
CLASSES = ('background', 'road', 'building', 'tree')


def _recipe(path) -> str:
    """The python block that follows the recipe marker in ``path``."""
    text = path.read_text()
    name = path.relative_to(REPO)
    assert text.count(MARKER) == 1, f'{name}: recipe marker missing'
    after = text[text.index(MARKER):]
    m = re.search(r'```python\n(.*?)```', after, re.S)
    assert m, f'{name}: no python block after the recipe marker'
    return m.group(1)


def readme_recipe() -> str:
    """The python block that follows the recipe marker in README.md."""
    return _recipe(REPO / 'README.md')


def test_full_guide_shows_the_readme_recipe():
    assert _recipe(REPO / 'docs' / 'own_data.md') == readme_recipe()


def config_tree(tmp_path) -> str:
    """``configs/`` with the repository's configs and the user's file."""
    cfg_dir = tmp_path / 'configs' / 'dmt'
    cfg_dir.mkdir(parents=True)
    os.symlink(REPO / 'configs' / '_base_', tmp_path / 'configs' / '_base_')
    for f in (REPO / 'configs' / 'dmt').iterdir():
        os.symlink(f, cfg_dir / f.name)
    path = cfg_dir / 'my_dataset.py'
    path.write_text(readme_recipe())
    return str(path)


def _scene(rng, h=48, w=64):
    """An image and its mask: a road band, a building block, a tree disc."""
    mask = np.zeros((h, w), np.uint8)
    y = rng.integers(h // 2, h - 10)
    mask[y:y + 8, :] = 1
    x0, y0 = rng.integers(0, w - 20), rng.integers(0, h // 2 - 12)
    mask[y0:y0 + 12, x0:x0 + 20] = 2
    cx, cy = rng.integers(8, w - 8), rng.integers(8, h - 8)
    yy, xx = np.mgrid[:h, :w]
    mask[(yy - cy)**2 + (xx - cx)**2 < 36] = 3
    colours = np.array([[90, 160, 90], [60, 60, 60], [40, 40, 200],
                        [20, 120, 20]], np.float32)
    img = colours[mask] + rng.normal(0, 12, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8), mask


def make_user_folder(root, n_labeled=6, n_unlabeled=8, n_val=3):
    rng = np.random.default_rng(0)
    for sub, n, masks in (('train', n_labeled, True),
                          ('unlabeled', n_unlabeled, False),
                          ('val', n_val, True)):
        img_dir = osp.join(root, sub, 'images') if masks else \
            osp.join(root, sub)
        os.makedirs(img_dir)
        if masks:
            os.makedirs(osp.join(root, sub, 'masks'))
        for i in range(n):
            img, mask = _scene(rng)
            cv2.imwrite(osp.join(img_dir, f'{sub}_{i:03d}.jpg'), img)
            if masks:
                cv2.imwrite(osp.join(root, sub, 'masks', f'{sub}_{i:03d}.png'),
                            mask)


def shrink(cfg: Config, work_dir: str) -> None:
    """Stage lengths of 1-2 iterations, a narrow network, no workers."""
    cfg.work_dir = work_dir
    cfg.train_cfg.update(phase0_iters=2, phase0_epochs=None, phase_iters=1,
                         phase_epochs=None, keep_ratios=(0.5, 1.0))
    cfg.model.segmentor.backbone.update(base_channels=16, stem_channels=16)
    cfg.model.segmentor.decode_head.in_channels = 128
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.sampler.update(batch_size=4, num_labeled=1)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(num_workers=0, persistent_workers=False)
    # The labelling options live in train_cfg where DMTTrainLoop takes them,
    # else on the MutualTrainingHook.
    from dmt_mm.engine.runner.dmt_train_loop import DMTTrainLoop
    labelling = dict(label_num_workers=0, label_batch_size=4)
    if 'label_num_workers' in inspect.signature(DMTTrainLoop).parameters:
        cfg.train_cfg.update(labelling)
    else:
        [hook] = [h for h in cfg.custom_hooks
                  if h.type == 'MutualTrainingHook']
        hook.update(labelling)
    cfg.default_hooks.checkpoint.interval = 1000
    cfg.log_level = 'WARNING'


def test_recipe_carries_only_the_users_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(config_tree(tmp_path))
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'SemiSegDataset'
    assert dict(ds.labeled) == dict(
        type='BaseSegDataset', data_root='data/my_dataset',
        metainfo=dict(classes=CLASSES), img_suffix='.jpg',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='train/images', seg_map_path='train/masks'))
    assert dict(ds.unlabeled) == dict(
        type='BaseSegDataset', data_root='data/my_dataset',
        metainfo=dict(classes=CLASSES), img_suffix='.jpg',
        data_prefix=dict(img_path='unlabeled'))
    for key in ('val_dataloader', 'test_dataloader'):
        val = cfg[key].dataset
        assert val.type == 'BaseSegDataset' and 'ann_file' not in val
        assert val.data_prefix == dict(img_path='val/images',
                                       seg_map_path='val/masks')
    assert cfg.model.segmentor.decode_head.num_classes == len(CLASSES)
    # the demo's model and DMT settings are inherited, not restated
    demo = Config.fromfile(
        str(REPO / 'configs/dmt/dmt_deeplabv2-r18_digit-scenes.py'))
    assert cfg.model.type == demo.model.type == 'DMTSegmentor'
    assert cfg.model.segmentor.backbone == demo.model.segmentor.backbone
    assert cfg.train_cfg == demo.train_cfg
    assert cfg.get('custom_hooks') == demo.get('custom_hooks')


@pytest.mark.slow
def test_recipe_trains_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_user_folder(str(tmp_path / 'data' / 'my_dataset'))
    cfg = Config.fromfile(config_tree(tmp_path))
    work = str(tmp_path / 'work_dirs' / 'my_dataset')
    shrink(cfg, work)
    with fast_cpu_context():
        Runner.from_cfg(cfg).train()
    rows = json.load(open(osp.join(work, 'dmt_summary.json')))['stages']
    assert [f'phase{r["phase"]}_{r["model"]}' for r in rows] == [
        'phase0_A', 'phase0_B', 'phase1_A', 'phase1_B', 'phase2_A',
        'phase2_B']
    for r in rows:
        assert 0 <= r['val'] <= 100
        if r['phase']:
            assert r['pseudo_miou'] is None  # the unlabelled set has no masks
    assert osp.isfile(osp.join(work, 'phase2_B.pth'))
    # one pseudo label per unlabelled image, for each model
    for model in ('A', 'B'):
        names = sorted(os.listdir(osp.join(work, 'pseudo_labels',
                                           f'for_{model}')))
        assert names == sorted([f'unlabeled_{i:03d}.png' for i in range(8)] +
                               ['manifest.json'])
