# dataset settings: scikit-learn's 1,797 handwritten digits as 32x32 RGB
# images (1,297 train, 500 val). Generate them first (about a second; a no-op
# when up to date):
#   python tools/dataset_converters/digits_cls.py -o data/digits_cls
dataset_type = 'CustomDataset'
data_root = 'data/digits_cls'
classes = tuple(str(d) for d in range(10))
data_preprocessor = dict(
    num_classes=10,
    # light strokes on a black background
    mean=[78.0, 78.0, 78.0],
    std=[83.0, 83.0, 83.0],
    to_rgb=False)

# The paper's CIFAR-10 augmentation without the flip (a mirrored digit is not
# the same digit): random crop with 4-pixel padding, RandAugment (one random
# op, random magnitude up to 10) and Cutout.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4, pad_val=0),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=1,
        magnitude_level=10,
        magnitude_std='inf',
        total_level=10,
        hparams=dict(pad_val=0)),
    dict(type='Cutout', shape=8, pad_val=0, prob=1.0),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        classes=classes,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=250,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/val.txt',
        classes=classes,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
