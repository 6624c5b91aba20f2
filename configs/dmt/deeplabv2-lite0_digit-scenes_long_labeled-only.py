# The labelled-only baseline of dmt_deeplabv2-lite0_digit-scenes_long.py at
# equal compute: the same model, pipeline, batch size and learning rate on
# all its labelled scenes for as many iterations as one model's whole DMT
# run, phase 0 plus five stages of ceil(8 x unlabelled / 6) iterations
# (4,000 + 5 x 1,094 = 9,470 at 80 labelled scenes), under one poly
# schedule.
#
#   python tools/train.py configs/dmt/deeplabv2-lite0_digit-scenes_long_labeled-only.py
# Other labelled subsets: DMT_SPLIT=1 (.. 4); other budgets: DMT_BUDGET=40.
_base_ = ['./deeplabv2-lite0_digit-scenes_labeled-only.py']

num_labeled = '{{$DMT_BUDGET:80}}'  # the DMT config's
# splits/pool.txt: the converter's 1,000 train scenes less the 100 held out;
# the unlabelled scenes are the pool's others
pool_size = 900
dmt_stage = -(-8 * (pool_size - int(num_labeled)) // 6)  # ceil
num_iters = 4000 + 5 * dmt_stage

train_dataloader = dict(
    dataset=dict(
        ann_file=f'splits/pool_labeled{num_labeled}_{_base_.split}.txt'))
train_cfg = dict(max_iters=num_iters, val_interval=500)
param_scheduler = [dict(_base_.param_scheduler[0], end=num_iters)]
default_hooks = dict(checkpoint=dict(interval=1000))
