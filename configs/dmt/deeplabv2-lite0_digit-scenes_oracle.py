# The oracle of dmt_deeplabv2-lite0_digit-scenes.py: the labelled-only run
# of equal compute (deeplabv2-lite0_digit-scenes_labeled-only.py) with every
# pool scene labelled (splits/pool.txt: the 900 train scenes that are not
# held out). The upper reference of the benchmark tables.
_base_ = ['./deeplabv2-lite0_digit-scenes_labeled-only.py']

train_dataloader = dict(
    dataset=dict(ann_file='splits/pool.txt'))
