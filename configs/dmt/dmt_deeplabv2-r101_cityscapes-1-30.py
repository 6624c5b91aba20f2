# DMT, Cityscapes, 1/30 labelled (100 images), DeepLab-v2 ResNet-101 at half
# resolution: model A from COCO, model B from ImageNet. Published: baseline
# 49.54, DMT 54.80 mIoU (mean of 3 splits; oracle 68.16).
# Values: segmentation/dmt-city-8-1.sh of voldemortX/DST-CBC after its fix
# of 2021-03-25 (gamma 3 and batches of 2 labelled + 6 pseudo; the first
# release had gamma 5 and 1 + 7); no 1/30 script was published: phase-0
# epochs of 1/30 from fs_city_all.sh of the same repository (330; its 1/8
# value, 170, is the one the DMT script uses).
#   python tools/train.py configs/dmt/dmt_deeplabv2-r101_cityscapes-1-30.py
# Other random splits: DMT_SPLIT=1 (or 2) python tools/train.py ...
# Model A: the COCO classifier has 21 classes; convert with --num-classes 19
# to drop it (otherwise it is skipped with a size-mismatch warning).
_base_ = ['./dmt_deeplabv2-r101_cityscapes-1-8.py']
split_dir = 'dmt_splits/1-30/split{{$DMT_SPLIT:0}}'
train_dataloader = dict(
    dataset=dict(
        labeled=dict(ann_file=split_dir + '/labeled.txt'),
        unlabeled=dict(ann_file=split_dir + '/unlabeled.txt')))
train_cfg = dict(phase0_epochs=330)
