# Copyright (c) dmt_mm contributors. All rights reserved.
"""``tools/train.py --tensorboard`` and the dmt/ scalar names and layout."""
import re
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from conftest import REPO, load_tool
from dmt_mm.visualization.scalars import (dmt_scalar_layout,
                                          labelling_scalars, stage_scalars,
                                          write_tensorboard_layout)

train = load_tool('tools/train.py', 'train_tool_tb_switch')
SEG = str(REPO / 'configs/dmt/dmt_deeplabv2-r18_digit-scenes.py')
CLS = str(REPO / 'configs/dmt/dmt_wrn10-2_digits-50.py')


@pytest.mark.parametrize('config', [SEG, CLS])
def test_flag_adds_tensorboard_and_keeps_local(config, tmp_path):
    args = train.parse_args([config, '--tensorboard', '--work-dir',
                             str(tmp_path)])
    assert args.tensorboard
    cfg = train.build_train_cfg(args)
    types = [b['type'] for b in cfg.visualizer.vis_backends]
    assert types == ['LocalVisBackend', 'TensorboardVisBackend']
    train.enable_tensorboard(cfg)  # idempotent
    assert len(cfg.visualizer.vis_backends) == 2
    plain = train.build_train_cfg(train.parse_args([config]))
    assert [b['type'] for b in plain.visualizer.vis_backends] == [
        'LocalVisBackend']


def test_flag_on_a_config_without_backends_and_without_visualizer():
    cfg = Config(dict(visualizer=dict(type='Visualizer')))
    train.enable_tensorboard(cfg)
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'TensorboardVisBackend']
    with pytest.raises(ValueError, match='visualizer'):
        train.enable_tensorboard(Config(dict(model=dict())))


def test_scalar_names_put_a_and_b_on_one_layout_chart():
    row_a = dict(stage=2, model='A', phase=1, val=35.0, dmt_weight=0.5,
                 dmt_disagree=0.1, dmt_student_wins=None)
    row_b = dict(row_a, model='B', val=float('nan'))
    chain = dict(row_a, model=None)
    assert stage_scalars(row_a) == {'dmt/val_A': 35.0, 'dmt/weight_A': 0.5,
                                    'dmt/disagree_A': 0.1}
    assert 'dmt/val_B' not in stage_scalars(row_b)  # NaN left out
    assert set(stage_scalars(chain)) == {'dmt/val', 'dmt/weight',
                                         'dmt/disagree'}
    rec = dict(phase=1, target='B', kept_ratio=0.2, pseudo_miou=60.0,
               kept_miou=80.0, thresholds=[0.9, 0.8])
    assert labelling_scalars(rec) == {'dmt/kept_ratio_B': 0.2,
                                      'dmt/pseudo_miou_B': 60.0,
                                      'dmt/kept_miou_B': 80.0}
    charts = dmt_scalar_layout()['DMT']
    names = (list(stage_scalars(row_a)) + list(stage_scalars(
        dict(row_a, model='B'))) + list(stage_scalars(chain)) +
             list(labelling_scalars(rec)) + ['dmt/kept_acc', 'dmt/threshold'])
    for name in names:  # every scalar sits on exactly one chart
        hits = [title for title, (_, regexes) in charts.items()
                if any(re.search(r, name) for r in regexes)]
        assert len(hits) == 1, (name, hits)
    val = [t for t in charts if t.startswith('val')][0]
    assert all(re.search(charts[val][1][0], n)
               for n in ('dmt/val_A', 'dmt/val_B', 'dmt/val'))


def test_layout_needs_a_tensorboard_backend():
    vis = SimpleNamespace(get_backend=lambda name: None)
    assert write_tensorboard_layout(vis) is False
