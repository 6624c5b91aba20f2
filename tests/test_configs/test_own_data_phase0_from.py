# Copyright (c) dmt_mm contributors. All rights reserved.
"""docs/own_data.md, "You already have a trained model", run as written.

The two config blocks are saved where the guide says, next to the own-data
recipe's ``configs/dmt/my_dataset.py``, and the guide's commands are run in
order (``tools/train.py`` and ``tools/test.py`` in-process) from the folder
holding ``data/my_dataset``. Only lengths, the network's width and the
workers are shrunk with extra ``--cfg-options``, as the other recipe test
does; the checkpoint the DMT config names is the one the shrunk labelled-only
runs write (``iter_2.pth`` for ``iter_3000.pth``).
"""
import json
import os.path as osp
import re
import shlex

import pytest

from conftest import REPO, fast_cpu_context, load_tool
from test_own_data_recipe import config_tree, make_user_folder

GUIDE = REPO / 'docs' / 'own_data.md'
LABELED_ONLY = '<!-- own-data labelled-only:'
FROM_TRAINED = '<!-- own-data from-trained:'
COMMANDS = '<!-- own-data from-trained commands:'
NARROW = ['backbone.base_channels=16', 'backbone.stem_channels=16',
          'decode_head.in_channels=128']
NO_WORKERS = [f'{k}.{v}' for k in ('train_dataloader', 'val_dataloader',
                                   'test_dataloader')
              for v in ('num_workers=0', 'persistent_workers=False')]
SHRINK = {
    'configs/dmt/my_dataset_labeled-only.py': [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'param_scheduler.0.end=2', 'train_dataloader.batch_size=4',
        'default_hooks.checkpoint.interval=2',
        *[f'model.{o}' for o in NARROW], *NO_WORKERS],
    'configs/dmt/my_dataset_from-trained.py': [
        'train_cfg.phase_iters=1', 'train_cfg.label_num_workers=0',
        'train_cfg.label_batch_size=4', 'train_dataloader.batch_size=4',
        'train_dataloader.sampler.batch_size=4',
        'train_dataloader.sampler.num_labeled=1',
        'default_hooks.checkpoint.interval=1000',
        *[f'model.segmentor.{o}' for o in NARROW], *NO_WORKERS],
}


def _block(marker: str, lang: str) -> str:
    text = GUIDE.read_text()
    assert text.count(marker) == 1, f'docs/own_data.md: {marker} missing'
    m = re.search(rf'```{lang}\n(.*?)```', text[text.index(marker):], re.S)
    assert m, f'docs/own_data.md: no {lang} block after {marker}'
    return m.group(1)


@pytest.mark.slow
def test_guide_trains_from_already_trained_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_user_folder(str(tmp_path / 'data' / 'my_dataset'))
    cfg_dir = osp.dirname(config_tree(tmp_path))
    with open(osp.join(cfg_dir, 'my_dataset_labeled-only.py'), 'w') as f:
        f.write(_block(LABELED_ONLY, 'python'))
    from_trained = _block(FROM_TRAINED, 'python')
    assert from_trained.count('iter_3000.pth') == 2
    with open(osp.join(cfg_dir, 'my_dataset_from-trained.py'), 'w') as f:
        f.write(from_trained.replace('iter_3000.pth', 'iter_2.pth'))
    train = load_tool('tools/train.py', 'train_own_data_phase0_from')
    test = load_tool('tools/test.py', 'test_own_data_phase0_from')
    lines = _block(COMMANDS, 'bash').strip().splitlines()
    assert [shlex.split(line)[1] for line in lines] == [
        'tools/train.py'] * 3 + ['tools/test.py']
    with fast_cpu_context():
        for line in lines:
            tool, config, *rest = shlex.split(line)[1:]
            shrink = SHRINK[config]
            if tool == 'tools/test.py':
                shrink = [o for o in shrink if o.startswith(
                    ('model.', 'test_dataloader'))]
                metrics = test.main([config, *rest, '--cfg-options',
                                     *shrink])
            else:
                train.main([config, *rest, '--cfg-options', *shrink])
    assert 0 <= metrics['mIoU'] <= 100
    work = 'work_dirs/my_dataset_from-trained'
    with open(osp.join(work, 'dmt_summary.json')) as f:
        rows = json.load(f)['stages']
    # phase 0 loaded from the two labelled-only runs, then five DMT phases
    assert [(r['model'], r['phase'], r['iters']) for r in rows[:2]] == [
        ('A', 0, 0), ('B', 0, 0)]
    assert [r['phase0_from'] for r in rows[:2]] == [
        'work_dirs/my_model_a/iter_2.pth', 'work_dirs/my_model_b/iter_2.pth']
    assert [r['phase'] for r in rows[2:]] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert all(0 <= r['val'] <= 100 for r in rows)
