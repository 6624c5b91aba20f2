# Copyright (c) dmt_mm contributors. All rights reserved.
"""DMTVisualizationHook on real tiny DMT runs, with TensorBoard."""
import glob
import json
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from conftest import load_tool
from dmt_mm.datasets.digit_scenes import DigitScenesDataset
from dmt_mm.utils.curriculum import level_to_confidence
from dmt_mm.utils.pseudo_label_io import write_pseudo_label
from dmt_mm.visualization import DMTVisualizationHook
from dmt_mm.visualization.data_access import seg_pseudo_label
from dmt_mm.visualization.drawing import HATCH_COLORS

tiny = load_tool('tests/test_visualization/tiny_runs.py', 'vis_tiny_runs')
PALETTE = {tuple(c) for c in DigitScenesDataset.METAINFO['palette']}


def _with_vis(cfg, tensorboard=True):
    cfg.custom_hooks.append(dict(type='DMTVisualizationHook', num_images=6))
    if tensorboard:
        train = load_tool('tools/train.py', 'train_tool_for_vis')
        train.enable_tensorboard(cfg)  # what --tensorboard does
    return cfg


def _vis_dir(work):
    dirs = glob.glob(osp.join(work, '*', 'vis_data'))
    assert len(dirs) == 1, dirs
    return dirs[0]


def _events(work):
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    acc = EventAccumulator(_vis_dir(work), size_guidance={
        'images': 0, 'scalars': 0, 'tensors': 0})
    acc.Reload()
    return acc


@pytest.fixture(scope='module')
def seg_runs(tiny_scenes, tmp_path_factory):
    """The same tiny run with and without the hook (+ TensorBoard)."""
    with_hook = str(tmp_path_factory.mktemp('vis_seg'))
    plain = str(tmp_path_factory.mktemp('plain_seg'))
    runner = tiny.run(_with_vis(tiny.tiny_seg_cfg(tiny_scenes, with_hook)),
                      'mmseg')
    tiny.run(tiny.tiny_seg_cfg(tiny_scenes, plain), 'mmseg')
    return runner, with_hook, plain


@pytest.mark.slow
def test_seg_gallery_every_labelling_pass(seg_runs):
    runner, work, _ = seg_runs
    stages = [s for s in runner.train_loop.stages if s.phase >= 1]
    assert [s.name for s in stages] == [
        'phase1_A', 'phase1_B', 'phase2_A', 'phase2_B']
    for s in stages:
        path = osp.join(_vis_dir(work), 'vis_image',
                        f'dmt_pseudo_labels_{s.model}_{s.begin}.png')
        img = cv2.imread(path)[..., ::-1]
        # 6 panels of 192-pixel tiles, 5 columns (the set has ground truth)
        assert img.shape[0] > 6 * 192 and img.shape[1] >= 5 * 192
        colors = {tuple(int(v) for v in c)
                  for c in np.unique(img.reshape(-1, 3), axis=0)}
        assert len(PALETTE & colors) >= 3  # label maps in palette colours
        if s.keep_ratio < 1:  # something is below the cut
            assert set(HATCH_COLORS) <= colors


@pytest.mark.slow
def test_tensorboard_holds_gallery_images_and_dmt_scalars(seg_runs):
    runner, work, _ = seg_runs
    acc = _events(work)
    tags = acc.Tags()
    begins = [s.begin for s in runner.train_loop.stages if s.phase >= 1]
    for model in 'AB':
        events = acc.Images(f'dmt_pseudo_labels_{model}')
        assert [e.step for e in events] == begins[model == 'B'::2]
        assert events[0].width >= 5 * 192
        kept = acc.Scalars(f'dmt/kept_ratio_{model}')
        assert len(kept) == 2 and 0 < kept[0].value <= 1
    assert 'loss' in tags['scalars']
    # the custom-scalars layout that overlays A and B
    layout = [t for t in tags['tensors'] if 'custom_scalars' in t]
    assert layout, tags['tensors']


@pytest.mark.slow
def test_hook_does_not_change_training(seg_runs):
    _, work, plain = seg_runs

    def rows(w):
        with open(osp.join(w, 'dmt_summary.json')) as f:
            return json.load(f)['stages']

    assert rows(work) == rows(plain)


@pytest.fixture(scope='module')
def cls_run(digits_cls_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('vis_cls'))
    runner = tiny.run(_with_vis(tiny.tiny_cls_cfg(digits_cls_root, work)),
                      'mmpretrain')
    return runner, work


@pytest.mark.slow
def test_cls_grid_every_phase(cls_run):
    runner, work = cls_run
    begins = [s.begin for s in runner.train_loop.stages if s.phase >= 1]
    assert len(begins) == 2
    for step in begins:
        img = cv2.imread(osp.join(_vis_dir(work), 'vis_image',
                                  f'dmt_pseudo_labels_{step}.png'))
        # a title, a head and 10 class rows of 56-pixel thumbnails
        assert img.shape[0] > 10 * 56
    events = _events(work).Images('dmt_pseudo_labels')
    assert [e.step for e in events] == begins


def test_seg_pseudo_label_applies_the_training_cut(tmp_path):
    label = torch.tensor([[1, 1, 2], [2, 0, 0]], dtype=torch.uint8)
    level = torch.tensor([[200, 10, 150], [90, 0, 255]], dtype=torch.uint8)
    write_pseudo_label(str(tmp_path / 'a.png'), label, level)
    ds = SimpleNamespace(
        pseudo_enabled=True,
        pseudo_label_path=lambda j: str(tmp_path / 'a.png'),
        pseudo_thresholds=np.array([100, 100, 100], np.uint8),
        ignore_index=255)
    got, conf = seg_pseudo_label(ds, 0)
    assert got.tolist() == [[1, 255, 2], [255, 255, 0]]
    assert conf[0, 0] == pytest.approx(level_to_confidence(200))
    ds.pseudo_enabled = False
    with pytest.raises(RuntimeError, match='no pseudo labels'):
        seg_pseudo_label(ds, 0)


def test_hook_picks_a_fixed_seeded_subset_and_checks_arguments():
    hook = DMTVisualizationHook(num_images=5, seed=3)
    picks = hook.pick_images(100)
    assert picks == sorted(picks) and len(set(picks)) == 5
    assert picks == DMTVisualizationHook(num_images=5, seed=3).pick_images(
        100)
    assert DMTVisualizationHook(num_images=5, seed=4).pick_images(
        100) != picks
    assert DMTVisualizationHook(num_images=8).pick_images(3) == [0, 1, 2]
    for kwargs, field in ((dict(num_images=0), 'num_images'),
                          (dict(interval=-1), 'interval'),
                          (dict(tile_size=1.5), 'tile_size')):
        with pytest.raises(ValueError, match=field):
            DMTVisualizationHook(**kwargs)
