# Copyright (c) dmt_mm contributors. All rights reserved.
"""The benchmark tasks of ``benchmark_ssl.py``: configs, methods, held-out
evaluation. ``seg`` and ``cls`` are the tables of the README, at the lengths
of docs/benchmarks/PROTOCOL-v2.md; ``seg-v1`` and ``cls-v1`` the same
recipes at ``make demo``'s shortened lengths (PROTOCOL.md, the tables of
2026-12-03/04), ``seg-scratch`` and ``cls-50`` the earlier proxies.

task -> val ``metric``, ``methods`` (weakest expected first, the paper's
ordering: supervised < self-training < mutual training without dynamic
weights < DMT, Feng et al., arXiv:2004.08514; the ``oracle`` reference last)
and ``heldout``: the ``--cfg-options`` that point the val loader at the
held-out part of the labelled pool, where recipes are chosen (None: the task
has no held-out part). method -> (config, its --cfg-options, where the final
value is read: 'dmt' = <work_dir>/dmt_summary.json, 'scalars' = mmengine's
<work_dir>/<timestamp>/vis_data/scalars.json).

``phase0``: the methods that share phase 0 (they differ only after it): per
seed the ``provider`` trains it, each of the ``consumers`` loads it with
``train_cfg.phase0_from`` from the provider's phase-0 stage checkpoints
(``models``: the mutual procedure's model names, one ``phase0_<m>.pth`` and
one option each; None: the chain, one ``phase0.pth``). A paired difference
between them then measures the method alone, not two phase-0 trainings.

Optional: ``ordering`` (the methods of the paper's ordering claim; default
every compared method) and ``regime`` (the labelled-only method of the
regime ratio; default ``supervised``), for a task with a second
labelled-only baseline (PROTOCOL-v2.md: 2 x phase 0) that is compared with
every method but is not a step of the paper's ordering.
"""
import os.path as osp

SEG = 'configs/dmt/dmt_deeplabv2-lite0_digit-scenes_long.py'
SEG_V1 = 'configs/dmt/dmt_deeplabv2-lite0_digit-scenes.py'
SEG_SCRATCH = 'configs/dmt/dmt_deeplabv2-r18_digit-scenes.py'
CLS = 'configs/dmt/dmt_wrn10-2_digits-pool_long.py'
CLS_V1 = 'configs/dmt/dmt_wrn10-2_digits-pool.py'
SEG_DYNAMIC_OFF = 'model.segmentor.decode_head.loss_decode.dynamic=False'
SEG_PHASE0 = dict(provider='dmt', consumers=('self-training', 'mutual-ce'),
                  models=('A', 'B'))
#: the val loaders pointed at the held-out part of the labelled pool
SEG_HELDOUT = ('val_dataloader.dataset.ann_file=splits/heldout.txt',
               'val_dataloader.dataset.data_prefix.img_path=img_dir/train',
               'val_dataloader.dataset.data_prefix.seg_map_path=ann_dir/train')
CLS_HELDOUT = ('val_dataloader.dataset.ann_file=meta/heldout.txt', )
CLS_PHASE0 = dict(provider='dmt', consumers=('chain-ce', ), models=None)
#: per kind of run (its final value's source): the config keys of its data
#: loaders' worker count and of their persistent_workers (None: none)
LOADERS = tuple((f'{loader}.num_workers', f'{loader}.persistent_workers')
                for loader in ('train_dataloader', 'val_dataloader'))
WORKER_KEYS = dict(scalars=LOADERS,
                   dmt=LOADERS + (('train_cfg.label_num_workers', None), ))

TASKS = {
    'seg': dict(
        metric='mIoU',
        methods={
            'supervised': (
                'configs/dmt/'
                'deeplabv2-lite0_digit-scenes_long_labeled-only.py', (),
                'scalars'),
            'supervised-long': (
                'configs/dmt/'
                'deeplabv2-lite0_digit-scenes_long_labeled-only-2x.py',
                (), 'scalars'),
            'self-training': (SEG, ('train_cfg.teacher=self', ), 'dmt'),
            'mutual-ce': (SEG, (SEG_DYNAMIC_OFF, ), 'dmt'),
            'dmt': (SEG, (), 'dmt'),
            'oracle': (
                'configs/dmt/deeplabv2-lite0_digit-scenes_long_oracle.py', (),
                'scalars'),
        },
        heldout=SEG_HELDOUT,
        phase0=SEG_PHASE0, regime='supervised-long',
        ordering=('supervised', 'self-training', 'mutual-ce', 'dmt')),
    'seg-v1': dict(
        metric='mIoU',
        methods={
            'supervised': (
                'configs/dmt/deeplabv2-lite0_digit-scenes_labeled-only.py',
                (), 'scalars'),
            'self-training': (SEG_V1, ('train_cfg.teacher=self', ), 'dmt'),
            'mutual-ce': (SEG_V1, (SEG_DYNAMIC_OFF, ), 'dmt'),
            'dmt': (SEG_V1, (), 'dmt'),
            'oracle': ('configs/dmt/deeplabv2-lite0_digit-scenes_oracle.py',
                       (), 'scalars'),
        },
        heldout=SEG_HELDOUT,
        phase0=SEG_PHASE0),
    'seg-scratch': dict(
        metric='mIoU',
        methods={
            'supervised': (
                'configs/dmt/deeplabv2-r18_digit-scenes_labeled-only.py', (),
                'scalars'),
            'self-training': (SEG_SCRATCH, ('train_cfg.teacher=self', ),
                              'dmt'),
            'mutual-ce': (SEG_SCRATCH, (SEG_DYNAMIC_OFF, ), 'dmt'),
            'dmt': (SEG_SCRATCH, (), 'dmt'),
        },
        heldout=None, phase0=SEG_PHASE0),
    # the earlier classification proxy (50 labels, kept pseudo labels all but
    # perfect: docs/benchmarks/PROTOCOL.md, section 1)
    'cls-50': dict(
        metric='accuracy/top1',
        methods={
            'supervised': ('configs/dmt/wrn10-2_digits-50_labeled-only.py',
                           (), 'scalars'),
            'chain-ce': ('configs/dmt/dmt_wrn10-2_digits-50.py',
                         ('model.head.dynamic=False', ), 'dmt'),
            'dmt': ('configs/dmt/dmt_wrn10-2_digits-50.py', (), 'dmt'),
        },
        heldout=None, phase0=CLS_PHASE0),
    'cls-v1': dict(
        metric='accuracy/top1',
        methods={
            'supervised': ('configs/dmt/wrn10-2_digits-pool_labeled-only.py',
                           (), 'scalars'),
            'chain-ce': (CLS_V1, ('model.head.dynamic=False', ), 'dmt'),
            'dmt': (CLS_V1, (), 'dmt'),
            'oracle': ('configs/dmt/wrn10-2_digits-pool_oracle.py', (),
                       'scalars'),
        },
        heldout=CLS_HELDOUT,
        phase0=CLS_PHASE0),
    'cls': dict(
        metric='accuracy/top1',
        methods={
            'supervised': (
                'configs/dmt/wrn10-2_digits-pool_long_labeled-only.py', (),
                'scalars'),
            'supervised-long': (
                'configs/dmt/wrn10-2_digits-pool_long_labeled-only-2x.py', (),
                'scalars'),
            'chain-ce': (CLS, ('model.head.dynamic=False', ), 'dmt'),
            'dmt': (CLS, (), 'dmt'),
            'oracle': ('configs/dmt/wrn10-2_digits-pool_long_oracle.py', (),
                       'scalars'),
        },
        heldout=CLS_HELDOUT,
        phase0=CLS_PHASE0, regime='supervised-long',
        ordering=('supervised', 'chain-ce', 'dmt')),
}


def seed_setting(seed: int):
    """``(cfg-options, environment)`` of seed ``seed``: the initialisation
    and the labelled split."""
    return [f'randomness.seed={seed}'], {'DMT_SPLIT': str(seed)}


def phase0_files(work_dir: str, models) -> dict:
    """The phase-0 stage checkpoints a DMT run leaves in ``work_dir``:
    ``{model: path}`` (``models`` None: the chain's ``{None: phase0.pth}``).
    """
    if models is None:
        return {None: osp.join(work_dir, 'phase0.pth')}
    return {m: osp.join(work_dir, f'phase0_{m}.pth') for m in models}


def phase0_options(work_dir: str, models) -> list:
    """The ``--cfg-options`` that load phase 0 from the run in ``work_dir``:
    ``train_cfg.phase0_from.<m>=<path>`` per model, or the chain's one
    ``train_cfg.phase0_from=<path>``."""
    return [f'train_cfg.phase0_from{"" if m is None else "." + m}={path}'
            for m, path in phase0_files(work_dir, models).items()]


def worker_options(source: str, workers: int) -> list:
    """The ``--cfg-options`` that give every data loader of a run of kind
    ``source`` ``workers`` worker processes (0: loading in the training
    process, whose loaders then cannot keep persistent workers)."""
    options = []
    for workers_key, persistent_key in WORKER_KEYS[source]:
        options.append(f'{workers_key}={workers}')
        if workers == 0 and persistent_key:
            options.append(f'{persistent_key}=False')
    return options


__all__ = ['TASKS', 'seed_setting', 'phase0_files', 'phase0_options',
           'worker_options']
