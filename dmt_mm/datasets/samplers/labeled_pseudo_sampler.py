# Copyright (c) dmt_mm contributors. All rights reserved.
from itertools import islice
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from dmt_mm.utils.randomness import derive_seed


class _ShardStream:
    """Endless stream of a rank's shard of successive shuffled epochs."""

    def __init__(self, indices: np.ndarray, shuffle: bool, seed: int,
                 rank: int, world_size: int) -> None:
        self.indices = np.asarray(indices)
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def __iter__(self) -> Iterator[int]:
        n = len(self.indices)
        while True:
            if self.shuffle:
                g = torch.Generator().manual_seed(self.seed + self.epoch)
                order = torch.randperm(n, generator=g).numpy()
            else:
                order = np.arange(n)
            if n >= self.world_size:
                order = order[self.rank::self.world_size]
            # else: every rank sees the whole (tiny) set in its own order
            self.epoch += 1
            for i in order:
                yield int(self.indices[i])


def _labeled_from_ratio(source_ratio, batch_size: int) -> int:
    """Labelled samples per batch from a ``(labelled, pseudo)`` ratio."""
    ratio = list(source_ratio) if isinstance(source_ratio,
                                             (list, tuple)) else None
    if (ratio is None or len(ratio) != 2 or any(
            isinstance(r, bool) or not isinstance(r, int) or r < 1
            for r in ratio)):
        raise ValueError('source_ratio must be two positive ints (labelled, '
                         f'pseudo), got {source_ratio!r}')
    total = sum(ratio)
    if batch_size % total:
        raise ValueError(
            f'source_ratio {tuple(ratio)} does not divide the batch: '
            f'batch_size {batch_size} is not a multiple of {total}')
    return batch_size // total * ratio[0]


@DATA_SAMPLERS.register_module()
class LabeledPseudoSampler(Sampler):
    """Infinite sampler mixing labelled and pseudo-labelled samples.

    Every consecutive ``batch_size`` indices hold ``num_labeled`` labelled
    samples of the active model followed by ``batch_size - num_labeled``
    pseudo-labelled ones (DMT uses 1 + 7 on VOC and 2 + 6 on Cityscapes).
    While the dataset serves no pseudo labels (phase 0), batches are all
    labelled. Both streams are shuffled per pass and sharded across ranks, so
    an epoch of a DMT phase is one pass over the pseudo-labelled set by all
    ranks together. The dataset's state is read when iteration starts; the
    DMT train loop restarts the data iterator at every stage.

    Everything is a function of ``(seed, stage, position)``, so a resumed
    run sees exactly the samples and augmentations of an uninterrupted one:
    :meth:`set_stage` selects the stage's streams and the position to start
    from, and every yielded item is ``(index, sample_seed)``, the seed under
    which the dataset runs that sample's transforms
    (:meth:`BaseSemiDataset.__getitem__`), whichever worker loads it.

    Args:
        dataset (SemiSegDataset): A dataset with ``labeled_indices()``,
            ``pseudo_indices()`` and ``pseudo_enabled``.
        batch_size (int): Batch size per GPU; must equal the dataloader's.
        num_labeled (int, optional): Labelled samples per batch in DMT
            phases.
        source_ratio (Sequence[int], optional): Or the ratio ``(labelled,
            pseudo)`` of a batch, as MMDetection's ``MultiSourceSampler``
            takes it, e.g. ``(1, 31)`` for DMT's 16 + 496 of 512 on
            CIFAR-10; ``sum(source_ratio)`` must divide ``batch_size``.
            Give exactly one of ``num_labeled`` and ``source_ratio``.
        shuffle (bool): Shuffle each pass. Defaults to True.
        seed (int, optional): Random seed shared by all ranks. Defaults to a
            synchronised random seed.
    """

    def __init__(self,
                 dataset,
                 batch_size: int,
                 num_labeled: Optional[int] = None,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 source_ratio: Optional[Sequence[int]] = None) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f'batch_size must be a positive int, got {batch_size!r}')
        if (num_labeled is None) == (source_ratio is None):
            raise ValueError(
                'give exactly one of num_labeled and source_ratio, got '
                f'num_labeled={num_labeled!r}, source_ratio={source_ratio!r}')
        if source_ratio is not None:
            num_labeled = _labeled_from_ratio(source_ratio, batch_size)
        if not isinstance(num_labeled, int) or not 0 < num_labeled < batch_size:
            raise ValueError(
                f'num_labeled must be an int in [1, batch_size - 1] = '
                f'[1, {batch_size - 1}], got {num_labeled!r}: each DMT batch '
                'needs labelled and pseudo-labelled samples')
        for attr in ('labeled_indices', 'pseudo_indices', 'pseudo_enabled'):
            if not hasattr(dataset, attr):
                raise TypeError(
                    f'LabeledPseudoSampler needs a SemiSegDataset-like dataset '
                    f'(missing {attr!r}), got {type(dataset).__name__}')
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_labeled = num_labeled
        self.num_pseudo = batch_size - num_labeled
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, self.world_size = get_dist_info()
        self.stage = 0
        self.start = 0

    def set_stage(self, stage: int, start_batch: int = 0) -> None:
        """Serve stage ``stage`` from its batch ``start_batch`` (resume)."""
        self.stage = int(stage)
        self.start = int(start_batch) * self.batch_size

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        stream = islice(self._indices(), self.start, None)
        for pos, idx in enumerate(stream, self.start):
            yield idx, derive_seed(self.seed, self.stage, self.rank, pos)

    def _indices(self) -> Iterator[int]:
        # every stage draws its own orders
        base = self.seed + 100003 * self.stage
        labeled = iter(
            _ShardStream(self.dataset.labeled_indices(), self.shuffle, base,
                         self.rank, self.world_size))
        if not self.dataset.pseudo_enabled:
            yield from labeled
            return
        pseudo = iter(
            _ShardStream(self.dataset.pseudo_indices(), self.shuffle,
                         base + 7919, self.rank, self.world_size))
        while True:
            for _ in range(self.num_labeled):
                yield next(labeled)
            for _ in range(self.num_pseudo):
                yield next(pseudo)

    def __len__(self) -> int:
        """Samples of one pass on this rank (the stream itself is endless)."""
        if self.dataset.pseudo_enabled:
            n = len(self.dataset.pseudo_indices())
            per_batch = self.num_pseudo
        else:
            n = len(self.dataset.labeled_indices())
            per_batch = self.batch_size
        batches = -(-n // (per_batch * self.world_size))
        return batches * self.batch_size
