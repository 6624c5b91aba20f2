# DMT on your own segmentation data: the demo's models and schedule
# (configs/dmt/dmt_deeplabv2-r18_digit-scenes.py: two half-width ResNet-18
# DeepLab-v2 models trained from scratch, phase 0 + 5 DMT phases, train_cfg
# and hooks as there) with dataset configs that carry no dataset-specific
# keys, so that a config inheriting this one only states its own data
# (README, "Use it on your own dataset"). A base: it names no data, so it
# does not run by itself. A config in configs/dmt/ inherits it with
#
#   _base_ = ['../_base_/own_data/dmt_deeplabv2-r18_own-data.py']
#   metainfo = dict(classes=('background', 'road', 'building'))
#   my_labeled = dict(type='BaseSegDataset', data_root=..., metainfo=metainfo,
#                     data_prefix=dict(img_path=..., seg_map_path=...))
#   my_unlabeled = dict(type='BaseSegDataset', data_root=...,
#                       metainfo=metainfo, data_prefix=dict(img_path=...))
#   train_dataloader = dict(dataset=dict(labeled=my_labeled,
#                                        unlabeled=my_unlabeled))
#   val_dataloader = dict(dataset=dict(type='BaseSegDataset', ...))
#   test_dataloader = val_dataloader
#   model = dict(segmentor=dict(decode_head=dict(num_classes=3)))
#
# Images are resized to fit 512x512 (scale jitter 0.5-2 in training) and
# trained on 256x256 crops. For another resolution, restate the pipelines
# below in your config (config variables such as ``crop_size`` are read when
# this file is parsed, so redefining one in a child changes nothing).
_base_ = ['../../dmt/dmt_deeplabv2-r18_digit-scenes.py']

crop_size = (256, 256)
scale = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]

# Training batches are padded to the crop size.
model = dict(
    data_preprocessor=dict(size=crop_size),
    segmentor=dict(data_preprocessor=dict(size=crop_size)))

# ``_delete_=True`` drops the demo's digit-scene dataset keys (its
# ``DigitScenesDataset`` type, ``data_root``, ``ann_file`` split files and
# ``data_prefix`` folders); without it they would be merged into your dicts.
# It is needed here, in this file, so that yours can do without it. The one
# labelled dataset is shared by both models (give a list of two dicts to
# train them on two different labelled subsets, as the paper does for VOC
# 1/106); the unlabelled one may be a bare image folder: no masks, no split
# file (where it has masks they only measure pseudo-label quality).
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='SemiSegDataset',
        labeled=dict(type='BaseSegDataset'),
        unlabeled=dict(type='BaseSegDataset'),
        pipeline=train_pipeline,
        label_pipeline=test_pipeline,
        verify='all'))
val_dataloader = dict(
    dataset=dict(
        _delete_=True, type='BaseSegDataset', pipeline=test_pipeline))
test_dataloader = val_dataloader
