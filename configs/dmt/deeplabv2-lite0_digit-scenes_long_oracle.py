# The oracle of dmt_deeplabv2-lite0_digit-scenes_long.py: the longest
# labelled-only run (8,000 iterations) with every pool scene labelled
# (splits/pool.txt: the 900 train scenes that are not held out). The upper
# reference of the tables and of the regime ratio.
_base_ = ['./deeplabv2-lite0_digit-scenes_long_labeled-only-2x.py']

train_dataloader = dict(dataset=dict(ann_file='splits/pool.txt'))
