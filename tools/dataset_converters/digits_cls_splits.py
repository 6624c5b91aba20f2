# Copyright (c) dmt_mm contributors. All rights reserved.
"""The splits and annotation files of ``digits_cls.py``.

The source digits are split per class into val (``val_per_class`` per digit)
and train (:func:`split_train_val`); for each labelled size ``n`` and seed,
``n / 10`` train images per class are labelled (:func:`labeled_subsets`,
nested over ``n``). Every annotation file has one ``relative/path.png label``
line per image, relative to the output root and sorted by path
(:func:`ann_lines`).
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

from arg_checks import check_int, int_list
from class_balanced import balanced_subsets, split_per_class

CLASSES = tuple(str(d) for d in range(10))
#: Smallest number of source digits of one class in ``load_digits``
#: (digit 8 has 174).
_MIN_CLASS_COUNT = 174


def check_args(num_labeled: Sequence[int], seeds: Sequence[int],
               val_per_class: int, split_seed: int) -> Tuple[list, list]:
    """Validate the arguments; return ``num_labeled`` and ``seeds`` as
    sorted lists without repeats.

    Raises:
        TypeError: If a value is not an int.
        ValueError: If a value is out of range; the message names the
            argument and shows its value.
    """
    val_per_class = check_int('val_per_class', val_per_class, 1)
    if val_per_class >= _MIN_CLASS_COUNT:
        raise ValueError(
            f'val_per_class={val_per_class} leaves no train image for the '
            f'smallest class ({_MIN_CLASS_COUNT} digits)')
    check_int('split_seed', split_seed, 0)
    num_labeled = int_list('num_labeled', num_labeled, 1, 'size')
    train_min = _MIN_CLASS_COUNT - val_per_class
    for n in num_labeled:
        if n % len(CLASSES):
            raise ValueError(
                f'num_labeled={n} is not a multiple of the {len(CLASSES)} '
                'classes (labelled subsets are balanced per class)')
        if n // len(CLASSES) > train_min:
            raise ValueError(
                f'num_labeled={n} needs {n // len(CLASSES)} labels per class '
                f'but the smallest class has {train_min} train images '
                f'(val_per_class={val_per_class})')
    seeds = int_list('seeds', seeds, 0, 'seed', name='seed')
    return sorted(set(num_labeled)), sorted(set(seeds))


def split_train_val(targets: np.ndarray, val_per_class: int,
                    split_seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Stratified split of the source indices.

    Args:
        targets (np.ndarray): Digit of every source image, shape (N, ).
        val_per_class (int): Val digits per class.
        split_seed (int): Seed (``default_rng([split_seed, 0])``).

    Returns:
        tuple[np.ndarray, np.ndarray]: Sorted train and val source indices;
        val holds ``val_per_class`` digits of each class.
    """
    return split_per_class(targets, lambda n_c: val_per_class,
                           np.random.default_rng([split_seed, 0]))


def labeled_subsets(train_idx: np.ndarray, targets: np.ndarray,
                    num_labeled: Sequence[int],
                    seed: int) -> Dict[int, np.ndarray]:
    """Class-balanced labelled subsets of ``train_idx`` for one seed.

    One permutation per class (``default_rng([seed, 1])``); the ``n``-label
    subset takes the first ``n / 10`` of each, so subsets of one seed are
    nested.

    Returns:
        dict[int, np.ndarray]: Sorted labelled source indices per size.
    """
    return balanced_subsets(train_idx, targets[train_idx], num_labeled,
                            np.random.default_rng([seed, 1]), len(CLASSES))


def rel_path(split: str, idx: int, label: int) -> str:
    """Relative image path of source digit ``idx``."""
    return f'{split}/{label}/{idx:04d}.png'


def ann_lines(split: str, indices: np.ndarray,
              targets: np.ndarray) -> List[str]:
    """The lines of an annotation file: ``<rel_path> <label>`` for every
    source index, sorted by path."""
    return sorted(f'{rel_path(split, int(i), int(targets[i]))} '
                  f'{int(targets[i])}' for i in indices)


def annotation_lists(train_idx: np.ndarray, val_idx: np.ndarray,
                     targets: np.ndarray, num_labeled: Sequence[int],
                     seeds: Sequence[int],
                     pool_lists: Dict[str, Sequence[int]]
                     ) -> Dict[str, List[str]]:
    """Every file of ``meta/``, by path relative to the output root.

    Args:
        train_idx (np.ndarray): Sorted train source indices.
        val_idx (np.ndarray): Sorted val source indices.
        targets (np.ndarray): Digit of every source image, shape (N, ).
        num_labeled (Sequence[int]): Labelled sizes.
        seeds (Sequence[int]): Seeds of the labelled subsets.
        pool_lists (dict): The held-out part, the pool and its budget lists
            (:func:`dmt_mm.utils.pool_splits.pool_split_lists` of
            ``train_idx``), by name.

    Returns:
        dict[str, list[str]]: ``meta/classes.txt``, ``meta/train.txt``,
        ``meta/val.txt``, ``meta/{labeled,unlabeled}_<n>_seed<s>.txt`` and
        ``meta/<name>.txt`` of every pool list, each as its lines.
    """
    ann = {
        'meta/classes.txt': list(CLASSES),
        'meta/train.txt': ann_lines('train', train_idx, targets),
        'meta/val.txt': ann_lines('val', val_idx, targets),
    }
    for seed in seeds:
        subsets = labeled_subsets(train_idx, targets, num_labeled, seed)
        for n, labeled in subsets.items():
            unlabeled = np.setdiff1d(train_idx, labeled)
            ann[f'meta/labeled_{n}_seed{seed}.txt'] = ann_lines(
                'train', labeled, targets)
            ann[f'meta/unlabeled_{n}_seed{seed}.txt'] = ann_lines(
                'train', unlabeled, targets)
    for name, indices in pool_lists.items():
        ann[f'meta/{name}.txt'] = ann_lines('train', np.asarray(indices),
                                           targets)
    return ann
