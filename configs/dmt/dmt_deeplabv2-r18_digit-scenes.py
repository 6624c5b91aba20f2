# DMT on the bundled digit scenes: the paper's segmentation recipe
# (arXiv:2004.08514, DeepLab-v2 + dynamic loss, 5 curriculum phases with keep
# ratios 0.2 .. 1.0, batches of labelled + pseudo-labelled images, a fresh
# optimizer and poly schedule per stage) at CPU size: a half-width ResNet-18
# DeepLab-v2 trained from scratch (no pre-trained weights can be downloaded
# here), two models diversified by two disjoint labelled subsets of 100 scenes
# each (as in the paper's VOC 1/106 setting) and their random
# initialisations; 800 unlabelled scenes. About 9 minutes on 2 CPU cores.
#
#   python tools/dataset_converters/digit_scenes.py -o data/digit_scenes
#   python tools/train.py configs/dmt/dmt_deeplabv2-r18_digit-scenes.py
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
# labelled in phase 0). The unlabelled split keeps its ground truth aside for
# the pseudo-label mIoU diagnostics only.
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
        labeled=[_base_.labeled_dataset_a, _base_.labeled_dataset_b],
        unlabeled=dict(
            type=_base_.dataset_type,
            data_root=_base_.data_root,
            data_prefix=dict(
                img_path='img_dir/train', seg_map_path='ann_dir/train'),
            ann_file='splits/unlabeled.txt'),
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
train_cfg = dict(
    phase0_iters=1200,
    phase0_epochs=None,
    phase_epochs=3,
    dmt_lr=0.01,
    label_batch_size=32,
    label_num_workers=2)
default_hooks = dict(checkpoint=dict(interval=500))
