# The labelled-only baseline of dmt_wrn10-2_digits-pool.py at equal compute:
# the same WRN-10-2 classifier (phase 0's initialisation), augmentation,
# mixup loss, EMA and batch size, trained on the chain's labelled digits for
# as many iterations as the whole chain, under one cosine schedule; the EMA
# model is validated at the end of every chain stage's length.
#
#   python tools/train.py configs/dmt/wrn10-2_digits-pool_labeled-only.py
# Other labelled subsets: DMT_SPLIT=1 (.. 4) python tools/train.py ...
_base_ = ['./dmt_wrn10-2_digits-pool.py']

dmt = _base_.train_cfg
num_iters = dmt.phase0_iters + len(dmt.keep_ratios) * dmt.phase_iters

train_dataloader = dict(
    _delete_=True,
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _base_.train_dataloader.dataset.labeled,
        pipeline=_base_.train_pipeline))
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=num_iters,
    val_interval=dmt.phase_iters)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        by_epoch=False,
        begin=0,
        end=num_iters)
]
custom_hooks = [dict(type='EMAHook', momentum=0.01)]
