# Copyright (c) dmt_mm contributors. All rights reserved.
"""Validations inside DMT stages (``train_cfg.val_interval``) are logged at
the iteration they follow, and each stage's end validation at the last
iteration of its span (the sum of the stage lengths before it plus its
own): what tools/analysis_tools/stage_curves.py reads to place them."""
import json
import os.path as osp

import pytest
from mmengine.runner import Runner

from conftest import fast_cpu_context, load_tool
from test_dmt_end_to_end import tiny_cfg

tool = load_tool('tools/analysis_tools/stage_curves.py', 'stage_curves_e2e')


@pytest.mark.slow
def test_real_run_logs_each_stage_end_at_its_span(tiny_scenes, tmp_path):
    # validated every iteration: the validation logged at a stage's last
    # iteration is the stage's recorded val, so the spans are right
    work = str(tmp_path / 'run')
    cfg = tiny_cfg(tiny_scenes, work, val_interval=1)
    # the visualizer (which writes the scalars read here) is a named
    # singleton: a name of its own, or an earlier test's instance (and its
    # save_dir) would be reused
    cfg.visualizer.name = f'visualizer_{work}'
    with fast_cpu_context():
        Runner.from_cfg(cfg).train()
    summary = json.loads(open(osp.join(work, 'dmt_summary.json')).read())
    vals = tool.read_vals(work, 'mIoU')
    spans = tool.stage_spans(summary['stages'])
    assert spans[-1][2] == max(vals)
    for row, begin, end in spans:
        assert vals[end] == pytest.approx(row['val'], abs=0.005), row
        assert all(s in vals for s in range(begin + 1, end))
    rows = tool.stage_curves(summary, vals, [0.5])
    assert all(r['at']['0.5'] is not None for r in rows if r['iters'] >= 2)
