# DMT, CIFAR-10 with 4,000 labels, WideResNet-28-2. Published: baseline
# 86.08, DMT 94.21 top-1 accuracy (mean of 5 seeds). Values: the
# classification scripts of voldemortX/DST-CBC (phase 0: 2,120 epochs of
# batch 512 over the labelled set; phases 1-5: 750 epochs over the kept
# pseudo-labelled samples, 496 + 16 per batch, a new student each phase).
#   python tools/train.py configs/dmt/dmt_wrn28-2_cifar10-4000.py
# Other labelled subsets: DMT_SPLIT=1 (.. 4) python tools/train.py ...
_base_ = [
    '../_base_/models/dmt_wrn28-2.py',
    '../_base_/datasets/cifar10_semi.py',
    '../_base_/schedules/dmt_cls.py',
]
train_cfg = dict(phase0_epochs=2120, phase_epochs=750)
# The public classifier keeps PyTorch's nn.Linear initialisation (Kaiming
# uniform, a = sqrt(5)) with a zero bias (docs/paper_settings.md, section 7).
model = dict(
    head=dict(
        init_cfg=dict(
            type='Kaiming',
            layer='Linear',
            a=5**0.5,
            mode='fan_in',
            nonlinearity='leaky_relu',
            distribution='uniform',
            bias=0.)))
