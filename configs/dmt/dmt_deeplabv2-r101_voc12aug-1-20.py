# DMT, PASCAL VOC 2012 train_aug, 1/20 labelled (530 images), DeepLab-v2
# ResNet-101: model A from COCO, model B from ImageNet. Published: baseline
# 62.29, DMT 69.92 mIoU (mean of 3 splits; oracle 74.75).
# Values: segmentation/dmt-voc-20-1.sh of voldemortX/DST-CBC.
#   python tools/train.py configs/dmt/dmt_deeplabv2-r101_voc12aug-1-20.py
# Other random splits: DMT_SPLIT=1 (or 2) python tools/train.py ...
_base_ = [
    '../_base_/models/dmt_deeplabv2_r101.py',
    '../_base_/datasets/voc12aug_semi.py',
    '../_base_/schedules/dmt_seg.py',
]
split_dir = 'dmt_splits/1-20/split{{$DMT_SPLIT:0}}'

# crops padded to 321x321 in training; validation padded to 505x505 (both
# models: model A's Caffe normalisation is merged over these)
preprocess = dict(size=(321, 321), test_cfg=dict(size=(505, 505)))
model = dict(
    segmentor=dict(
        data_preprocessor=preprocess,
        decode_head=dict(
            num_classes=21,
            loss_decode=dict(type='DMTLoss', gamma1=5.0, gamma2=5.0))))
train_dataloader = dict(
    batch_size=8,
    sampler=dict(batch_size=8, num_labeled=1),  # 1 labelled + 7 pseudo
    dataset=dict(
        labeled=dict(ann_file=split_dir + '/labeled.txt'),
        unlabeled=dict(ann_file=split_dir + '/unlabeled.txt')))
optim_wrapper = dict(optimizer=dict(lr=0.002))  # phase 0
train_cfg = dict(phase0_epochs=134, phase_epochs=4)
