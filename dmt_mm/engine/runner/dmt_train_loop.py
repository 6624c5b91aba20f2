# Copyright (c) dmt_mm contributors. All rights reserved.
import bisect
from typing import Dict, Optional, Sequence, Union

from mmengine.dist import get_rank
from mmengine.logging import print_log
from mmengine.registry import LOOPS
from mmengine.runner import IterBasedTrainLoop, set_random_seed
from torch.utils.data import DataLoader

from dmt_mm.engine.hooks import MutualTrainingHook
from dmt_mm.engine.procedures import (TEACHERS, ChainProcedure,
                                      MutualProcedure)
from dmt_mm.engine.reporting import DMTReport, format_summary, format_value
from dmt_mm.utils.curriculum import check_keep_ratios
from dmt_mm.utils.randomness import derive_seed
from .phase0_from import check_phase0_from, load_phase0_states
from .schedule import (Stage, build_stages, check_loop_args,
                       check_train_setup, same_loader)
from .selection import SELECTIONS, StageSelection

#: The DMT procedures :class:`DMTTrainLoop` runs.
PROCEDURES = {'mutual': MutualProcedure, 'chain': ChainProcedure}


@LOOPS.register_module()
class DMTTrainLoop(IterBasedTrainLoop):
    """The stage schedule of Dynamic Mutual Training, and all its settings.

    The run is a sequence of stages: phase 0 (labelled data only) and DMT
    phases ``k = 1..len(keep_ratios)``, for each model of the procedure:

    - ``procedure='mutual'`` (segmentation, :class:`MutualProcedure`): two
      models of a :class:`DMTSegmentor` label the unlabelled set for each
      other at the start of every DMT phase;
    - ``procedure='chain'`` (classification, :class:`ChainProcedure`): the
      previous phase's EMA model labels for a freshly initialised student.

    At every stage start the procedure labels (when a phase begins), swaps
    models, points the dataset at the stage's data and restarts the
    optimizer and schedule; then the loop calls the hook point
    ``before_train_stage``, restarts the data iterator (the dataset's state
    changed) and trains. At every stage end it validates, records the stage
    (:class:`DMTReport`, ``<work_dir>/dmt_summary.json``) and calls
    ``after_train_stage`` (where :class:`MutualTrainingHook` saves
    ``<work_dir>/<stage>.pth``). The state lives in every checkpoint (through
    :class:`MutualTrainingHook`), so ``--resume`` continues from any
    iteration. Every per-run DMT setting is a key of ``train_cfg``, so a
    config changes one key.

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Training dataloader over a
            :class:`SemiSegDataset` or :class:`SemiClsDataset` with a
            :class:`LabeledPseudoSampler`.
        phase0_iters (int, optional): Iterations of each phase-0 stage.
        phase0_epochs (float, optional): Or epochs over the labelled set.
        phase0_from (dict | str, optional): Start from models already
            trained: ``dict(A=ckpt, B=ckpt)`` (mutual) or one checkpoint
            (chain), loaded, validated and saved as the phase-0 stages,
            which take no iteration (phase-0 lengths ignored; see
            :mod:`~dmt_mm.engine.runner.phase0_from`). Defaults to None.
        phase_iters (int, optional): Iterations of each DMT stage.
        phase_epochs (float, optional): Or epochs over the pseudo-labelled
            set (DMT's definition of an epoch; in classification the samples
            kept by the phase's keep ratio).
        keep_ratios (Sequence[float]): Curriculum keep ratio of each DMT
            phase, strictly increasing in (0, 1]. Defaults to
            ``(0.2, 0.4, 0.6, 0.8, 1.0)``.
        procedure (str): ``'mutual'`` or ``'chain'``. Defaults to
            ``'mutual'``.
        teacher (str, optional): ``'partner'`` (DMT: each model's pseudo
            labels come from the other model) or ``'self'`` (self-training:
            from itself). The chain is ``'self'`` (its EMA model).
            Defaults to None: ``'partner'`` for ``'mutual'``, ``'self'`` for
            ``'chain'``.
        dmt_lr (float, optional): Base learning rate of the DMT phases
            (phase 0 uses the optimizer's; parameter-wise multipliers are
            kept). Defaults to None (the same).
        label_batch_size (int): Batch size of the labelling pass (images in a
            batch must have the same size). Defaults to 1.
        label_num_workers (int): Workers of the labelling loader.
            Defaults to 2.
        pseudo_dir (str): Folder under the work dir for pseudo labels.
            Defaults to ``'pseudo_labels'``.
        metric (str, optional): Validation metric recorded per stage.
            Defaults to ``'mIoU'`` (mutual) or ``'accuracy/top1'`` (chain).
        val_per_stage (bool): Validate at the end of every stage.
            Defaults to True.
        val_interval (int, optional): Also validate every this many
            iterations. Defaults to None.
        save_stage_checkpoints (bool): Save ``<stage>.pth`` at the end of
            every stage. Defaults to True.
        select (str): The weights that end a stage: ``'last'`` or ``'best'``
            (the best of the stage's validations every ``val_interval``
            iterations, as the public code; chosen on the val set, see
            :class:`StageSelection`). Defaults to ``'last'``.
        monitor (dict, optional): Thresholds of the warnings logged while
            the run goes (:class:`~dmt_mm.engine.monitor.DMTMonitor`), e.g.
            ``dict(val_drop=1.0, stop_on_degradation=True)``: a class without
            kept pseudo labels, kept pseudo-label quality dropping, val below
            phase 0, a jump in disagreement. With ``stop_on_degradation`` the
            run stops cleanly after the stage checkpoint.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 phase0_iters: Optional[int] = None,
                 phase0_epochs: Optional[float] = None,
                 phase0_from: Optional[Union[dict, str]] = None,
                 phase_iters: Optional[int] = None,
                 phase_epochs: Optional[float] = None,
                 keep_ratios: Sequence[float] = (0.2, 0.4, 0.6, 0.8, 1.0),
                 procedure: str = 'mutual',
                 teacher: Optional[str] = None,
                 dmt_lr: Optional[float] = None,
                 label_batch_size: int = 1,
                 label_num_workers: int = 2,
                 pseudo_dir: str = 'pseudo_labels',
                 metric: Optional[str] = None,
                 val_per_stage: bool = True,
                 val_interval: Optional[int] = None,
                 save_stage_checkpoints: bool = True,
                 select: str = 'last',
                 monitor: Optional[dict] = None) -> None:
        teacher = check_loop_args(
            procedure=procedure, procedures=tuple(PROCEDURES),
            teacher=teacher, teachers=TEACHERS, select=select,
            selections=SELECTIONS, val_interval=val_interval,
            phase0_iters=phase0_iters, phase0_epochs=phase0_epochs,
            phase0_from=phase0_from, phase_iters=phase_iters,
            phase_epochs=phase_epochs, dmt_lr=dmt_lr,
            label_batch_size=label_batch_size,
            label_num_workers=label_num_workers)
        self.keep_ratios = check_keep_ratios(keep_ratios,
                                             'train_cfg.keep_ratios')
        # max_iters is set below, once the dataset gives the stage lengths
        super().__init__(runner, dataloader, max_iters=1, val_begin=1)
        self.teacher = teacher
        self.label_batch_size = label_batch_size
        self.label_num_workers = label_num_workers
        self.pseudo_dir = pseudo_dir
        self.val_per_stage = val_per_stage
        self.save_stage_checkpoints = save_stage_checkpoints
        check_train_setup(runner.cfg, self.dataloader)
        cfg_lr = runner.cfg.get('optim_wrapper', {}).get('optimizer',
                                                         {}).get('lr')
        self.dmt_lr_scale = (dmt_lr / cfg_lr
                             if dmt_lr is not None and cfg_lr else 1.0)
        self.procedure = PROCEDURES[procedure](self)
        self.procedure.check()
        names = ((None, ) if procedure == 'chain' else tuple(
            self.procedure.model.model_names))
        self.phase0_from = None if phase0_from is None else \
            check_phase0_from(phase0_from, procedure, names, runner.cfg)
        self.stages = build_stages(
            names, len(self.keep_ratios), self.dataloader.dataset,
            self.dataloader.sampler, runner.world_size,
            dict(phase0_iters=phase0_iters, phase0_epochs=phase0_epochs,
                 phase_iters=phase_iters, phase_epochs=phase_epochs,
                 phase0_loaded=self.phase0_from is not None),
            self.keep_ratios)
        self._max_iters = self.stages[-1].end
        self.val_interval = val_interval or self._max_iters + 1
        self._stage_ends = [s.end for s in self.stages]
        self._running_stage: Optional[int] = None
        self.finished_stage = -1
        dataset = self.dataloader.dataset
        self.report = DMTReport(
            metric or ('accuracy/top1' if procedure == 'chain' else 'mIoU'),
            procedure, self.teacher, dataset.metainfo.get('classes', ()),
            monitor)
        self.selection = StageSelection(select, self.report.metric)
        print_log(
            'DMT schedule: ' + ', '.join(
                f'{s.name}[{s.begin}:{s.end})' if s.length else
                f'{s.name}[loaded]' for s in self.stages),
            logger='current')

    # --------------------------------------------------------------- stages
    def stage_at(self, iteration: int) -> Stage:
        """The stage that iteration ``iteration`` (0-based) belongs to."""
        i = bisect.bisect_right(self._stage_ends, iteration)
        return self.stages[min(i, len(self.stages) - 1)]

    @property
    def current_stage(self) -> Stage:
        return self.stage_at(self._iter)

    def restart_dataloader(self, stage: Stage) -> None:
        """A fresh data iterator that sees the dataset's new state, from
        the current iteration's position in the stage's sample stream.

        Workers hold a copy of the dataset, so they are recreated: a new
        ``iter()`` does that, except for persistent workers, which belong to
        the DataLoader object, so that one is replaced by an equal one.
        """
        loader = self.dataloader
        if loader.persistent_workers and loader.num_workers > 0:
            self.dataloader = same_loader(loader)
        self.dataloader.sampler.set_stage(stage.index, self._iter - stage.begin)
        self.dataloader_iterator = iter(self.dataloader)

    def _seed_iteration(self, stage: Stage) -> None:
        """Seed the global generators from (seed, stage, position): the
        draws of a training step (dropout, mixup) depend neither on the
        process's history (a resumed run repeats them) nor on how long
        phase 0 was (a ``phase0_from`` run repeats the one it came from)."""
        rand = self.runner.cfg.get('randomness') or {}
        rank = get_rank() if rand.get('diff_rank_seed', False) else 0
        set_random_seed(derive_seed(self.runner.seed, rank, stage.index,
                                    self._iter - stage.begin))

    # ------------------------------------------------------------------ run
    def run(self):
        """Run all stages, starting from ``self._iter`` (resume)."""
        runner = self.runner
        runner.call_hook('before_train')
        runner.call_hook('before_train_epoch')
        if not any(isinstance(h, MutualTrainingHook) for h in runner.hooks):
            raise TypeError(
                'DMTTrainLoop needs custom_hooks=[dict(type='
                "'MutualTrainingHook')]: it keeps the DMT state in every "
                'checkpoint and saves the stage checkpoints')
        self.procedure.before_run()
        sampler_cfg = (runner.cfg.get('train_dataloader') or {}).get('sampler')
        if not (sampler_cfg or {}).get('seed'):  # the run's (resumed) seed
            self.dataloader.sampler.seed = runner.seed
        if self._iter > 0:
            self._log_resume()
            last = self.stage_at(self._iter - 1)
            if last.end == self._iter and self.finished_stage < last.index:
                self._end_stage(last)  # saved before its end was processed
        if self.phase0_from and self.finished_stage < len(self.phase0_from) - 1:
            self._load_phase0()  # stages 0..models-1 are phase 0
        while self._iter < self._max_iters and not self.stop_training:
            stage = self.current_stage
            if self._running_stage != stage.index:
                if self.procedure.started_stage != stage.index:
                    self.report.start_stage()
                    self.selection.start_stage()
                self.procedure.start_stage(stage)
                if self._stop_on_degradation():
                    break
                runner.call_hook('before_train_stage', stage=stage)
                self.restart_dataloader(stage)
                self._running_stage = stage.index
            self.procedure.before_iter(stage)
            self._seed_iteration(stage)
            runner.model.train()
            self.run_iter(next(self.dataloader_iterator))
            if self._iter == stage.end:
                self._end_stage(stage)
            elif (runner.val_loop is not None
                  and self._iter % self.val_interval == 0):
                runner.val_loop.run()
        runner.call_hook('after_train_epoch')
        runner.call_hook('after_train')
        return runner.model

    def _log_resume(self) -> None:
        """Say where a resumed run continues and what it does again."""
        stage, last = self.current_stage, self.stage_at(self._iter - 1)
        ckpt = self.runner.message_hub.get_info('last_ckpt')
        msg = [f'DMT: resuming from {ckpt or "a checkpoint"} at iteration '
               f'{self._iter} of {self._max_iters}']
        if last.end == self._iter and self.finished_stage < last.index:
            msg.append(f'the end of stage {last.name} (validation, record, '
                       'stage checkpoint) is done again')
        if self.procedure.started_stage == stage.index:
            msg.append(f'inside stage {stage.name}: {stage.end - self._iter}'
                       ' of its iterations are left')
        else:
            msg.append(f'at the start of stage {stage.name}')
            if stage.phase >= 1 and self.procedure.labels_at(stage):
                msg.append(f'the phase-{stage.phase} pseudo labels are made '
                           'again')
        self.runner.logger.info('; '.join(msg))

    def _load_phase0(self) -> None:
        """Phase 0 from ``train_cfg.phase0_from``: load every model's
        weights, then end each phase-0 stage as if it had trained them
        (validation, record, stage checkpoint)."""
        self.procedure.load_phase0(load_phase0_states(
            self.phase0_from, self.procedure.phase0_template(),
            getattr(self.procedure.model, 'model_names', ())))
        for stage in self.stages:
            if stage.phase == 0 and stage.index > self.finished_stage:
                source = self.phase0_from[stage.model]
                self.report.start_stage()
                self.selection.start_stage()
                self.procedure.load_stage(stage, source)
                self._end_stage(stage, phase0_from=source)

    def _end_stage(self, stage: Stage,
                   phase0_from: Optional[str] = None) -> None:
        runner = self.runner
        if self.val_per_stage and runner.val_loop is not None:
            runner.val_loop.run()
        best = self.selection.enabled and self.selection.finish_stage(
            self.procedure.model.student, self._iter)
        if best:
            self.report.set_val({self.report.metric: best['value']})
            runner.logger.info(
                f'DMT: stage {stage.name} ends with its best weights '
                f'(iteration {best["iter"]}, {self.report.metric} '
                f'{best["value"]:.4g}; train_cfg.select=\'best\')')
        row = self.report.finish_stage(stage, runner, phase0_from)
        runner.logger.info(f'DMT: stage {stage.name} done: ' + ', '.join(
            f'{k}={format_value(v)}' for k, v in row.items()))
        self.finished_stage = stage.index
        runner.call_hook('after_train_stage', stage=stage)
        self.report.write(runner.work_dir)
        if stage.index == len(self.stages) - 1:
            runner.logger.info('DMT summary\n' + format_summary(
                self.report.history, self.report.metric))
        self._stop_on_degradation()

    def _stop_on_degradation(self) -> bool:
        """Stop cleanly when the monitor says so (``stop_on_degradation``):
        the last stage checkpoint holds the state to inspect or resume."""
        monitor = self.report.monitor
        if monitor.should_stop and not self.stop_training:
            self.runner.logger.warning(
                'DMT: stopping the run (train_cfg.monitor.'
                f'stop_on_degradation): {monitor.stop_reason}')
            self.stop_training = True
        return self.stop_training

    # ------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """The DMT state saved in every checkpoint."""
        return dict(
            procedure=self.procedure.state_dict(),
            finished_stage=self.finished_stage,
            report=self.report.state_dict(),
            selection=self.selection.state_dict())

    def load_state_dict(self, state: dict) -> None:
        self.procedure.load_state_dict(state['procedure'])
        self.finished_stage = int(state['finished_stage'])
        self.report.load_state_dict(state['report'])
        self.selection.load_state_dict(state.get('selection', {}))


__all__ = ['DMTTrainLoop', 'PROCEDURES']
