# Copyright (c) dmt_mm contributors. All rights reserved.
"""Random draws as functions of (seed, stage, position), not of history.

A DMT run killed at any point and resumed must end exactly where an
uninterrupted run does. Process history (how many numbers a worker or the
main process drew since it started) does not survive a restart, so every
draw of a DMT run is seeded from where it happens:

- :func:`derive_seed` turns a key such as ``(seed, stage, position)`` into a
  32-bit seed (NumPy's ``SeedSequence``: well mixed, platform independent);
- :func:`seeded_rngs` runs a block (one sample's augmentation) under such a
  seed and restores Python's, NumPy's and torch's global generators after it;
- the training loop seeds the global generators of one iteration (dropout,
  mixup's ``lam`` and permutation, ...) with mmengine's ``set_random_seed``
  and a :func:`derive_seed` of ``(seed, rank, stage, position in the
  stage)``: not of the absolute iteration, so that a run whose phase 0 was
  loaded (``train_cfg.phase0_from``, no phase-0 iterations) repeats the
  run that trained it.
"""
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

__all__ = ['derive_seed', 'seeded_rngs']


def derive_seed(*key: int) -> int:
    """A 32-bit seed determined by the integers ``key`` (each >= 0)."""
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(
        1, dtype=np.uint32)[0])


@contextmanager
def seeded_rngs(seed: int) -> Iterator[None]:
    """Run the block with the global generators seeded by ``seed``; their
    previous states are restored afterwards (CPU generators only: data
    transforms run on the CPU)."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch_state = torch.random.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.random.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)
