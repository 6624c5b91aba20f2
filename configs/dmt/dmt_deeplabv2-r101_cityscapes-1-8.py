# DMT, Cityscapes, 1/8 labelled (371 images), DeepLab-v2 ResNet-101 at half
# resolution: model A from COCO, model B from ImageNet. Published: baseline
# 59.65, DMT 63.03 mIoU (mean of 3 splits; oracle 68.16).
# Values: segmentation/dmt-city-8-1.sh of voldemortX/DST-CBC after its fix
# of 2021-03-25 (gamma 3 and batches of 2 labelled + 6 pseudo; the first
# release had gamma 5 and 1 + 7).
#   python tools/train.py configs/dmt/dmt_deeplabv2-r101_cityscapes-1-8.py
# Other random splits: DMT_SPLIT=1 (or 2) python tools/train.py ...
_base_ = [
    '../_base_/models/dmt_deeplabv2_r101.py',
    '../_base_/datasets/cityscapes_semi.py',
    '../_base_/schedules/dmt_seg.py',
]
split_dir = 'dmt_splits/1-8/split{{$DMT_SPLIT:0}}'

# Model A: the COCO classifier has 21 classes; convert with --num-classes 19
# to drop it (otherwise it is skipped with a size-mismatch warning).
# crops; validation images all 512x1024 (both models: model A's Caffe
# normalisation is merged over these)
preprocess = dict(size=(256, 512))
model = dict(
    segmentor=dict(
        data_preprocessor=preprocess,
        decode_head=dict(
            num_classes=19,
            loss_decode=dict(type='DMTLoss', gamma1=3.0, gamma2=3.0))))
train_dataloader = dict(
    batch_size=8,
    sampler=dict(batch_size=8, num_labeled=2),  # 2 labelled + 6 pseudo
    dataset=dict(
        labeled=dict(ann_file=split_dir + '/labeled.txt'),
        unlabeled=dict(ann_file=split_dir + '/unlabeled.txt')))
optim_wrapper = dict(optimizer=dict(lr=0.004))  # phase 0
train_cfg = dict(
    phase0_epochs=170, phase_epochs=10, dmt_lr=0.004, label_batch_size=8)
