# DMT on the bundled digit scenes: the paper's segmentation recipe
# (arXiv:2004.08514, DeepLab-v2 + dynamic loss, 5 curriculum phases with keep
# ratios 0.2 .. 1.0, batches of labelled + pseudo-labelled images, a fresh
# optimizer and poly schedule per stage) at CPU size: a half-width ResNet-18
# DeepLab-v2 trained from scratch (no pre-trained weights can be downloaded
# here). Both models train on the same 100 labelled scenes and differ by
# their random initialisation (the paper's VOC 1/20 .. 1/8 and Cityscapes
# settings share the labelled set and differ by pre-training); 900
# unlabelled scenes. The labelled-only baseline at equal compute is
# deeplabv2-r18_digit-scenes_labeled-only.py next to this file.
#
#   python tools/dataset_converters/digit_scenes.py -o data/digit_scenes
#   python tools/train.py configs/dmt/dmt_deeplabv2-r18_digit-scenes.py
# Other labelled subsets: DMT_SPLIT=1 (or 2) python tools/train.py ...
#   python tools/test.py configs/dmt/dmt_deeplabv2-r18_digit-scenes.py \
#       work_dirs/dmt_deeplabv2-r18_digit-scenes/phase5_B.pth --model A
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/digit_scenes.py',
    '../_base_/schedules/dmt_seg.py',
]
custom_imports = dict(imports=['dmt_mm'], allow_failed_imports=False)

# ----------------------------------------------------------------- models
# The segmentor both models share: DeepLab-v2 with a ResNet-18 backbone, the
# DMT loss on the decode head (gamma1 = gamma2 as in every published setting).
segmentor = _base_.model
segmentor.data_preprocessor.size = _base_.crop_size
segmentor.backbone.depth = 18
segmentor.backbone.base_channels = 32
segmentor.backbone.stem_channels = 32
segmentor.backbone.norm_cfg = dict(type='BN', requires_grad=True)
segmentor.decode_head.in_channels = 256
segmentor.decode_head.num_classes = 11
segmentor.decode_head.loss_decode = dict(
    type='DMTLoss', gamma1=5.0, gamma2=5.0)
model = dict(
    _delete_=True,
    type='DMTSegmentor',
    segmentor=segmentor,
    model_names=('A', 'B'),
    data_preprocessor=segmentor.data_preprocessor)

# ------------------------------------------------------------------- data
# Every batch: 2 labelled + 6 pseudo-labelled scenes in DMT phases (all
# labelled in phase 0). The unlabelled scenes keep their ground truth aside
# for the pseudo-label mIoU diagnostics only.
batch_size = 8
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(
        _delete_=True,
        type='LabeledPseudoSampler',
        batch_size=batch_size,
        num_labeled=2),
    dataset=dict(
        _delete_=True,
        type='SemiSegDataset',
        labeled=_base_.labeled_dataset,
        unlabeled=_base_.unlabeled_dataset,
        pipeline=_base_.train_pipeline,
        label_pipeline=_base_.test_pipeline,
        verify='all'))

# -------------------------------------------------------------- schedule
# The paper's schedule (../_base_/schedules/dmt_seg.py) at CPU size: fp32,
# fixed phase-0 length, larger learning rates for training from scratch.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4),
    clip_grad=None)
# Phase 0 runs until a labelled-only model stops improving (about 3000
# iterations on seed 0's split); DMT phases fine-tune at a fifth of its lr.
train_cfg = dict(
    phase0_iters=3000,
    phase0_epochs=None,
    phase_iters=400,
    phase_epochs=None,
    dmt_lr=0.01,
    label_batch_size=32,
    label_num_workers=2)
default_hooks = dict(checkpoint=dict(interval=500))
# The DMT state in checkpoints, and a gallery of every labelling pass
# (work_dir/<timestamp>/vis_data/vis_image/dmt_pseudo_labels_<model>_*.png)
custom_hooks = [
    dict(type='MutualTrainingHook'),
    dict(type='DMTVisualizationHook'),
]
