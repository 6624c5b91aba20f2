# The labelled-only baseline of dmt_deeplabv2-lite0_digit-scenes.py at equal
# compute: the same ImageNet-pretrained EfficientNet-Lite0 DeepLab-v2,
# pipeline, batch size and learning rate, trained on all the demo's labelled
# scenes for as many iterations as one model's whole DMT run (phase 0 + its
# five DMT stages), under one poly schedule; validated every 100 iterations.
#
#   python tools/train.py configs/dmt/deeplabv2-lite0_digit-scenes_labeled-only.py
# Other labelled subsets: DMT_SPLIT=1 (.. 4) python tools/train.py ...
_base_ = ['./dmt_deeplabv2-lite0_digit-scenes.py']

dmt = _base_.train_cfg
num_iters = dmt.phase0_iters + len(dmt.keep_ratios) * dmt.phase_iters

model = dict(_delete_=True, **_base_.segmentor)
model['decode_head']['loss_decode'] = dict(
    type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
train_dataloader = dict(
    _delete_=True,
    batch_size=_base_.batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=_base_.labeled_dataset)
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=num_iters,
    val_interval=100)
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        by_epoch=False,
        begin=0,
        end=num_iters)
]
custom_hooks = []
