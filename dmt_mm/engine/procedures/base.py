# Copyright (c) dmt_mm contributors. All rights reserved.
"""What every DMT procedure shares: stage start and end, the restart of the
optimizer and of the learning-rate schedule, and the checkpointed state."""
import copy
from typing import List, Optional

from mmengine.model import is_model_wrapper


def unwrap(model):
    """The model inside a DDP (or other) wrapper."""
    return model.module if is_model_wrapper(model) else model


class BaseProcedure:
    """Base of the two DMT procedures (:class:`MutualProcedure`,
    :class:`ChainProcedure`).

    The loop calls :meth:`check` when it is built, :meth:`before_run` when
    training starts, :meth:`start_stage` when a stage begins (or is resumed),
    :meth:`load_stage` instead for a phase-0 stage whose weights
    :meth:`load_phase0` put in place (``train_cfg.phase0_from``),
    :meth:`before_iter` before every iteration, and saves
    :meth:`state_dict` in every checkpoint. A subclass
    implements :meth:`prepare_stage`: the labelling, model swap and dataset
    pointing its procedure needs before the stage's first iteration.

    Args:
        loop (DMTTrainLoop): The loop; its settings (``dmt_lr``,
            ``label_batch_size``, ...) and ``report`` are read from it.
    """

    name = ''

    def __init__(self, loop) -> None:
        self.loop = loop
        self.runner = loop.runner
        # checkpointed
        self.started_stage = -1  # index of the last stage started
        self.base_lrs: Optional[List[float]] = None

    @property
    def dataset(self):
        return self.loop.dataloader.dataset

    @property
    def model(self):
        return unwrap(self.runner.model)

    # ------------------------------------------------------------- lifecycle
    def check(self) -> None:
        """Checks of model and data when the loop is built (override)."""

    def before_run(self) -> None:
        """Remember the optimizer's base learning rates."""
        if self.base_lrs is None:  # fresh run; a resume restores them
            self.base_lrs = [
                g.get('initial_lr', g['lr'])
                for g in self.runner.optim_wrapper.param_groups
            ]

    def _check_next(self, stage) -> None:
        if stage.index != self.started_stage + 1:
            raise RuntimeError(
                f'DMT state is at stage {self.started_stage} but the loop is '
                f'at stage {stage.index} ({stage.name}); was the checkpoint '
                'written by a different schedule?')

    def start_stage(self, stage) -> None:
        """Prepare ``stage``; restart optimization unless resumed inside it."""
        resumed = self.started_stage == stage.index
        if not resumed:
            self._check_next(stage)
        self.prepare_stage(stage, resumed)
        if resumed:
            self.runner.logger.info(f'DMT: resumed inside stage {stage.name}')
            return
        self.restart_optimization(stage)
        self.started_stage = stage.index
        msg = (f'DMT: stage {stage.name} starts: {stage.length} iterations '
               f'[{stage.begin}, {stage.end})')
        if stage.phase >= 1:
            msg += f', keep ratio {stage.keep_ratio}'
        self.runner.logger.info(msg)

    def load_stage(self, stage, source: str) -> None:
        """Enter phase-0 stage ``stage`` whose weights were loaded
        (``train_cfg.phase0_from``, see :meth:`load_phase0`), not trained:
        no optimization restart, no iteration."""
        self._check_next(stage)
        self.prepare_stage(stage, False)
        self.started_stage = stage.index
        self.runner.logger.info(
            f'DMT: stage {stage.name}: weights from {source} '
            '(train_cfg.phase0_from), not trained')

    def prepare_stage(self, stage, resumed: bool) -> None:
        raise NotImplementedError

    def phase0_template(self) -> dict:
        """The state dict a phase-0 checkpoint must fit (override)."""
        raise NotImplementedError

    def load_phase0(self, states: dict) -> None:
        """Put the phase-0 weights ``{model: state dict}`` in place
        (override)."""
        raise NotImplementedError

    def labels_at(self, stage) -> bool:
        """Whether a labelling pass runs when ``stage`` starts."""
        return stage.phase >= 1

    def before_iter(self, stage) -> None:
        """Called before every training iteration of ``stage``."""

    # ------------------------------------------------------ optimization
    def restart_optimization(self, stage) -> None:
        """Fresh optimizer state, learning rate and schedule for ``stage``.

        Momentum buffers are dropped; every param group's learning rate is
        its base (``dmt_lr`` scales DMT phases, keeping parameter-wise
        multipliers); every ``param_scheduler`` is rebuilt to run over the
        stage (``begin``/``end`` in iterations relative to the stage start,
        ``end`` clipped to the stage length).
        """
        runner = self.runner
        optim = runner.optim_wrapper
        optim.optimizer.state.clear()
        scale = self.loop.dmt_lr_scale if stage.phase >= 1 else 1.0
        for group, base in zip(optim.param_groups, self.base_lrs):
            group['lr'] = base * scale
            group['initial_lr'] = base * scale
        cfg = runner.cfg.get('param_scheduler')
        if cfg is None:
            return
        cfgs = copy.deepcopy(cfg if isinstance(cfg, (list, tuple)) else [cfg])
        for c in cfgs:
            c['by_epoch'] = False
            c['begin'] = min(int(c.get('begin', 0)), stage.length - 1)
            end = c.get('end')
            c['end'] = stage.length if end is None else min(
                int(end), stage.length)
            if c['end'] <= c['begin']:
                c['end'] = c['begin'] + 1
        runner.param_schedulers = runner.build_param_scheduler(cfgs)

    # ------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return dict(started_stage=self.started_stage, base_lrs=self.base_lrs)

    def load_state_dict(self, state: dict) -> None:
        self.started_stage = int(state['started_stage'])
        self.base_lrs = state['base_lrs']


__all__ = ['BaseProcedure', 'unwrap']
