# Copyright (c) dmt_mm contributors. All rights reserved.
"""Split files of the dataset converters: one name (or index) a line.

MMSeg's and MMPretrain's ``ann_file`` lists and the index files of
``make_cifar_splits.py`` all have this form. :func:`write_split` writes
through ``dmt_mm``'s :func:`atomic_write_bytes`, so a reader (or a rerun
after an interruption) never sees a partial list.
"""
import os.path as osp
import sys
from typing import Iterable, List

try:
    import dmt_mm  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from dmt_mm.utils.pseudo_label_io import atomic_write_bytes


def split_bytes(lines: Iterable) -> bytes:
    """The content of a split file: every item, then a newline."""
    return ''.join(f'{line}\n' for line in lines).encode()


def write_split(path: str, lines: Iterable) -> None:
    """Write ``lines`` to ``path`` atomically, creating its directory.

    Args:
        path (str): The split file.
        lines (Iterable): Names or indices, one per line (``str()`` of each).
    """
    atomic_write_bytes(path, split_bytes(lines))


def read_split(path: str) -> List[str]:
    """The non-empty lines of a split file, stripped."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]
