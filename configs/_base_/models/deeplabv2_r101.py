# DeepLab-v2, ResNet-101, output stride 8, torchvision weight layout: the
# segmentation network of DMT (arXiv:2004.08514), after Chen et al., TPAMI
# 2017. Written as a diff over MMSeg's DeepLab-v3 base (which provides the
# ImageNet RGB data_preprocessor and the train/test cfg).

_base_ = ['mmseg::_base_/models/deeplabv3_r50-d8.py']

# BN layers train (norm_eval=False), as in the paper. SyncBN equals plain BN in
# a single non-distributed process and keeps the paper's whole-batch
# statistics under DDP on GPUs. (On CPU with a distributed launcher, override
# with norm_cfg=dict(type='BN', requires_grad=True).)
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    # Load ImageNet/COCO weights through
    # backbone.init_cfg=dict(type='Pretrained', checkpoint=...), e.g. the
    # output of tools/model_converters/torchvision2mmseg.py.
    pretrained=None,
    backbone=dict(
        # mmseg's plain ResNet (single 7x7 stem conv named conv1/bn1,
        # layer1..layer4), NOT ResNetV1c: parameter names match torchvision.
        type='ResNet',
        depth=101,
        deep_stem=False,
        # strides/dilations + contract_dilation reproduce torchvision's
        # replace_stride_with_dilation=[False, True, True]: layer3 dilation 2
        # and layer4 dilation 4, the first block of each using the previous
        # stage's dilation (1 and 2).
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        contract_dilation=True,
        style='pytorch',
        out_indices=(3, ),
        norm_cfg=norm_cfg,
        norm_eval=False),
    decode_head=dict(
        _delete_=True,
        type='ASPPV2Head',
        in_channels=2048,
        # only out_indices=(3, ) is returned, so the single output is index 0
        # (-1 would do as well)
        in_index=0,
        # `channels` is required by BaseDecodeHead but unused by ASPPV2Head:
        # the ASPP convolutions map in_channels straight to num_classes.
        channels=512,
        num_classes=21,
        dilations=(6, 12, 18, 24),
        dropout_ratio=0.0,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
