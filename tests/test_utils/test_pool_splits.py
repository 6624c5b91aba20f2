# Copyright (c) dmt_mm contributors. All rights reserved.
"""Held-out part, budgets and the two-subset protocol of a train pool."""
import numpy as np
import pytest

from dmt_mm.utils.pool_splits import (budget_splits, difference_maximised,
                                      heldout_split, pool_split_lists)


def test_stratified_heldout_and_budgets_are_class_balanced():
    strata = np.repeat(np.arange(4), 25)  # 4 classes x 25 items
    heldout, pool = heldout_split(100, 8, seed=3, strata=strata)
    assert np.bincount(strata[heldout], minlength=4).tolist() == [2] * 4
    assert sorted(np.concatenate([heldout, pool]).tolist()) == list(range(100))
    splits = budget_splits(pool, (4, 12), (0, 1), seed=3, strata=strata)
    for s in (0, 1):
        lab4, unl4 = splits[4, s]
        lab12, _ = splits[12, s]
        assert np.bincount(strata[lab4], minlength=4).tolist() == [1] * 4
        assert np.bincount(strata[lab12], minlength=4).tolist() == [3] * 4
        assert set(lab4) < set(lab12) and not set(lab4) & set(unl4)
        assert not set(lab12) & set(heldout)
    assert splits[4, 0][0].tolist() != splits[4, 1][0].tolist()


def test_difference_maximised_subsets():
    a, b = difference_maximised(np.arange(100, 110), [0, 7])
    # ceil(0.2 * 10) = 2 left out of each, at opposite ends of one shuffle
    assert len(a) == len(b) == 8 and len(set(a) & set(b)) == 6
    assert set(a) | set(b) == set(range(100, 110))
    with pytest.raises(ValueError, match='>= 5 labelled items, got 4'):
        difference_maximised(np.arange(4), [0])


def test_lists_are_deterministic_and_errors_name_the_value():
    items = [f's{i:02d}' for i in range(20)]
    one = pool_split_lists(items, 4, (5, ), (0, ), seed=1, two_subsets=True)
    assert one == pool_split_lists(items, 4, (5, ), (0, ), seed=1,
                                   two_subsets=True)
    assert set(one) == {'heldout', 'pool', 'pool_labeled5_seed0',
                        'pool_labeled5_seed0_a', 'pool_labeled5_seed0_b',
                        'pool_unlabeled5_seed0'}
    with pytest.raises(ValueError, match='num_heldout=20'):
        heldout_split(20, 20, seed=0)
    with pytest.raises(ValueError, match='label budget 16'):
        pool_split_lists(items, 4, (16, ), (0, ), seed=0)
