# CIFAR-10 for DMT: MMPretrain's CIFAR-10 settings (the python version under
# data/cifar10/cifar-10-batches-py, normalisation, test pipeline, accuracy)
# with a labelled subset + the rest of the training set as unlabelled data.
# Write the labelled subsets first (class-balanced, nested, 5 seeds; format:
# one index into the 50,000 training images per line):
#   python tools/dataset_converters/make_cifar_splits.py data/cifar10 \
#       --num-labeled 4000 1000 --seeds 0 1 2 3 4
_base_ = ['mmpretrain::_base_/datasets/cifar10_bs16.py']
data_root = 'data/cifar10'
num_labeled = 4000
split = 'seed{{$DMT_SPLIT:0}}'

# The augmentation of the public code (voldemortX/DST-CBC, classification/
# main_fs.py and main_dmt.py): random crop with 4-pixel padding filled with
# 128, horizontal flip, then one op drawn from the 16 of its RandAugment list
# (one of them an absolute-size Cutout) at a magnitude drawn from 1..10; no
# other Cutout. MMPretrain's CIFAR10 yields RGB images.
# (docs/paper_settings.md, "CIFAR-10 augmentation")
train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4, pad_val=128),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='DSTRandAugment',
        num_ops=1,
        max_magnitude=10,
        channel_order='rgb'),
    dict(type='PackInputs'),
]

# The public code's normalisation (classification/utils/common.py: mean
# (0.49137, 0.48235, 0.44667), std (0.24706, 0.24353, 0.26157) of [0, 1]
# pixels), not MMPretrain's CIFAR-10 values.
data_preprocessor = dict(
    mean=[125.299, 122.999, 113.901], std=[63.000, 62.100, 66.700])

# 496 pseudo-labelled + 16 labelled samples per batch of 512; phase 0 trains
# on batches of 512 labelled samples.
train_dataloader = dict(
    _delete_=True,
    batch_size=512,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(
        type='LabeledPseudoSampler', batch_size=512, source_ratio=(1, 31)),
    dataset=dict(
        type='SemiClsDataset',
        labeled=dict(
            type=_base_.dataset_type,
            data_root=data_root,
            split='train',
            indices=f'meta/cifar10_labeled_{num_labeled}_{split}.txt'),
        # its labels are hidden from training (pseudo-label accuracy only)
        unlabeled=dict(
            type=_base_.dataset_type,
            data_root=data_root,
            split='train',
            indices=f'meta/cifar10_unlabeled_{num_labeled}_{split}.txt'),
        pipeline=train_pipeline,
        label_pipeline=_base_.test_pipeline))
val_dataloader = dict(batch_size=512, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
