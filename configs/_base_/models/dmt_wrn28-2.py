# WideResNet-28-2 (about 1.47 M parameters, a 128-d feature after the 8x8
# average pool) trained with DMT's dynamic loss and mixup
# (arXiv:2004.08514; CIFAR-10 values of the public scripts: gamma1 = gamma2
# = 4, mixup alpha 0.75). The head's gamma ramps up over every phase.
model = dict(
    type='DMTImageClassifier',
    backbone=dict(type='WideResNet', depth=28, widen_factor=2),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='DMTClsHead',
        num_classes=10,
        in_channels=128,
        gamma1=4.0,
        gamma2=4.0,
        mixup_alpha=0.75))
