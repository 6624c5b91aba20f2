# Copyright (c) dmt_mm contributors. All rights reserved.
"""Class-stratified draws of the dataset converters.

- :func:`split_per_class`: a part of every class held out (the val digits of
  ``digits_cls.py``, the val pool of ``digit_scenes.py``);
- :func:`balanced_subsets`: class-balanced labelled subsets, nested over
  their sizes (``make_cifar_splits.py``, ``digits_cls.py``): one permutation
  of every class, in class order; the ``n``-label set takes the first
  ``n / K`` of each of the ``K`` classes, so the sets of one generator are
  nested (the 50-label set is part of the 100-label set).

Numpy only.
"""
from typing import Callable, Dict, Sequence, Tuple

import numpy as np


def balanced_subsets(items: np.ndarray, labels: np.ndarray,
                     sizes: Sequence[int], rng: np.random.Generator,
                     num_classes: int) -> Dict[int, np.ndarray]:
    """The labelled subset of every size, each sorted.

    Args:
        items (np.ndarray): The items to draw from, shape (N, ), e.g.
            indices into a training set.
        labels (np.ndarray): The class (0 .. ``num_classes - 1``) of every
            item, shape (N, ).
        sizes (Sequence[int]): Subset sizes, multiples of ``num_classes``
            and at most ``num_classes`` times the smallest class count.
        rng (np.random.Generator): Draws one permutation per class, in class
            order.
        num_classes (int): ``K``.

    Returns:
        dict[int, np.ndarray]: Per size ``n``, the sorted ``n`` items:
        ``n / K`` of every class.
    """
    items = np.asarray(items)
    perms = [
        rng.permutation(items[labels == c]) for c in range(num_classes)
    ]
    return {
        n: np.sort(np.concatenate([p[:n // num_classes] for p in perms]))
        for n in sizes
    }


def split_per_class(labels: np.ndarray, num_held: Callable[[int], int],
                    rng: np.random.Generator
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Split the indices ``0 .. N - 1`` class by class.

    For every class (in sorted order) its indices are permuted and the first
    ``num_held(n_c)`` of its ``n_c`` are held out.

    Args:
        labels (np.ndarray): The class of every item, shape (N, ).
        num_held (Callable[[int], int]): The held-out count of a class from
            its size, e.g. ``lambda n: 50`` or
            ``lambda n: int(round(n * 0.3))``.
        rng (np.random.Generator): Draws one permutation per class, in class
            order.

    Returns:
        tuple[np.ndarray, np.ndarray]: The sorted kept indices and the sorted
        held-out indices.
    """
    kept, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = num_held(len(idx))
        held.append(idx[:k])
        kept.append(idx[k:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))
