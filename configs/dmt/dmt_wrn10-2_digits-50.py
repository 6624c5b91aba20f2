# DMT on the bundled handwritten digits with 50 labels (5 per class): the
# paper's CIFAR-10 recipe (arXiv:2004.08514: WideResNet + dynamic loss with
# mixup, a chain of phase 0 and 5 phases whose teacher is the previous
# phase's EMA model and whose student is re-initialised with a new seed, one
# global confidence ranking with keep ratios 0.2 .. 1.0, batches of labelled +
# pseudo-labelled samples at a fixed ratio, RandAugment + Cutout) at CPU size:
# WRN-10-2, batches of 8 labelled + 24 pseudo-labelled samples, 800
# iterations per phase. About 10 minutes on 2 CPU cores.
# Other labelled subsets: DMT_SPLIT=1 (.. 4) python tools/train.py ...
#
#   python tools/dataset_converters/digits_cls.py -o data/digits_cls
#   python tools/train.py configs/dmt/dmt_wrn10-2_digits-50.py
#   python tools/test.py configs/dmt/dmt_wrn10-2_digits-50.py \
#       work_dirs/dmt_wrn10-2_digits-50/phase5.pth
_base_ = [
    '../_base_/models/dmt_wrn28-2.py',
    '../_base_/datasets/digits_cls.py',
    '../_base_/schedules/dmt_cls.py',
]
split = 'seed{{$DMT_SPLIT:0}}'

model = dict(backbone=dict(depth=10))
# A larger labelled share than CIFAR's 16 + 496: with 50 labels and 1,247
# unlabelled digits, a fresh student needs the labelled samples to learn the
# classes the most confident pseudo labels under-represent.
train_dataloader = dict(
    _delete_=True,
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(
        type='LabeledPseudoSampler', batch_size=32, source_ratio=(1, 3)),
    dataset=dict(
        type='SemiClsDataset',
        labeled=dict(
            type=_base_.dataset_type,
            data_root=_base_.data_root,
            ann_file=f'meta/labeled_50_{split}.txt',
            classes=_base_.classes),
        # hidden labels: only for the pseudo-label accuracy in the log
        unlabeled=dict(
            type=_base_.dataset_type,
            data_root=_base_.data_root,
            ann_file=f'meta/unlabeled_50_{split}.txt',
            classes=_base_.classes),
        pipeline=_base_.train_pipeline,
        label_pipeline=_base_.test_pipeline))
# fp32 on a CPU; lr 0.1 in every phase
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
train_cfg = dict(
    phase0_iters=800,
    phase0_epochs=None,
    phase_iters=800,
    phase_epochs=None,
    dmt_lr=None,
    label_batch_size=250,
    label_num_workers=0)
custom_hooks = [
    dict(type='MutualTrainingHook'),
    # a true moving average with decay 0.99 (mmengine momentum 0.01): phases
    # of 800 iterations need a shorter horizon than the paper's decay 0.999;
    # the public code's "EMA" (momentum 0.999, the CIFAR configs) would be
    # the raw weights
    dict(type='EMAHook', momentum=0.01),
]
default_hooks = dict(logger=dict(interval=50))
