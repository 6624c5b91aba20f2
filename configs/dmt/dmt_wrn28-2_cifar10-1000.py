# DMT, CIFAR-10 with 1,000 labels, WideResNet-28-2: the 4,000-label recipe
# on the 1,000-label subsets (nested in the 4,000-label ones of the same
# seed).
#   python tools/train.py configs/dmt/dmt_wrn28-2_cifar10-1000.py
# Other labelled subsets: DMT_SPLIT=1 (.. 4) python tools/train.py ...
_base_ = ['./dmt_wrn28-2_cifar10-4000.py']
split = 'seed{{$DMT_SPLIT:0}}'
train_dataloader = dict(
    dataset=dict(
        labeled=dict(indices=f'meta/cifar10_labeled_1000_{split}.txt'),
        unlabeled=dict(indices=f'meta/cifar10_unlabeled_1000_{split}.txt')))
