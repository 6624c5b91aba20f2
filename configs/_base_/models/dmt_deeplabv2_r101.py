# Two DeepLab-v2 ResNet-101 models for DMT (arXiv:2004.08514), diversified by
# their pre-training as in the paper: model A from the MS-COCO DeepLab-v2,
# model B from ImageNet. Each model has its own input normalisation, as in
# the public code: model A the Caffe input of the COCO model (BGR, 0-255,
# minus the Caffe mean, std 1; its weights unchanged), model B the ImageNet
# input. DMTSegmentor preprocesses every batch with the data preprocessor of
# the model in the student slot. Convert the COCO weights with
#   python tools/model_converters/dst_cbc_coco2mmseg.py \
#       resnet101COCO-41f33a49.pth pretrain/deeplabv2_coco_caffe_mmseg.pth
# and the ImageNet ResNet-101 with
#   python tools/model_converters/torchvision2mmseg.py \
#       resnet101-63fe2227.pth pretrain/resnet101_imagenet_mmseg.pth
# (docs/paper_settings.md). A config sets the crop/padding sizes on
# segmentor.data_preprocessor (both models inherit them), the number of
# classes and the loss gammas.
_base_ = ['./deeplabv2_r101.py']

# mmcv loads images as BGR 0-255.
imagenet_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
# The Caffe input of the COCO model (tools/model_converters/
# dst_cbc_coco2mmseg.py --input-space caffe): BGR, 0-255, Caffe mean.
caffe_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[104.008, 116.669, 122.675],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255)

coco_checkpoint = 'pretrain/deeplabv2_coco_caffe_mmseg.pth'
imagenet_checkpoint = 'pretrain/resnet101_imagenet_mmseg.pth'

segmentor = _base_.model
segmentor.data_preprocessor = imagenet_preprocessor
# The public code's classifier sums only the first two ASPP branches: its
# forward returns inside the summation loop (after dilations 6 and 12; the
# bug comes from the AdvSemiSeg port it re-implements), so the published
# numbers were obtained with a two-branch head; the COCO weights of the
# other two branches are never used. Set dilations=(6, 12, 18, 24) for the
# four-branch DeepLab-v2 of the paper's text.
segmentor.decode_head.dilations = (6, 12)
segmentor.decode_head.loss_decode = dict(
    type='DMTLoss', gamma1=5.0, gamma2=5.0)
# The public code never re-initialises its classifier: where no checkpoint
# provides it (model B; both models on Cityscapes), the ASPP-v2 convolutions
# keep PyTorch's default initialisation, not ASPPV2Head's N(0, 0.01)
# (docs/paper_settings.md, section 7).
segmentor.decode_head.init_cfg = None
model = dict(
    _delete_=True,
    type='DMTSegmentor',
    segmentor=segmentor,
    model_names=('A', 'B'),
    model_overrides=dict(
        # the whole network (backbone + classifier when the class count
        # matches) from the COCO DeepLab-v2, with its own Caffe input (merged
        # over segmentor.data_preprocessor: the sizes are shared)
        A=dict(
            init_cfg=dict(type='Pretrained', checkpoint=coco_checkpoint),
            data_preprocessor=caffe_preprocessor),
        # the backbone from ImageNet; the classifier keeps PyTorch's default
        # initialisation; the ImageNet input of segmentor.data_preprocessor
        B=dict(
            backbone=dict(
                init_cfg=dict(
                    type='Pretrained', checkpoint=imagenet_checkpoint)))),
    # None: each model uses its own data_preprocessor (a dict here would be
    # one preprocessor for both; without the key, mmengine's Runner would
    # fill in the config's top-level data_preprocessor)
    data_preprocessor=None)
