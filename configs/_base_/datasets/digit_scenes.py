# dataset settings: scenes composed from scikit-learn's handwritten digits.
# Generate the data first (seconds on a CPU; a no-op when up to date):
#   python tools/dataset_converters/digit_scenes.py -o data/digit_scenes

dataset_type = 'DigitScenesDataset'
data_root = 'data/digit_scenes'
crop_size = (48, 48)
# Strong scale jitter and colour distortion: trained from scratch on 100
# labelled scenes, a network otherwise memorises where each scene's digits
# are. No flips: a mirrored digit is not the same digit.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(64, 64),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    # add loading annotation after ``Resize`` because ground truth
    # does not need to do resize data transform
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]

# The labelled scenes of split seed DMT_SPLIT (0, 1 or 2; default 0: 100 of
# the 1,000 train scenes, shared by both models of a DMT run) and the other
# 900 train scenes as unlabelled data. Their masks are only read by the
# labelling pass to report pseudo-label quality, never trained on.
split = 'seed{{$DMT_SPLIT:0}}'
labeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
    ann_file=f'splits/labeled_{split}.txt',
    pipeline=train_pipeline)
unlabeled_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
    ann_file=f'splits/unlabeled_{split}.txt')
# The two disjoint 100-scene subsets of one fixed split (splits/labeled_a,
# labeled_b) and the 800 scenes left, for the VOC 1/106-style protocol
# (SemiSegDataset's labeled_phase0).
labeled_dataset_a = dict(labeled_dataset, ann_file='splits/labeled_a.txt')
labeled_dataset_b = dict(labeled_dataset, ann_file='splits/labeled_b.txt')

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=labeled_dataset)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        ann_file='splits/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
