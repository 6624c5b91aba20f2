# Oracle of the DMT paper's VOC table: DeepLab-v2 ResNet-101 trained
# supervised on all 10582 train_aug labels from the COCO DeepLab-v2.
# Published: 74.75 mIoU. A plain MMSeg run (EncoderDecoder,
# IterBasedTrainLoop), no DMT.
# Values: fs_voc_all.sh of voldemortX/DST-CBC (oracle: 30 epochs, batch 8,
# lr 0.002, COCO init, mixed precision).
#   python tools/dataset_converters/make_splits.py voc data/VOCdevkit/VOC2012
#   python tools/train.py configs/baseline/deeplabv2-r101_voc12aug-full.py
_base_ = [
    '../_base_/models/deeplabv2_r101.py',
    '../_base_/datasets/voc12aug_semi.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
custom_imports = dict(imports=['dmt_mm'], allow_failed_imports=False)

# tools/model_converters/dst_cbc_coco2mmseg.py --input-space caffe
coco_caffe_checkpoint = 'pretrain/deeplabv2_coco_caffe_mmseg.pth'
caffe_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[104.008, 116.669, 122.675],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=(321, 321),
    test_cfg=dict(size=(505, 505)))
model = dict(
    data_preprocessor=caffe_preprocessor,
    init_cfg=dict(type='Pretrained', checkpoint=coco_caffe_checkpoint),
    decode_head=dict(
        num_classes=21,
        # the two branches the public code's classifier sums (see
        # configs/_base_/models/dmt_deeplabv2_r101.py)
        dilations=(6, 12),
        # mean over non-ignored pixels, like torch's CrossEntropyLoss
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=True)))

# 30 epochs of ceil(10582 / 8) = 1323 iterations
max_iters = 30 * 1323
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type=_base_.dataset_type,
        data_root=_base_.data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        ann_file='dmt_splits/train_full.txt',
        pipeline=_base_.train_pipeline))
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='SGD', lr=0.002, momentum=0.9, weight_decay=5e-4),
    clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=4000)
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=4000,
        max_keep_ckpts=2))
randomness = dict(seed=0)
