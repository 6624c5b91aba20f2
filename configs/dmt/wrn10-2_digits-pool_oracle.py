# The oracle of dmt_wrn10-2_digits-pool.py: the labelled-only run of equal
# compute (wrn10-2_digits-pool_labeled-only.py) with every pool digit
# labelled (meta/pool.txt: the 1,097 train digits that are not held out).
_base_ = ['./wrn10-2_digits-pool_labeled-only.py']

train_dataloader = dict(dataset=dict(ann_file='meta/pool.txt'))
