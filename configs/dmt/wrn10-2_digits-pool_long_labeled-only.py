# The labelled-only baseline of dmt_wrn10-2_digits-pool_long.py at equal
# compute: the chain's phase 0 and its five students, 6 x 720 = 4,320
# iterations on its labelled digits under one cosine schedule, the EMA
# model validated.
#
#   python tools/train.py configs/dmt/wrn10-2_digits-pool_long_labeled-only.py
_base_ = ['./wrn10-2_digits-pool_labeled-only.py']

num_iters = 720 * 6
train_cfg = dict(max_iters=num_iters, val_interval=720)
param_scheduler = [dict(_base_.param_scheduler[0], end=num_iters)]
