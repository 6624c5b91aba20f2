# Copyright (c) dmt_mm contributors. All rights reserved.
"""The "EMA" of DMT's public CIFAR-10 code against mmengine's.

The public code (voldemortX/DST-CBC, ``classification/utils/common.py``,
class ``EMA``, decay 0.999) starts its shadow weights from the parameters
before training and after every optimizer step does
``shadow -= decay * (shadow - param)``, i.e.
``shadow = (1 - decay) * shadow + decay * param``: with decay 0.999 the
"EMA" is, to 1e-3, the raw weights. mmengine's ``ExponentialMovingAverage``
computes ``ema = (1 - momentum) * ema + momentum * param`` (its first update
copies the parameters), so ``EMAHook(momentum=0.999)`` is the public
behaviour and ``EMAHook(momentum=0.001)`` a true 0.999 average. BN running
statistics are not averaged by either: the public code copies the raw
model's at the end, mmengine copies them at every update.
"""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.registry import HOOKS

STEPS = 6


def _train(momentum: float):
    """A few SGD steps of a tiny float64 model, with mmengine's EMAHook as a
    config builds it and the public update side by side.

    Returns the raw parameters before training and after every step, the
    public shadows and mmengine's EMA after every step, and the final
    buffers of the raw model and of the EMA model.
    """
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    hook = HOOKS.build(dict(type='EMAHook', momentum=momentum))
    runner = SimpleNamespace(model=model, iter=0, epoch=0, max_iters=STEPS)
    hook.before_run(runner)
    hook.before_train(runner)
    shadow = {n: p.detach().clone() for n, p in model.named_parameters()}
    raw = [{n: p.detach().clone() for n, p in model.named_parameters()}]
    public, ema = [], []
    for it in range(STEPS):
        runner.iter = it
        x = torch.randn(8, 4, dtype=torch.float64)
        loss = (model(x) - torch.arange(3.0, dtype=torch.float64)).pow(2)
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        hook.after_train_iter(runner, it)
        for n, p in model.named_parameters():  # the public update
            shadow[n] -= momentum * (shadow[n] - p.detach())
        raw.append({
            n: p.detach().clone()
            for n, p in model.named_parameters()
        })
        public.append({n: s.clone() for n, s in shadow.items()})
        ema.append({
            n: p.detach().clone()
            for n, p in hook.ema_model.module.named_parameters()
        })
    buffers = (dict(model.named_buffers()),
               dict(hook.ema_model.module.named_buffers()))
    return raw, public, ema, buffers


@pytest.mark.parametrize('momentum', [0.999, 0.001])
def test_mmengine_momentum_is_the_public_decay(momentum):
    """Same recurrence; the only difference is the start (public: the
    weights before training; mmengine: a copy at the first update), which
    decays as ``(1 - m) ** k``."""
    raw, public, ema, _ = _train(momentum)
    for n in raw[0]:
        torch.testing.assert_close(ema[0][n], raw[1][n], rtol=0, atol=0)
        torch.testing.assert_close(public[0][n], (1 - momentum) * raw[0][n] +
                                   momentum * raw[1][n])
        for k in range(1, STEPS + 1):
            gap = (1 - momentum)**k * (raw[1][n] - raw[0][n])
            torch.testing.assert_close(ema[k - 1][n] - public[k - 1][n],
                                       gap,
                                       rtol=1e-9,
                                       atol=1e-12)
            if k > 1:  # ema_k = (1 - m) ema_{k-1} + m param_k
                torch.testing.assert_close(ema[k - 1][n],
                                           (1 - momentum) * ema[k - 2][n] +
                                           momentum * raw[k][n])


def test_public_decay_0999_follows_the_raw_weights():
    """momentum=0.999 (the public code): lags the raw weights by at most
    1e-3 / (1 - 1e-3) of the largest step so far; momentum=0.001 (a true
    0.999 average): stays near the first update's weights, far from the
    current ones."""
    raw, public, ema, _ = _train(0.999)
    for k in range(1, STEPS + 1):
        for n in raw[0]:
            step = max((raw[j][n] - raw[j - 1][n]).abs().max()
                       for j in range(1, k + 1))
            bound = 1e-3 / (1 - 1e-3) * step
            assert (public[k - 1][n] - raw[k][n]).abs().max() <= bound
            assert (ema[k - 1][n] - raw[k][n]).abs().max() <= bound
    raw, _, ema, _ = _train(0.001)
    for n in raw[0]:
        moved = (raw[STEPS][n] - raw[1][n]).abs().max()
        assert moved > 0
        assert (ema[-1][n] - raw[STEPS][n]).abs().max() > 0.9 * moved
        assert (ema[-1][n] - raw[1][n]).abs().max() < 0.01 * moved


@pytest.mark.parametrize('momentum', [0.999, 0.001])
def test_bn_statistics_are_the_raw_models(momentum):
    _, _, _, (model_buffers, ema_buffers) = _train(momentum)
    assert set(model_buffers) == set(ema_buffers)
    for n in ('1.running_mean', '1.running_var', '1.num_batches_tracked'):
        torch.testing.assert_close(ema_buffers[n], model_buffers[n])
    assert int(model_buffers['1.num_batches_tracked']) == STEPS
