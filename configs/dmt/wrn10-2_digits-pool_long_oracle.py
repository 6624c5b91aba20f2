# The oracle of dmt_wrn10-2_digits-pool_long.py: the longest labelled-only
# run (1,440 iterations) with every pool digit labelled (meta/pool.txt: the
# 1,097 train digits that are not held out). The upper reference of the
# tables and of the regime ratio.
_base_ = ['./wrn10-2_digits-pool_long_labeled-only-2x.py']

train_dataloader = dict(dataset=dict(ann_file='meta/pool.txt'))
