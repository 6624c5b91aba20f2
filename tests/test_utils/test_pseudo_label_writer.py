# Copyright (c) dmt_mm contributors. All rights reserved.
"""PseudoLabelWriter: maps written on threads, errors re-raised."""
import os.path as osp

import numpy as np
import pytest
import torch

from dmt_mm.utils.pseudo_label_io import read_pseudo_label
from dmt_mm.utils.pseudo_label_writer import PseudoLabelWriter


def _maps(n, h=5, w=7):
    gen = torch.Generator().manual_seed(0)
    for i in range(n):
        label = torch.randint(0, 21, (h, w), generator=gen)
        level = torch.randint(0, 256, (h, w), generator=gen).to(torch.uint8)
        yield i, label, level


@pytest.mark.parametrize('workers', [0, 3])
def test_writes_every_map(tmp_path, workers):
    expected = {}
    with PseudoLabelWriter(num_workers=workers, max_pending=2) as writer:
        for i, label, level in _maps(12):
            path = str(tmp_path / 'sub' / f'{i}.png')
            writer.submit(path, label, level)
            expected[path] = (label.numpy(), level.numpy())
    assert writer.num_written == 12
    for path, (label, level) in expected.items():
        got_label, got_level = read_pseudo_label(path)
        np.testing.assert_array_equal(got_label, label)
        np.testing.assert_array_equal(got_level, level)
    with pytest.raises(RuntimeError, match='closed'):
        writer.submit(path, torch.zeros(2, 2, dtype=torch.long),
                      torch.zeros(2, 2, dtype=torch.uint8))


def test_errors_are_raised_on_close_and_next_submit(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a folder')
    writer = PseudoLabelWriter(num_workers=2)
    label = torch.zeros(3, 3, dtype=torch.long)
    level = torch.zeros(3, 3, dtype=torch.uint8)
    writer.submit(str(blocker / 'a.png'), label, level)  # cannot be written
    with pytest.raises(RuntimeError, match='writing a pseudo label failed'):
        writer.close()
    # a label that cannot be stored (8 bits, 255 is ignore) fails the same
    # one slot: the next submit waits for the failed write, then raises
    writer = PseudoLabelWriter(num_workers=1, max_pending=1)
    writer.submit(str(tmp_path / 'b.png'), label + 300, level)
    with pytest.raises(RuntimeError, match='at most 254'):
        writer.submit(str(tmp_path / 'c.png'), label, level)
    with pytest.raises(RuntimeError):
        writer.close()
    assert not osp.exists(tmp_path / 'b.png')


def test_bad_arguments():
    with pytest.raises(ValueError, match='num_workers'):
        PseudoLabelWriter(num_workers=-1)
    with pytest.raises(ValueError, match='max_pending'):
        PseudoLabelWriter(max_pending=0)
