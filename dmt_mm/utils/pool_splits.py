# Copyright (c) dmt_mm contributors. All rights reserved.
"""Held-out part, label budgets and the two-subset protocol of a train pool.

Every choice of a benchmark recipe (label budget, phase lengths, learning
rates, gamma) is made on a *held-out part of the labelled pool*, never on the
val split the tables report (docs/benchmarks/PROTOCOL.md). The converters of
the bundled data (``tools/dataset_converters/digit_scenes.py``,
``digits_cls.py``) use these functions to write, from the train items:

- a held-out part, fixed by the data seed (the same for every split seed);
- the pool (every other train item: the oracle's labelled set);
- for each label budget ``n`` and split seed ``s``: ``n`` labelled items of
  the pool and the rest of the pool as unlabelled, nested in ``n`` (the
  20-item set of a seed contains its 10-item set), optionally stratified
  (``n / K`` per class);
- the *difference-maximised* subsets of DMT's VOC 1/106 protocol
  (Feng et al., arXiv:2004.08514): the labelled list shuffled, model A gets
  all but its last ``ceil(0.2 n)`` items, model B all but the first
  ``ceil(0.2 n)``.

All draws use ``numpy.random.default_rng`` with explicit seed sequences, so
the same arguments give the same splits.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


def _permutation(items: np.ndarray, seed_seq, strata: Optional[np.ndarray]
                 ) -> np.ndarray:
    """``items`` shuffled; with ``strata``, interleaved class by class
    (round robin over the sorted classes), so that any prefix of ``K * m``
    items holds ``m`` of each of the ``K`` classes."""
    rng = np.random.default_rng(seed_seq)
    if strata is None:
        return items[rng.permutation(len(items))]
    groups = [items[strata[items] == c] for c in np.unique(strata[items])]
    groups = [g[rng.permutation(len(g))] for g in groups]
    depth = max(len(g) for g in groups)
    return np.array([g[i] for i in range(depth) for g in groups
                     if i < len(g)], dtype=items.dtype)


def heldout_split(num_items: int, num_heldout: int, seed: int,
                  strata: Optional[np.ndarray] = None
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """``(heldout, pool)`` indices into ``range(num_items)``, each sorted.

    Args:
        num_items (int): Train items.
        num_heldout (int): Held-out items, ``0 < num_heldout < num_items``
            (a multiple of the class count when stratified).
        seed (int): Data seed.
        strata (np.ndarray, optional): ``(num_items, )`` class of each item,
            for a class-balanced held-out part.
    """
    if not 0 < num_heldout < num_items:
        raise ValueError(f'num_heldout={num_heldout} must be in (0, '
                         f'{num_items}) (the number of train items)')
    order = _permutation(np.arange(num_items), [seed, 5], strata)
    return np.sort(order[:num_heldout]), np.sort(order[num_heldout:])


def budget_splits(pool: np.ndarray, budgets: Sequence[int],
                  split_seeds: Sequence[int], seed: int,
                  strata: Optional[np.ndarray] = None
                  ) -> Dict[Tuple[int, int], Tuple[np.ndarray, np.ndarray]]:
    """``{(n, s): (labelled, unlabelled)}``: sorted indices into the items.

    For split seed ``s`` the pool is permuted once (``[seed, 6, s]``,
    class-interleaved with ``strata``) and the first ``n`` items are
    labelled, so the budgets of one seed are nested.
    """
    pool = np.asarray(pool)
    for n in budgets:
        if not 0 < n < len(pool):
            raise ValueError(f'label budget {n} must be in (0, {len(pool)}) '
                             '(the pool size)')
    out = {}
    for s in split_seeds:
        order = _permutation(pool, [seed, 6, int(s)], strata)
        for n in budgets:
            out[int(n), int(s)] = (np.sort(order[:n]), np.sort(order[n:]))
    return out


def difference_maximised(labeled: np.ndarray, seed_seq
                         ) -> Tuple[np.ndarray, np.ndarray]:
    """The two phase-0 subsets of the VOC 1/106 protocol, each sorted.

    ``labeled`` shuffled with ``default_rng(seed_seq)``; A = all but the last
    ``ceil(0.2 n)``, B = all but the first ``ceil(0.2 n)`` (both of size
    ``n - ceil(0.2 n)``, sharing ``n - 2 ceil(0.2 n)``).
    """
    labeled = np.asarray(labeled)
    if len(labeled) < 5:
        raise ValueError(f'the two-subset protocol needs >= 5 labelled items,'
                         f' got {len(labeled)}')
    cut = math.ceil(0.2 * len(labeled))
    order = labeled[np.random.default_rng(seed_seq).permutation(len(labeled))]
    return np.sort(order[:-cut]), np.sort(order[cut:])


def pool_split_names(budget: int, split_seed: int) -> Dict[str, str]:
    """Names (no extension) of the split lists of one budget and seed."""
    stem = f'pool_labeled{budget}_seed{split_seed}'
    return dict(labeled=stem, labeled_a=stem + '_a', labeled_b=stem + '_b',
                unlabeled=f'pool_unlabeled{budget}_seed{split_seed}')


def pool_split_lists(items: Sequence, num_heldout: int,
                     budgets: Sequence[int], split_seeds: Sequence[int],
                     seed: int, strata: Optional[np.ndarray] = None,
                     two_subsets: bool = False) -> Dict[str, List]:
    """Every split list of a train set, by name (see module doc).

    Args:
        items (Sequence): The train items (stems, paths, annotation lines).
        num_heldout (int): Size of the held-out part.
        budgets (Sequence[int]): Label budgets.
        split_seeds (Sequence[int]): Split seeds.
        seed (int): Data seed.
        strata (np.ndarray, optional): Class of each item (class-balanced
            held-out part and budgets).
        two_subsets (bool): Also write the two difference-maximised phase-0
            subsets ``..._a`` / ``..._b`` of every labelled list.

    Returns:
        dict: ``heldout``, ``pool`` and, per budget ``n`` and seed ``s``,
        the lists named by :func:`pool_split_names`, each in item order.
    """
    items = list(items)
    heldout, pool = heldout_split(len(items), num_heldout, seed, strata)
    lists = dict(heldout=[items[i] for i in heldout],
                 pool=[items[i] for i in pool])
    for (n, s), (lab, unl) in budget_splits(pool, budgets, split_seeds, seed,
                                            strata).items():
        names = pool_split_names(n, s)
        lists[names['labeled']] = [items[i] for i in lab]
        lists[names['unlabeled']] = [items[i] for i in unl]
        if two_subsets:
            a, b = difference_maximised(lab, [seed, 7, n, s])
            lists[names['labeled_a']] = [items[i] for i in a]
            lists[names['labeled_b']] = [items[i] for i in b]
    return lists


__all__ = [
    'budget_splits', 'difference_maximised', 'heldout_split',
    'pool_split_lists', 'pool_split_names'
]
