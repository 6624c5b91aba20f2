# Copyright (c) dmt_mm contributors. All rights reserved.
"""The benchmark tasks of ``benchmark_ssl.py``: configs, methods, held-out
evaluation (docs/benchmarks/PROTOCOL.md).

task -> val ``metric``, ``methods`` (weakest expected first, the paper's
ordering: supervised < self-training < mutual training without dynamic
weights < DMT, Feng et al., arXiv:2004.08514; the ``oracle`` reference last)
and ``heldout``: the ``--cfg-options`` that point the val loader at the
held-out part of the labelled pool, where recipes are chosen (None: the task
has no held-out part). method -> (config, its --cfg-options, where the final
value is read: 'dmt' = <work_dir>/dmt_summary.json, 'scalars' = mmengine's
<work_dir>/<timestamp>/vis_data/scalars.json).
"""
SEG = 'configs/dmt/dmt_deeplabv2-lite0_digit-scenes.py'
SEG_SCRATCH = 'configs/dmt/dmt_deeplabv2-r18_digit-scenes.py'
CLS = 'configs/dmt/dmt_wrn10-2_digits-pool.py'
SEG_DYNAMIC_OFF = 'model.segmentor.decode_head.loss_decode.dynamic=False'

TASKS = {
    'seg': dict(
        metric='mIoU',
        methods={
            'supervised': (
                'configs/dmt/deeplabv2-lite0_digit-scenes_labeled-only.py',
                (), 'scalars'),
            'self-training': (SEG, ('train_cfg.teacher=self', ), 'dmt'),
            'mutual-ce': (SEG, (SEG_DYNAMIC_OFF, ), 'dmt'),
            'dmt': (SEG, (), 'dmt'),
            'oracle': ('configs/dmt/deeplabv2-lite0_digit-scenes_oracle.py',
                       (), 'scalars'),
        },
        heldout=('val_dataloader.dataset.ann_file=splits/heldout.txt',
                 'val_dataloader.dataset.data_prefix.img_path=img_dir/train',
                 'val_dataloader.dataset.data_prefix.seg_map_path='
                 'ann_dir/train')),
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
        heldout=None),
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
        heldout=None),
    'cls': dict(
        metric='accuracy/top1',
        methods={
            'supervised': ('configs/dmt/wrn10-2_digits-pool_labeled-only.py',
                           (), 'scalars'),
            'chain-ce': (CLS, ('model.head.dynamic=False', ), 'dmt'),
            'dmt': (CLS, (), 'dmt'),
            'oracle': ('configs/dmt/wrn10-2_digits-pool_oracle.py', (),
                       'scalars'),
        },
        heldout=('val_dataloader.dataset.ann_file=meta/heldout.txt', )),
}


def seed_setting(seed: int):
    """``(cfg-options, environment)`` of seed ``seed``: the initialisation
    and the labelled split."""
    return [f'randomness.seed={seed}'], {'DMT_SPLIT': str(seed)}


__all__ = ['TASKS', 'seed_setting']
