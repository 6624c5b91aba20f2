# Copyright (c) dmt_mm contributors. All rights reserved.
import bisect
import logging
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import LOOPS
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.loops import _InfiniteDataloaderIterator
from torch.utils.data import DataLoader


#: The DMT procedures :class:`DMTTrainLoop` runs.
PROCEDURES = ('mutual', 'chain')


@dataclass(frozen=True)
class Stage:
    """One training stage of DMT: model ``model`` in phase ``phase``.

    Phase 0 trains on labelled data only; phase ``k >= 1`` trains on
    labelled + pseudo-labelled data with keep ratio ``keep_ratio``.
    Iterations ``[begin, end)`` of the run belong to the stage. In the chain
    procedure there is one model and ``model`` is None.
    """
    index: int
    model: Optional[str]
    phase: int
    keep_ratio: Optional[float]
    begin: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.begin

    @property
    def name(self) -> str:
        if self.model is None:
            return f'phase{self.phase}'
        return f'phase{self.phase}_{self.model}'


def _check_ratios(keep_ratios: Sequence[float]) -> List[float]:
    ratios = [float(r) for r in keep_ratios]
    if not ratios:
        raise ValueError('keep_ratios must not be empty')
    for r in ratios:
        if not 0.0 < r <= 1.0:
            raise ValueError(
                f'keep_ratios must lie in (0, 1], got {list(keep_ratios)}')
    if any(b <= a for a, b in zip(ratios, ratios[1:])):
        raise ValueError('keep_ratios must be strictly increasing (the '
                         f'curriculum keeps more each phase), got '
                         f'{list(keep_ratios)}')
    return ratios


@LOOPS.register_module()
class DMTTrainLoop(IterBasedTrainLoop):
    """The stage schedule of Dynamic Mutual Training as one iteration loop.

    Two procedures (``procedure``):

    - ``'mutual'`` (segmentation): the run is a sequence of stages
      ``(model, phase)`` of a two-model wrapper (:class:`DMTSegmentor`):
      phase 0 trains each model on labelled data, then every phase
      ``k = 1..len(keep_ratios)`` trains each model on labelled data plus
      the pseudo labels its partner wrote at the start of the phase.
    - ``'chain'`` (classification): one model; phase 0 trains it on
      labelled data, and every phase ``k`` trains a freshly initialised
      student on the pseudo labels of the previous phase's (EMA) model.

    The loop computes every stage's length,
    calls the custom hook points ``before_train_stage`` /
    ``after_train_stage`` (where :class:`MutualTrainingHook` does the
    labelling, swaps, optimizer and schedule restarts, checkpoints and
    logging), restarts the data iterator at each stage (the dataset's state
    changes) and validates at the end of each stage.

    Unlike :class:`IterBasedTrainLoop`, resuming does not replay the
    dataloader over the iterations already trained.

    Reference: Feng et al., "DMT: Dynamic Mutual Training for Semi-Supervised
    Learning", arXiv:2004.08514.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Training dataloader over a
            :class:`SemiSegDataset` or :class:`SemiClsDataset` with a
            :class:`LabeledPseudoSampler`.
        phase0_iters (int, optional): Iterations of each phase-0 stage.
        phase0_epochs (float, optional): Or epochs over the labelled set.
        phase_iters (int, optional): Iterations of each DMT stage.
        phase_epochs (float, optional): Or epochs over the pseudo-labelled
            set (DMT's definition of an epoch; in classification the samples
            kept by the phase's keep ratio).
        keep_ratios (Sequence[float]): Curriculum keep ratio of each DMT
            phase, strictly increasing in (0, 1]. Defaults to
            ``(0.2, 0.4, 0.6, 0.8, 1.0)``.
        val_per_stage (bool): Validate at the end of every stage.
            Defaults to True.
        val_interval (int, optional): Also validate every this many
            iterations. Defaults to None.
        procedure (str): ``'mutual'`` or ``'chain'`` (see above).
            Defaults to ``'mutual'``.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 phase0_iters: Optional[int] = None,
                 phase0_epochs: Optional[float] = None,
                 phase_iters: Optional[int] = None,
                 phase_epochs: Optional[float] = None,
                 keep_ratios: Sequence[float] = (0.2, 0.4, 0.6, 0.8, 1.0),
                 val_per_stage: bool = True,
                 val_interval: Optional[int] = None,
                 procedure: str = 'mutual') -> None:
        if procedure not in PROCEDURES:
            raise ValueError(f'procedure must be one of {PROCEDURES}, got '
                             f'{procedure!r}')
        self.procedure = procedure
        self.keep_ratios = _check_ratios(keep_ratios)
        _check_one_of('phase0_iters', phase0_iters, 'phase0_epochs',
                      phase0_epochs)
        _check_one_of('phase_iters', phase_iters, 'phase_epochs',
                      phase_epochs)
        if isinstance(dataloader, dict):
            diff_rank_seed = runner._randomness_cfg.get(  # noqa: SLF001
                'diff_rank_seed', False)
            dataloader = runner.build_dataloader(
                dataloader, seed=runner.seed, diff_rank_seed=diff_rank_seed)
        dataset = dataloader.dataset
        sampler = dataloader.sampler
        for attr in ('labeled_indices', 'pseudo_indices', 'set_pseudo_source'):
            if not hasattr(dataset, attr):
                raise TypeError(
                    'DMTTrainLoop needs train_dataloader.dataset to be a '
                    'SemiSegDataset or SemiClsDataset, got '
                    f'{type(dataset).__name__}')
        if not hasattr(sampler, 'num_pseudo'):
            raise TypeError(
                'DMTTrainLoop needs train_dataloader.sampler to be a '
                f'LabeledPseudoSampler, got {type(sampler).__name__}')
        if sampler.batch_size != dataloader.batch_size:
            raise ValueError(
                f'train_dataloader.sampler.batch_size ({sampler.batch_size}) '
                f'differs from train_dataloader.batch_size '
                f'({dataloader.batch_size})')
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if procedure == 'chain':
            if hasattr(model, 'model_names'):
                raise TypeError(
                    "procedure='chain' trains one model, but the model is a "
                    f'two-model wrapper ({type(model).__name__}); use '
                    "procedure='mutual'")
            self.model_names = (None, )
        elif not hasattr(model, 'model_names'):
            raise TypeError(
                'DMTTrainLoop needs a DMT model wrapper (e.g. DMTSegmentor) '
                f"for procedure='mutual', got {type(model).__name__}; a "
                "single classifier uses procedure='chain'")
        else:
            self.model_names = tuple(model.model_names)
        n_sets = getattr(dataset, 'num_labeled_sets', 1)
        if n_sets not in (1, len(self.model_names)):
            raise ValueError(
                f'SemiSegDataset has {n_sets} labelled sets; give one shared '
                f'set or one per model ({len(self.model_names)})')

        world = get_world_size()
        self.stages: List[Stage] = []
        begin = 0
        for phase in range(len(self.keep_ratios) + 1):
            for i, name in enumerate(self.model_names):
                if phase == 0:
                    n = phase0_iters
                    if n is None:
                        n_lab = dataset.num_labeled(i if n_sets > 1 else 0)
                        n = math.ceil(phase0_epochs * n_lab /
                                      (sampler.batch_size * world))
                    ratio = None
                else:
                    n = phase_iters
                    ratio = self.keep_ratios[phase - 1]
                    if n is None:
                        n = math.ceil(
                            phase_epochs * dataset.num_pseudo_samples(ratio) /
                            (sampler.num_pseudo * world))
                n = max(1, int(n))
                self.stages.append(
                    Stage(len(self.stages), name, phase, ratio, begin,
                          begin + n))
                begin += n
        self.val_per_stage = val_per_stage
        super().__init__(
            runner,
            dataloader,
            max_iters=begin,
            val_begin=1,
            val_interval=val_interval or begin + 1)
        self._stage_ends = [s.end for s in self.stages]
        self._running_stage: Optional[int] = None
        print_log(
            'DMT schedule: ' + ', '.join(
                f'{s.name}[{s.begin}:{s.end})' for s in self.stages),
            logger='current')

    # --------------------------------------------------------------- stages
    def stage_at(self, iteration: int) -> Stage:
        """The stage that iteration ``iteration`` (0-based) belongs to."""
        i = bisect.bisect_right(self._stage_ends, iteration)
        return self.stages[min(i, len(self.stages) - 1)]

    @property
    def current_stage(self) -> Stage:
        return self.stage_at(self._iter)

    def restart_dataloader(self) -> None:
        """Drop prefetched batches and workers; re-read the dataset state.

        Workers hold a copy of the dataset, so after the hook changed which
        labelled set or pseudo labels are served they must be recreated
        (persistent workers included).
        """
        it = getattr(self.dataloader, '_iterator', None)
        if it is not None:  # persistent workers keep a stale dataset copy
            shutdown = getattr(it, '_shutdown_workers', None)
            if shutdown is not None:
                shutdown()
            self.dataloader._iterator = None
        self.dataloader_iterator = _InfiniteDataloaderIterator(self.dataloader)

    # ------------------------------------------------------------------ run
    def run(self):
        """Run all stages, starting from ``self._iter`` (resume)."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            print_log(
                f'Resuming DMT at iteration {self._iter} '
                f'({self.current_stage.name})',
                logger='current',
                level=logging.INFO)
        while self._iter < self._max_iters and not self.stop_training:
            stage = self.current_stage
            if self._running_stage != stage.index:
                self.runner.call_hook('before_train_stage', stage=stage)
                self.restart_dataloader()
                self._running_stage = stage.index
            self.runner.model.train()
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)

            if self._iter == stage.end:
                if self.val_per_stage and self.runner.val_loop is not None:
                    self.runner.val_loop.run()
                self.runner.call_hook('after_train_stage', stage=stage)
            elif (self.runner.val_loop is not None
                  and self._iter % self.val_interval == 0):
                self.runner.val_loop.run()

        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model


def _check_one_of(name_a, a, name_b, b) -> None:
    if (a is None) == (b is None):
        raise ValueError(f'give exactly one of {name_a} and {name_b}, got '
                         f'{name_a}={a!r}, {name_b}={b!r}')
    value, name = (a, name_a) if a is not None else (b, name_b)
    if not value > 0:
        raise ValueError(f'{name} must be positive, got {value!r}')
