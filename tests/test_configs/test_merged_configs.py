# Copyright (c) dmt_mm contributors. All rights reserved.
"""Every bundled config keeps its merged values across the engine redesign.

``tests/data/merged_configs_v0.1.json`` holds the merged configs of dmt_mm
0.1 (before the redesign of the engine layer). The redesign moved the
arguments of ``MutualTrainingHook`` to ``train_cfg``; everything else must be
unchanged, except the differences listed in :data:`CHANGED` (later,
deliberate changes, each with its reason).
"""
import copy
import json
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO

SNAPSHOT = REPO / 'tests/data/merged_configs_v0.1.json'
with open(SNAPSHOT) as f:
    OLD = json.load(f)

#: (config, dotted key): why the value differs from dmt_mm 0.1.
CHANGED = {}


def _plain(cfg: Config) -> dict:
    return json.loads(json.dumps(cfg.to_dict(), default=str))


def _moved(old: dict) -> dict:
    """Apply the redesign's key moves to a 0.1 merged config."""
    new = copy.deepcopy(old)
    hooks = new.get('custom_hooks') or []
    for i, hook in enumerate(hooks):
        if hook.get('type') == 'MutualTrainingHook':
            args = {k: v for k, v in hook.items() if k != 'type'}
            new['train_cfg'].update(args)
            hooks[i] = dict(type='MutualTrainingHook')
    return new


def _flatten(d, prefix=''):
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_flatten(v, f'{prefix}{k}.'))
        return out
    if isinstance(d, list):
        out = {}
        for i, v in enumerate(d):
            out.update(_flatten(v, f'{prefix}{i}.'))
        return out or {prefix[:-1]: []}
    return {prefix[:-1]: d}


@pytest.mark.parametrize('path', sorted(OLD))
def test_merged_config_unchanged_but_moved_keys(path):
    assert osp.isfile(REPO / path), f'{path} was removed'
    new = _flatten(_plain(Config.fromfile(str(REPO / path))))
    old = _flatten(_moved(OLD[path]))
    allowed = {k for (p, k) in CHANGED if p == path}
    diff = {
        k: (old.get(k, '<absent>'), new.get(k, '<absent>'))
        for k in set(old) | set(new)
        if old.get(k, '<absent>') != new.get(k, '<absent>')
        and not any(k == a or k.startswith(a + '.') for a in allowed)
    }
    assert not diff, f'{path}: merged values changed: {diff}'


def test_old_hook_arguments_fail_with_where_they_moved():
    from dmt_mm.engine import MutualTrainingHook
    with pytest.raises(TypeError, match=r'dmt_lr=0\.01.*moved to train_cfg'):
        MutualTrainingHook(dmt_lr=0.01, label_batch_size=4)
