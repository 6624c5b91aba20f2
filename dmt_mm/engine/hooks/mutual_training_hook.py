# Copyright (c) dmt_mm contributors. All rights reserved.
from typing import Optional

from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS

#: Settings that were MutualTrainingHook arguments and are now train_cfg keys.
MOVED_TO_TRAIN_CFG = ('dmt_lr', 'pseudo_dir', 'label_batch_size',
                      'label_num_workers', 'save_stage_checkpoints', 'metric')


class _StageCheckpoints(CheckpointHook):
    """mmengine's ``CheckpointHook`` writing ``<stage>.pth`` when asked.

    It saves through the same code as the periodic checkpoints, so
    ``last_checkpoint`` (what ``--resume`` reads) and the message hub's
    ``last_ckpt`` point at the stage checkpoint afterwards.
    """

    def __init__(self) -> None:
        super().__init__(
            interval=-1,
            by_epoch=False,
            save_last=False,
            max_keep_ckpts=-1,
            filename_tmpl='{}.pth')

    def save_stage(self, runner, name: str) -> None:
        self._save_checkpoint_with_step(
            runner, name, meta=dict(epoch=runner.epoch, iter=runner.iter))


@HOOKS.register_module()
class MutualTrainingHook(Hook):
    """Keeps the state of a DMT run in its checkpoints and reports it.

    :class:`~dmt_mm.engine.DMTTrainLoop` runs the DMT procedure (labelling,
    curriculum, swaps, restarts); every per-run setting is a key of
    ``train_cfg``. This hook, modelled on mmengine's ``EMAHook``, has one job
    per hook point:

    - ``before_save_checkpoint`` / ``after_load_checkpoint``: the loop's state
      (stage, base learning rates, records) under ``checkpoint['dmt']``, so
      ``--resume`` continues a run from any iteration;
    - ``after_train_iter`` / ``after_val_epoch``: the stage's training
      diagnostics (mean dynamic weight, disagreement, student wins) and its
      validation metric go to the loop's report;
    - ``after_train_stage``: ``<work_dir>/<stage>.pth`` through mmengine's
      ``CheckpointHook`` machinery (with an ``EMAHook``, its ``state_dict``
      holds the EMA weights), when ``train_cfg.save_stage_checkpoints``.

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514.
    """

    priority = 'NORMAL'

    def __init__(self, **kwargs) -> None:
        moved = [k for k in kwargs if k in MOVED_TO_TRAIN_CFG]
        if moved:
            raise TypeError(
                'MutualTrainingHook takes no arguments any more: '
                f'{", ".join(f"{k}={kwargs[k]!r}" for k in moved)} moved to '
                'train_cfg (e.g. train_cfg=dict(' +
                ', '.join(f'{k}={kwargs[k]!r}' for k in moved) +
                ')); use custom_hooks=[dict(type=\'MutualTrainingHook\')]')
        if kwargs:
            raise TypeError('MutualTrainingHook got unexpected arguments '
                            f'{sorted(kwargs)}')
        self._stage_ckpt = _StageCheckpoints()

    @staticmethod
    def _loop(runner):
        loop = runner.train_loop
        if not hasattr(loop, 'report') or not hasattr(loop, 'stages'):
            raise TypeError('MutualTrainingHook needs train_cfg type '
                            f'DMTTrainLoop, got {type(loop).__name__}')
        return loop

    def before_train(self, runner) -> None:
        self._loop(runner)
        self._stage_ckpt.before_train(runner)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        loop = self._loop(runner)
        loop.report.add_train_outputs(outputs)
        model = loop.procedure.model  # a plain ImageClassifier: its head
        owner = model if hasattr(model, 'last_weight_hist') else getattr(
            model, 'head', None)
        loop.report.add_weight_hist(getattr(owner, 'last_weight_hist', None))

    def after_val_epoch(self, runner, metrics=None) -> None:
        loop = runner.train_loop
        if hasattr(loop, 'report'):
            loop.report.set_val(metrics)
            if loop.selection.enabled:
                loop.selection.observe(
                    metrics, loop.procedure.model.student, runner.iter)

    def after_train_stage(self, runner, stage) -> None:
        if self._loop(runner).save_stage_checkpoints:
            self._stage_ckpt.save_stage(runner, stage.name)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['dmt'] = self._loop(runner).state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('dmt')
        if state is None:
            return  # e.g. load_from a plain (pre-trained) checkpoint
        if not runner._resume:  # noqa: SLF001 - load_from a DMT checkpoint
            return
        loop = self._loop(runner)
        if 'procedure' not in state:
            state = _from_v1(state, loop, checkpoint['meta'].get('iter', 0))
        loop.load_state_dict(state)


def _from_v1(state: dict, loop, iteration: int) -> dict:
    """The state of a checkpoint written by dmt_mm 0.1's hook."""
    started = int(state['stage_index'])
    done = started if (0 <= started < len(loop.stages) and
                       loop.stages[started].end == iteration) else started - 1
    labelling = []
    for key, rec in state.get('label_stats', {}).items():
        rec = dict(rec)  # keyed by target model, or by stage in a chain
        rec.setdefault('target',
                       None if loop.procedure.name == 'chain' else key)
        labelling.append(rec)
    return dict(
        procedure=dict(started_stage=started, base_lrs=state['base_lrs']),
        finished_stage=done,
        report=dict(history=state.get('history', []), labelling=labelling))


__all__ = ['MutualTrainingHook', 'MOVED_TO_TRAIN_CFG']
