# Cityscapes (2975 fine training images) split into labelled and unlabelled
# parts for DMT, on top of MMSeg's Cityscapes dataset base.
# Layout (data_root = data/cityscapes):
#   leftImg8bit/{train,val}/<city>/<name>_leftImg8bit.png
#   gtFine/{train,val}/<city>/<name>_gtFine_labelTrainIds.png
#       (MMSeg's tools/dataset_converters/cityscapes.py)
#   dmt_splits/   <- python tools/dataset_converters/make_splits.py \
#                        cityscapes data/cityscapes
# As in the public code, images are used at half resolution (512x1024):
# training rescales them to 512x1024 times 0.5-1.5 and crops 256x512;
# validation resizes image and labels to 512x1024 and scores there. The
# teachers label at 512x1024 and their predictions are resized back to the
# original size, where pseudo labels are stored.
_base_ = ['mmseg::_base_/datasets/cityscapes.py']

crop_size = (256, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(1024, 512),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
# Labelling pass: predict at 512x1024, ground truth (diagnostics only) at the
# original size the prediction is resized to.
label_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# Validation at 512x1024 like the public code: labels are resized (nearest)
# with the image, and `ori_shape` is set to the resized shape so that the
# prediction is not resized back to 1024x2048.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(
        type='KeyMapper',
        mapping=dict(ori_shape='img_shape'),
        remapping=dict(ori_shape='ori_shape'),
        transforms=[]),
    dict(type='PackSegInputs')
]
labeled_dataset = dict(
    type=_base_.dataset_type,
    data_root=_base_.data_root,
    data_prefix=dict(
        img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
    ann_file='dmt_splits/SET_THE_SPLIT_IN_THE_CONFIG/labeled.txt',
    pipeline=train_pipeline)
unlabeled_dataset = dict(
    type=_base_.dataset_type,
    data_root=_base_.data_root,
    data_prefix=dict(
        img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
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
        num_labeled=2),
    dataset=dict(
        _delete_=True,
        type='SemiSegDataset',
        labeled=labeled_dataset,
        unlabeled=unlabeled_dataset,
        pipeline=train_pipeline,
        label_pipeline=label_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
