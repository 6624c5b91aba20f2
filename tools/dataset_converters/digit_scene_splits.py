# Copyright (c) dmt_mm contributors. All rights reserved.
"""The splits of the digit scenes (for ``digit_scenes.py``).

The source digits are first split, stratified by digit, into a train pool and
a val pool (:func:`split_digit_pools`); train scenes use train-pool digits
only and val scenes val-pool digits only. The lists under ``splits/`` name
scenes by stem, one a line (:func:`scene_split_lists`): ``labeled_a`` /
``labeled_b`` (disjoint) and ``unlabeled``, the shared labelled subset of
every split seed and its unlabelled rest, ``val``, and with label budgets
the held-out part, the pool and its budget lists
(:func:`dmt_mm.utils.pool_splits.pool_split_lists`).
"""
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

from class_balanced import split_per_class
from digit_build import pool_split_lists, pool_split_names

#: The lists every build has, whatever the split seeds and budgets.
SPLIT_FILES = ('labeled_a.txt', 'labeled_b.txt', 'unlabeled.txt', 'val.txt')


def split_digit_pools(targets: np.ndarray,
                      val_fraction: float = 0.3,
                      seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Split source digits into disjoint train and val pools.

    The split is stratified by digit: for every digit class, a shuffled
    ``round(n_c * val_fraction)`` of its ``n_c`` images go to the val pool
    and the rest to the train pool. It depends only on ``targets``,
    ``val_fraction`` and ``seed``.

    Args:
        targets (np.ndarray): Digit of every source image, shape (N, ).
        val_fraction (float): Fraction of each class put in the val pool.
            Defaults to 0.3.
        seed (int): Random seed. Defaults to 0.

    Returns:
        tuple[np.ndarray, np.ndarray]: Sorted source indices of the train
        pool and of the val pool.
    """
    return split_per_class(targets,
                           lambda n_c: int(round(n_c * val_fraction)),
                           np.random.default_rng([seed, 2]))


def seed_split_names(split_seed: int) -> Tuple[str, str]:
    """File names (under ``splits/``) of the labelled and unlabelled train
    stems of split seed ``split_seed``."""
    return (f'labeled_seed{split_seed}.txt',
            f'unlabeled_seed{split_seed}.txt')


def required_files(meta: dict) -> List[str]:
    """Relative paths of the files a build described by ``meta`` has: its
    scenes (``meta['scene_sources']``) and its lists (``meta['args']``)."""
    args = meta.get('args', {})
    names = list(SPLIT_FILES)
    for s in args.get('split_seeds', []):
        names += seed_split_names(s)
        for n in args.get('budgets', []):
            names += [f'{v}.txt' for v in pool_split_names(n, s).values()]
    if args.get('budgets'):
        names += ['heldout.txt', 'pool.txt']
    files = [osp.join('splits', name) for name in names]
    for split in ('train', 'val'):
        for stem in meta.get('scene_sources', {}).get(split, {}):
            for sub in ('img_dir', 'ann_dir'):
                files.append(osp.join(sub, split, stem + '.png'))
    return files



def check_pool_args(num_train: int, split_seeds: Sequence[int],
                    num_heldout: int, budgets: Sequence[int],
                    seed: int) -> None:
    """Check the split seeds, and that the held-out part and the label
    budgets fit ``num_train`` train scenes (with ``budgets``).

    Raises:
        ValueError: If a split seed is not an int >= 0, or ``num_heldout`` or
            a budget does not fit; the message names the value.
    """
    for s in split_seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) \
                or s < 0:
            raise ValueError(f'split seeds must be ints >= 0, got {s!r}')
    if budgets:
        pool_split_lists(range(num_train), num_heldout, budgets, split_seeds,
                         seed, two_subsets=True)


def scene_split_lists(train_stems: Sequence[str], val_stems: Sequence[str],
                      num_labeled: int, seed: int,
                      split_seeds: Sequence[int] = (0, 1, 2, 3, 4),
                      num_heldout: int = 100,
                      budgets: Sequence[int] = ()) -> Dict[str, List[str]]:
    """Every list of ``splits/``, by file name.

    Args:
        train_stems (Sequence[str]): The train scenes, in index order.
        val_stems (Sequence[str]): The val scenes.
        num_labeled (int): Size of each labelled subset,
            ``2 * num_labeled < len(train_stems)``.
        seed (int): The data seed.
        split_seeds (Sequence[int]): One shared labelled subset of
            ``num_labeled`` (``default_rng([seed, 4, split_seed])``) and the
            unlabelled rest per seed. Defaults to (0, 1, 2, 3, 4).
        num_heldout (int): Train scenes of ``heldout.txt`` (with
            ``budgets``). Defaults to 100.
        budgets (Sequence[int]): Label budgets of the ``pool_*`` lists;
            empty: no held-out part and no pool lists. Defaults to ().

    Returns:
        dict[str, list[str]]: ``labeled_a.txt`` and ``labeled_b.txt``
        (disjoint, drawn with ``default_rng([seed, 3])``), ``unlabeled.txt``
        (the other train stems), ``val.txt``, the lists of
        :func:`seed_split_names` and, with ``budgets``, ``heldout.txt``,
        ``pool.txt`` and the budget lists; each sorted as in the files.
    """
    train_stems = list(train_stems)
    num_train = len(train_stems)
    order = np.random.default_rng([seed, 3]).permutation(num_train)
    splits = {
        'labeled_a.txt': sorted(train_stems[i] for i in order[:num_labeled]),
        'labeled_b.txt': sorted(train_stems[i]
                                for i in order[num_labeled:2 * num_labeled]),
        'unlabeled.txt': sorted(train_stems[i]
                                for i in order[2 * num_labeled:]),
        'val.txt': list(val_stems),
    }
    for s in split_seeds:
        perm = np.random.default_rng([seed, 4, int(s)]).permutation(num_train)
        lab_name, unl_name = seed_split_names(int(s))
        splits[lab_name] = sorted(train_stems[i] for i in perm[:num_labeled])
        splits[unl_name] = sorted(train_stems[i] for i in perm[num_labeled:])
    if budgets:
        pool_lists = pool_split_lists(train_stems, num_heldout, budgets,
                                      split_seeds, seed, two_subsets=True)
        splits.update({f'{k}.txt': v for k, v in pool_lists.items()})
    return splits
