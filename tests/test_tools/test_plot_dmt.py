# Copyright (c) dmt_mm contributors. All rights reserved.
"""tools/analysis_tools/plot_dmt.py on fabricated summaries of both
procedures (healthy, degrading, without ground truth)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from conftest import load_tool
from dmt_mm.visualization.run_plots import (plot_kept_per_class,
                                            plot_pseudo_labels, plot_val)
from dmt_mm.visualization.summary_io import load_dmt_summary

fx = load_tool('tests/test_visualization/dmt_summary_fixtures.py',
               'plot_summary_fixtures')
plot_dmt = load_tool('tools/analysis_tools/plot_dmt.py', 'plot_dmt_tool')

ALL = {'val_per_stage', 'pseudo_labels_per_phase',
       'dynamic_weight_per_stage', 'kept_per_class', 'thresholds',
       'training_curves'}


@pytest.mark.parametrize('procedure, degrade', [('mutual', False),
                                                ('mutual', True),
                                                ('chain', True)])
def test_cli_writes_every_plot(procedure, degrade, tmp_path, capsys):
    s = fx.make_summary(procedure, degrade)
    work = fx.write_work_dir(str(tmp_path / 'run'), s,
                             fx.training_scalars(s))
    paths = plot_dmt.main([work])
    assert {osp.splitext(osp.basename(p))[0] for p in paths} == ALL
    out = capsys.readouterr().out
    for p in paths:
        assert osp.dirname(p) == osp.join(work, 'plots') and p in out
        img = cv2.imread(p)
        assert img is not None and img.shape[0] > 300 and img.shape[1] > 500
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20  # not blank
    # the monitor's warnings are printed for a degrading run only
    assert ('DMT monitor warnings' in out) == degrade
    if degrade:
        assert 'get no kept pseudo labels' in out


def test_out_dir_and_no_scalars_no_ground_truth(tmp_path, capsys):
    work = fx.write_work_dir(str(tmp_path / 'run'),
                             fx.make_summary('mutual', with_gt=False))
    out = str(tmp_path / 'figs')
    paths = plot_dmt.main([work, '--out', out])
    assert {osp.basename(p) for p in paths} == {
        f'{n}.png' for n in ALL - {'training_curves'}}
    assert all(osp.dirname(p) == out for p in paths)
    fig = plot_pseudo_labels(load_dmt_summary(work))
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert 'the unlabelled set has no ground truth' in texts


def test_val_plot_holds_each_models_values_and_phase0_level(tmp_path):
    s = fx.make_summary('mutual', degrade=True)
    ax = plot_val(s).axes[0]
    by_label = {line.get_label(): line for line in ax.lines}
    a = by_label['model A']
    assert list(a.get_xdata()) == [0, 1, 2, 3, 4, 5]
    assert list(a.get_ydata()) == [r['val'] for r in s['stages']
                                   if r['model'] == 'A']
    base = by_label['model A phase 0: 31.50']
    assert set(base.get_ydata()) == {31.5}
    assert ax.get_ylabel() == 'val mIoU'


def test_kept_per_class_marks_every_empty_class(tmp_path):
    s = fx.make_summary('mutual', degrade=True)
    fig = plot_kept_per_class(s)
    crosses = sum(len(line.get_xdata()) for ax in fig.axes
                  for line in ax.lines if line.get_marker() == 'x')
    empty = sum(k == 0 for r in s['labelling'] for k in r['class_kept'])
    assert crosses == empty == 3  # '7' for A in phases 3, 4 and 5


def test_bad_or_missing_summary_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='dmt_summary.json'):
        plot_dmt.main([str(tmp_path)])
    s = fx.make_summary('chain')
    del s['stages'][2]['phase']
    fx.write_work_dir(str(tmp_path), s)
    with pytest.raises(ValueError, match=r"stages\[2\] has no field\(s\) "
                       r"\['phase'\]"):
        plot_dmt.main([str(tmp_path)])


def test_older_summary_with_labelling_per_target_is_read(tmp_path):
    s = fx.make_summary('mutual')
    s['labelling'] = {r.pop('target'): r for r in s['labelling'][-2:]}
    del s['procedure']
    with open(tmp_path / 'dmt_summary.json', 'w') as f:
        json.dump(s, f)
    loaded = load_dmt_summary(str(tmp_path))
    assert loaded['procedure'] == 'mutual'
    assert [r['target'] for r in loaded['labelling']] == ['A', 'B']
    assert len(plot_dmt.main([str(tmp_path)])) == 5
