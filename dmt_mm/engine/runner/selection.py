# Copyright (c) dmt_mm contributors. All rights reserved.
"""Which weights end a DMT stage: the last ones, or the best on val.

dmt_mm keeps the last weights of every stage (``train_cfg.select='last'``,
the default): nothing is chosen on the evaluation set. The public code of
the paper (voldemortX/DST-CBC, segmentation) validates every few hundred
steps and keeps the *best* snapshot of each phase; that snapshot labels for
the partner, continues into the next phase and is the number reported, so
the published cells are best-of-N on the evaluation set.
``train_cfg.select='best'`` with ``train_cfg.val_interval`` reproduces it:
:class:`StageSelection` copies the active model's weights whenever a
validation inside the stage beats the stage's best so far and puts the best
copy back at the stage end, before the stage checkpoint is saved and before
the next labelling pass.

Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
Learning", arXiv:2004.08514.
"""
from typing import Dict, Optional

import torch

#: Values of ``train_cfg.select``.
SELECTIONS = ('last', 'best')


class StageSelection:
    """The best validated weights of the running stage (``select='best'``).

    Args:
        mode (str): ``'last'`` (keep the last weights, nothing is stored) or
            ``'best'``.
        metric (str): Val metric compared, e.g. ``'mIoU'``; higher is better.
    """

    def __init__(self, mode: str, metric: str) -> None:
        self.mode = mode
        self.metric = metric
        self.best: Optional[Dict] = None

    @property
    def enabled(self) -> bool:
        return self.mode == 'best'

    def start_stage(self) -> None:
        self.best = None

    def observe(self, metrics: Optional[dict], model: torch.nn.Module,
                iteration: int) -> None:
        """After a validation at ``iteration``: keep a CPU copy of
        ``model``'s weights when its ``metric`` is the stage's best."""
        if not self.enabled or not metrics or self.metric not in metrics:
            return
        value = float(metrics[self.metric])
        if self.best is not None and value <= self.best['value']:
            return
        self.best = dict(
            value=value,
            iter=int(iteration),
            state={k: v.detach().to('cpu', copy=True)
                   for k, v in model.state_dict().items()})

    def finish_stage(self, model: torch.nn.Module,
                     iteration: int) -> Optional[Dict]:
        """Load the stage's best weights into ``model`` when they are not
        the last ones; returns ``{'value', 'iter'}`` of what was loaded, or
        None."""
        best = self.best
        if not self.enabled or best is None or best['iter'] == iteration:
            return None
        model.load_state_dict(best['state'])
        return dict(value=best['value'], iter=best['iter'])

    # ------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return dict(best=self.best)

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get('best')
