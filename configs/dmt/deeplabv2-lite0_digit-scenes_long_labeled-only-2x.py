# The longest labelled-only run of docs/benchmarks/PROTOCOL-v2.md, the
# second baseline of dmt_deeplabv2-lite0_digit-scenes_long.py: twice its
# phase 0, 8,000 iterations under one poly schedule (amendment 2: not a
# plateau; its held-out curve still gained 4.8 mIoU from 4,000 to 8,000).
_base_ = ['./deeplabv2-lite0_digit-scenes_long_labeled-only.py']

num_iters = 8000
train_cfg = dict(max_iters=num_iters)
param_scheduler = [dict(_base_.param_scheduler[0], end=num_iters)]
