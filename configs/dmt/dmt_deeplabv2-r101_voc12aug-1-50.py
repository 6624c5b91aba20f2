# DMT, PASCAL VOC 2012 train_aug, 1/50 labelled (211 images), DeepLab-v2
# ResNet-101: model A from COCO, model B from ImageNet. Published: baseline
# 55.62, DMT 67.15 mIoU (mean of 3 splits; oracle 74.75).
# Values: segmentation/dmt-voc-20-1.sh of voldemortX/DST-CBC (no script of
# this ratio was published); phase-0 epochs of 1/50 from its fs_voc_all.sh
# (the per-ratio epochs that the DMT scripts of 1/106 and 1/20 reuse).
#   python tools/train.py configs/dmt/dmt_deeplabv2-r101_voc12aug-1-50.py
# Other random splits: DMT_SPLIT=1 (or 2) python tools/train.py ...
_base_ = ['./dmt_deeplabv2-r101_voc12aug-1-20.py']
split_dir = 'dmt_splits/1-50/split{{$DMT_SPLIT:0}}'
train_dataloader = dict(
    dataset=dict(
        labeled=dict(ann_file=split_dir + '/labeled.txt'),
        unlabeled=dict(ann_file=split_dir + '/unlabeled.txt')))
train_cfg = dict(phase0_epochs=212)
