# The DMT schedule of the paper's segmentation runs (arXiv:2004.08514 and the
# public scripts of voldemortX/DST-CBC): one Runner run of phase 0
# (labelled data only) and 5 DMT phases per model, each stage with a fresh
# SGD optimizer (momentum 0.9, weight decay 5e-4, the same learning rate for
# backbone and head) and a fresh poly(0.9) schedule, mixed precision.
# A config sets: optim_wrapper.optimizer.lr (phase 0), train_cfg.phase0_epochs
# (epochs over the labelled set), train_cfg.phase_epochs (epochs over the
# pseudo-labelled set) and train_cfg.dmt_lr (DMT phases).
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['dmt_mm'], allow_failed_imports=False)

# AMP as in the public code (--mixed-precision). mmengine's AmpOptimWrapper
# needs a GPU; for a CPU run set optim_wrapper.type='OptimWrapper' (and drop
# loss_scale).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='SGD', lr=0.002, momentum=0.9, weight_decay=5e-4),
    clip_grad=None)
# Restarted at every stage by DMTTrainLoop (end = stage length).
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False)]
train_cfg = dict(
    type='DMTTrainLoop',
    phase0_epochs=1,
    phase_epochs=1,
    keep_ratios=(0.2, 0.4, 0.6, 0.8, 1.0),
    dmt_lr=0.001,
    label_batch_size=1,
    label_num_workers=4,
    val_per_stage=True,
    # Every stage ends with its last weights. The public code keeps each
    # phase's best snapshot on the val set (the published numbers are
    # best-of-N on val); select='best', val_interval=300 reproduces that
    # (docs/paper_settings.md, section 5).
    select='last')
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# The DMT state in every checkpoint, the stage checkpoints <stage>.pth.
custom_hooks = [dict(type='MutualTrainingHook')]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # MutualTrainingHook also saves <stage>.pth at the end of every stage.
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=2000,
        max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
