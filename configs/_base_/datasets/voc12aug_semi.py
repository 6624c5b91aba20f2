# PASCAL VOC 2012 train_aug (10582 images, SBD masks) split into labelled and
# unlabelled parts for DMT, on top of MMSeg's VOC-aug dataset base.
# Layout (data_root = data/VOCdevkit/VOC2012):
#   JPEGImages/  SegmentationClass/  SegmentationClassAug/
#   ImageSets/Segmentation/{train,val,trainaug}.txt (or train + aug.txt)
#   dmt_splits/   <- python tools/dataset_converters/make_splits.py voc \
#                        data/VOCdevkit/VOC2012
# A config points train_dataloader.dataset.labeled(.ann_file) and
# .unlabeled.ann_file at dmt_splits/<ratio>/split<i>/*.txt.
# Augmentation of the public code: random scale 0.5-1.5, 321x321 crop (the
# data preprocessor pads smaller crops), horizontal flip; no photometric
# distortion. Validation at the original resolution, padded to 505x505 by
# the data preprocessor (test_cfg) and cropped back; single scale.
_base_ = ['mmseg::_base_/datasets/pascal_voc12_aug.py']

crop_size = (321, 321)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # VOC images have a long side of 500 px (a few less): this scales them
    # by 0.5-1.5 like the public code's RandomScale.
    dict(
        type='RandomResize',
        scale=(500, 500),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
# Validation and the teachers' labelling pass: original resolution.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
labeled_dataset = dict(
    type=_base_.dataset_type,
    data_root=_base_.data_root,
    data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    ann_file='dmt_splits/SET_THE_SPLIT_IN_THE_CONFIG/labeled.txt',
    pipeline=train_pipeline)
# The unlabelled images keep their masks only for the pseudo-label quality
# diagnostics of the labelling pass (never trained on).
unlabeled_dataset = dict(
    type=_base_.dataset_type,
    data_root=_base_.data_root,
    data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    ann_file='dmt_splits/SET_THE_SPLIT_IN_THE_CONFIG/unlabeled.txt')

batch_size = 8
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(
        _delete_=True,
        type='LabeledPseudoSampler',
        batch_size=batch_size,
        num_labeled=1),
    dataset=dict(
        _delete_=True,
        type='SemiSegDataset',
        labeled=labeled_dataset,
        unlabeled=unlabeled_dataset,
        pipeline=train_pipeline,
        label_pipeline=test_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
