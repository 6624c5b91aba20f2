# DMT, PASCAL VOC 2012 train_aug, 1/106 labelled (100 images), DeepLab-v2
# ResNet-101. Both models start from the COCO DeepLab-v2 and are diversified
# by their phase-0 labelled subsets: two random 80-image subsets of the 100
# that share 60% (the public code's difference-maximised sampling,
# dms_sample.py); make_splits.py writes them as labeled_a.txt / labeled_b.txt.
# The DMT phases train both models on all 100 (labeled.txt). The
# unlabelled set is the other 10482 images. Published: baseline 46.66, DMT
# 63.04 mIoU (mean of 3 splits; oracle 74.75).
# Values: segmentation/dmt-voc-106-1lr.sh of voldemortX/DST-CBC.
#   python tools/train.py configs/dmt/dmt_deeplabv2-r101_voc12aug-1-106.py
# Other random splits: DMT_SPLIT=1 (or 2) python tools/train.py ...
_base_ = [
    '../_base_/models/dmt_deeplabv2_r101.py',
    '../_base_/datasets/voc12aug_semi.py',
    '../_base_/schedules/dmt_seg.py',
]
split_dir = 'dmt_splits/1-106/split{{$DMT_SPLIT:0}}'

# Both models are COCO models (weights unchanged, the Caffe input: one data
# preprocessor serves both)
#   python tools/model_converters/dst_cbc_coco2mmseg.py \
#       resnet101COCO-41f33a49.pth pretrain/deeplabv2_coco_caffe_mmseg.pth
coco_caffe_checkpoint = 'pretrain/deeplabv2_coco_caffe_mmseg.pth'
# crops padded to 321x321 in training; validation padded to 505x505
preprocess = dict(
    _base_.caffe_preprocessor, size=(321, 321), test_cfg=dict(size=(505, 505)))
model = dict(
    segmentor=dict(
        data_preprocessor=preprocess,
        decode_head=dict(
            num_classes=21,
            loss_decode=dict(type='DMTLoss', gamma1=5.0, gamma2=5.0))),
    model_overrides=dict(
        A=dict(
            _delete_=True,
            init_cfg=dict(type='Pretrained',
                          checkpoint=coco_caffe_checkpoint)),
        B=dict(
            _delete_=True,
            init_cfg=dict(type='Pretrained',
                          checkpoint=coco_caffe_checkpoint))))
train_dataloader = dict(
    batch_size=8,
    sampler=dict(batch_size=8, num_labeled=1),  # 1 labelled + 7 pseudo
    dataset=dict(
        # as the public scripts: phase 0 trains A on labeled_a and B on
        # labeled_b (--train-set=106-l / -r); every DMT phase trains both on
        # the whole 100-image labelled set (--train-set=106)
        labeled=dict(ann_file=split_dir + '/labeled.txt'),
        labeled_phase0=[
            dict(
                _base_.labeled_dataset, ann_file=split_dir + '/labeled_a.txt'),
            dict(
                _base_.labeled_dataset, ann_file=split_dir + '/labeled_b.txt'),
        ],
        unlabeled=dict(ann_file=split_dir + '/unlabeled.txt')))
optim_wrapper = dict(optimizer=dict(lr=0.002))  # phase 0
train_cfg = dict(phase0_epochs=300, phase_epochs=4)
