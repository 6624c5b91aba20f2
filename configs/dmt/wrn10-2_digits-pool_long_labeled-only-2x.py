# The longest labelled-only run of docs/benchmarks/PROTOCOL-v2.md for the
# chain of dmt_wrn10-2_digits-pool_long.py: twice its phase 0, 1,440
# iterations under one cosine schedule (amendment 4: its held-out curve is
# flat from 720 on).
_base_ = ['./wrn10-2_digits-pool_long_labeled-only.py']

num_iters = 1440
train_cfg = dict(max_iters=num_iters, val_interval=360)
param_scheduler = [dict(_base_.param_scheduler[0], end=num_iters)]
