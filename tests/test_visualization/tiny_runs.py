# Copyright (c) dmt_mm contributors. All rights reserved.
"""Tiny configs of the two demo configs for the visualization and monitor
tests (load with ``conftest.load_tool``).

- :func:`tiny_seg_cfg`: the digit-scenes DMT config (two DeepLab-v2 models)
  on the ``tiny_scenes`` fixture: phase 0 + 2 DMT phases (keep ratios 0.5,
  1.0), ``p0`` / ``p1`` iterations per stage, a narrow ResNet-18.
- :func:`tiny_cls_cfg`: the digits classification chain (WRN-10-1) on the
  ``digits_cls_root`` fixture: phase 0 + 2 phases, 50 unlabelled digits
  spread over all classes.
"""
import copy

from mmengine.config import Config

from conftest import REPO, fast_cpu_context

SEG_CONFIG = str(REPO / 'configs/dmt/dmt_deeplabv2-r18_digit-scenes.py')
CLS_CONFIG = str(REPO / 'configs/dmt/dmt_wrn10-2_digits-50.py')


def _retarget(node, root):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == 'data_root':
                node[k] = root
            else:
                _retarget(v, root)
    elif isinstance(node, list):
        for v in node:
            _retarget(v, root)


def tiny_seg_cfg(root: str, work_dir: str, p0: int = 3,
                 p1: int = 2) -> Config:
    cfg = Config.fromfile(SEG_CONFIG)
    _retarget(cfg._cfg_dict, root)
    cfg.work_dir = work_dir
    cfg.train_cfg.update(
        dict(phase0_iters=p0, phase_iters=p1, phase_epochs=None,
             keep_ratios=(0.5, 1.0)))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.model.segmentor.backbone.update(base_channels=16, stem_channels=16)
    cfg.model.segmentor.decode_head.in_channels = 128
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.sampler.batch_size = 4
    cfg.train_dataloader.sampler.num_labeled = 1
    cfg.train_cfg.label_num_workers = 0
    cfg.train_cfg.label_batch_size = 4
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1000
    cfg.log_level = 'WARNING'
    # the demo's pseudo-label gallery is tested where a test adds it
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h['type'] != 'DMTVisualizationHook']
    return cfg


def tiny_cls_cfg(root: str, work_dir: str, iters: int = 2) -> Config:
    cfg = Config.fromfile(CLS_CONFIG)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.model.backbone.widen_factor = 1
    cfg.model.head.in_channels = 64
    dl = cfg.train_dataloader
    dl.batch_size = 8
    dl.sampler.batch_size = 8
    dl.num_workers = 0
    dl.persistent_workers = False
    for sub in (dl.dataset.labeled, dl.dataset.unlabeled):
        sub.data_root = root
    # the unlabelled list is sorted by class: take every 25th digit
    dl.dataset.unlabeled.indices = list(range(0, 1247, 25))
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].dataset.data_root = root
        cfg[key].dataset.indices = 40
    cfg.train_cfg.update(phase0_iters=iters, phase_iters=iters,
                         keep_ratios=(0.5, 1.0))
    cfg.train_cfg.label_batch_size = 50
    cfg.default_hooks.checkpoint.interval = 1000
    cfg.default_hooks.logger.interval = 1
    return cfg


def run(cfg: Config, scope: str):
    """Train ``cfg`` in the registry scope ``scope``; return the runner.

    The visualizer gets a name of its own: the configs name it
    ``'visualizer'``, and mmengine hands every later runner of the process
    the instance of that name (with the first run's backends and dirs).
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    cfg = copy.deepcopy(cfg)
    cfg.visualizer.name = f'visualizer_{cfg.work_dir}'
    with fast_cpu_context(), DefaultScope.overwrite_default_scope(scope):
        runner = Runner.from_cfg(cfg)
        runner.train()
    return runner
