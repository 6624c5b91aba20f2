# The DMT schedule of the paper's classification runs (arXiv:2004.08514 and
# the public scripts of voldemortX/DST-CBC): one Runner run of a chain of
# phase 0 (labelled data only, the baseline) and 5 DMT phases. Each phase
# starts a freshly initialised student (new seed) taught by the previous
# phase's "EMA" model, with a fresh SGD optimizer (momentum 0.9, weight decay
# 5e-4; lr 0.2 in phase 0, the default of the public main_fs.py, whose
# phase-0 script passes no --lr; lr 0.1 in the DMT phases, ss-dmt-full-1.sh)
# and a fresh cosine schedule, mixed precision; evaluation and checkpoints use
# the "EMA" weights.
# A config sets train_cfg.phase0_epochs (epochs over the labelled set) and
# train_cfg.phase_epochs (epochs over the kept pseudo-labelled samples).
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['dmt_mm'], allow_failed_imports=False)

# AMP as in the public code (--mixed-precision). mmengine's AmpOptimWrapper
# needs a GPU; for a CPU run set optim_wrapper.type='OptimWrapper' (and drop
# loss_scale).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=5e-4))
# Restarted at every phase by DMTTrainLoop (T_max = phase length).
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False)
]
train_cfg = dict(
    type='DMTTrainLoop',
    procedure='chain',
    phase0_epochs=1,
    phase_epochs=1,
    keep_ratios=(0.2, 0.4, 0.6, 0.8, 1.0),
    dmt_lr=0.1,
    label_batch_size=512,
    label_num_workers=2,
    metric='accuracy/top1',
    val_per_stage=True)
val_cfg = dict()
test_cfg = dict()
custom_hooks = [
    dict(type='MutualTrainingHook'),
    # The public code's "EMA" (classification/utils/common.py) is
    # shadow -= 0.999 * (shadow - param), i.e. 0.001 * shadow + 0.999 * param:
    # essentially the raw weights. mmengine's ExponentialMovingAverage is
    # ema = (1 - m) * ema + m * param, so momentum=0.999 reproduces it;
    # momentum=0.001 is a true 0.999 average, as the paper's text reads
    # (docs/paper_settings.md, section 6.2).
    dict(type='EMAHook', momentum=0.999),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    # MutualTrainingHook also saves <stage>.pth at the end of every phase.
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=5000,
        max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
