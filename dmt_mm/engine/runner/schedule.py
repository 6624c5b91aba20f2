# Copyright (c) dmt_mm contributors. All rights reserved.
"""The stage schedule of a DMT run: which model trains in which phase, for
how many iterations."""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

from torch.utils.data import DataLoader


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


def build_stages(names: Sequence[Optional[str]], num_phases: int, dataset,
                 sampler, world_size: int, lengths: dict,
                 keep_ratios: Sequence[float]) -> List[Stage]:
    """Phase 0 and DMT phases ``1..num_phases``, each for every model.

    Args:
        names (Sequence[str | None]): The models (``(None,)`` for a chain).
        num_phases (int): DMT phases (``len(keep_ratios)``).
        dataset (BaseSemiDataset): For epoch-based lengths.
        sampler (LabeledPseudoSampler): Batch composition.
        world_size (int): Ranks; an epoch is shared by all of them.
        lengths (dict): ``phase0_iters`` or ``phase0_epochs`` (epochs over
            the model's phase-0 labelled set) and ``phase_iters`` or
            ``phase_epochs`` (epochs over the pseudo-labelled samples the
            phase's keep ratio serves); ``phase0_loaded`` (phase 0 comes
            from ``train_cfg.phase0_from``: its stages take 0 iterations).
        keep_ratios (Sequence[float]): One per DMT phase.
    """
    stages, begin = [], 0
    for phase in range(num_phases + 1):
        for i, name in enumerate(names):
            ratio = keep_ratios[phase - 1] if phase else None
            if phase == 0 and lengths.get('phase0_loaded'):
                n = 0  # train_cfg.phase0_from: loaded, not trained
            elif phase == 0:
                n = lengths['phase0_iters'] or math.ceil(
                    lengths['phase0_epochs'] * dataset.num_labeled(i, 0) /
                    (sampler.batch_size * world_size))
            else:
                n = lengths['phase_iters'] or math.ceil(
                    lengths['phase_epochs'] *
                    dataset.num_pseudo_samples(ratio) /
                    (sampler.num_pseudo * world_size))
            n = n and max(1, int(n))
            stages.append(
                Stage(len(stages), name, phase, ratio, begin, begin + n))
            begin += n
    return stages


def check_one_of(name_a, a, name_b, b) -> None:
    if (a is None) == (b is None):
        raise ValueError(f'give exactly one of train_cfg.{name_a} and '
                         f'train_cfg.{name_b}, got {name_a}={a!r}, '
                         f'{name_b}={b!r}')
    value, name = (a, name_a) if a is not None else (b, name_b)
    if not value > 0:
        raise ValueError(f'train_cfg.{name} must be positive, got {value!r}')


def check_loop_args(procedure, procedures, teacher, teachers, select,
                    selections, val_interval, phase0_iters, phase0_epochs,
                    phase0_from, phase_iters, phase_epochs, dmt_lr,
                    label_batch_size, label_num_workers) -> str:
    """Check the settings of :class:`DMTTrainLoop` (``train_cfg``) once,
    when the loop is built; returns the teacher (its default resolved)."""
    check_choice('procedure', procedure, procedures)
    if teacher is None:
        teacher = 'self' if procedure == 'chain' else 'partner'
    check_choice('teacher', teacher, teachers)
    check_choice('select', select, selections)
    if select == 'best' and (procedure != 'mutual' or not val_interval):
        raise ValueError(
            "train_cfg.select='best' keeps each stage's best validated "
            "weights: it needs procedure='mutual' and a val_interval, got "
            f'procedure={procedure!r}, val_interval={val_interval!r}')
    if procedure == 'chain' and teacher != 'self':
        raise ValueError(
            "train_cfg.teacher='partner' needs two models; the chain "
            "(procedure='chain') is taught by its own EMA model: set "
            "teacher='self'")
    if phase0_from is None:  # else phase 0 is loaded, its length unused
        check_one_of('phase0_iters', phase0_iters, 'phase0_epochs',
                     phase0_epochs)
    check_one_of('phase_iters', phase_iters, 'phase_epochs', phase_epochs)
    if dmt_lr is not None and not dmt_lr > 0:
        raise ValueError(f'train_cfg.dmt_lr must be positive, got {dmt_lr!r}')
    if not isinstance(label_batch_size, int) or label_batch_size < 1:
        raise ValueError('train_cfg.label_batch_size must be a positive '
                         f'int, got {label_batch_size!r}')
    if not isinstance(label_num_workers, int) or label_num_workers < 0:
        raise ValueError('train_cfg.label_num_workers must be an int >= '
                         f'0, got {label_num_workers!r}')
    return teacher


def check_train_setup(cfg, dataloader) -> None:
    """What DMT needs of the training data, schedulers and checkpoints,
    checked once when the loop is built."""
    dataset, sampler = dataloader.dataset, dataloader.sampler
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
    schedulers = cfg.get('param_scheduler') or []
    if not isinstance(schedulers, (list, tuple)):
        schedulers = [schedulers]
    for c in schedulers:
        if c.get('by_epoch', False):
            raise ValueError(
                'DMT restarts every param_scheduler at each stage and '
                'reads begin/end in iterations; set by_epoch=False, got '
                f'{dict(c)}')
    ckpt = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    if ckpt.get('max_keep_ckpts', -1) == 1:
        raise ValueError(
            'default_hooks.checkpoint.max_keep_ckpts=1 deletes the last '
            'checkpoint before the next one is written, so a run killed '
            'while saving could not be resumed; use 2 or more, or -1')


def same_loader(loader: DataLoader) -> DataLoader:
    """A new DataLoader with ``loader``'s dataset, sampler and settings."""
    kwargs = dict(
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator,
        prefetch_factor=loader.prefetch_factor,
        persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device)
    if loader.batch_size is None:
        return DataLoader(
            loader.dataset, batch_sampler=loader.batch_sampler, **kwargs)
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=loader.sampler,
        drop_last=loader.drop_last,
        **kwargs)


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f'train_cfg.{name} must be one of {tuple(choices)}, '
                         f'got {value!r}')


__all__ = ['Stage', 'build_stages', 'check_choice', 'check_loop_args',
           'check_one_of', 'check_train_setup', 'same_loader']
