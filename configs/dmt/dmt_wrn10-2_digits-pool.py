# DMT on the bundled handwritten digits in the paper's classification regime:
# the chain of dmt_wrn10-2_digits-50.py (WRN-10-2 from scratch, EMA teacher,
# fresh students, mixup dynamic loss with the gamma ramp) with a label budget
# small enough that the labelled-only model sits about as far below the
# oracle as CIFAR-10 with 4,000 labels does (86.08 against about 95 %), so the
# pseudo labels carry errors for the dynamic weights to find. Labelled and
# unlabelled digits come from the pool (train digits minus the 200 held-out
# ones, meta/heldout.txt, where the budget, lengths and gamma were chosen;
# docs/benchmarks/PROTOCOL.md). The labelled-only run of equal compute is
# wrn10-2_digits-pool_labeled-only.py, the oracle
# wrn10-2_digits-pool_oracle.py.
#
#   python tools/dataset_converters/digits_cls.py -o data/digits_cls
#   python tools/train.py configs/dmt/dmt_wrn10-2_digits-pool.py
# Other labelled subsets: DMT_SPLIT=1 (.. 4) python tools/train.py ...
#   python tools/test.py configs/dmt/dmt_wrn10-2_digits-pool.py \
#       work_dirs/dmt_wrn10-2_digits-pool/phase5.pth
_base_ = ['./dmt_wrn10-2_digits-50.py']

# the label budget (PROTOCOL.md: chosen on held-out digits)
num_labeled = '{{$DMT_BUDGET:30}}'
train_dataloader = dict(
    dataset=dict(
        labeled=dict(
            ann_file=f'meta/pool_labeled{num_labeled}_{_base_.split}.txt'),
        unlabeled=dict(
            ann_file=f'meta/pool_unlabeled{num_labeled}_{_base_.split}.txt')))
model = dict(head=dict(gamma1=4.0, gamma2=4.0))
# 6 stages of 360 iterations: the 10-minute budget of make demo-cls on a
# 2-core CPU (PROTOCOL.md amendment 5)
train_cfg = dict(phase0_iters=360, phase_iters=360)
