# Copyright (c) dmt_mm contributors. All rights reserved.
"""Split files of the dataset converters: one name (or index) a line.

MMSeg's and MMPretrain's ``ann_file`` lists and the index files of
``make_cifar_splits.py`` all have this form. :func:`write_split` writes
atomically, so a reader (or a rerun after an interruption) never sees a
partial list. Standard library only: ``dmt_mm``'s ``atomic_write_bytes``
would do the same, but importing ``dmt_mm`` (torch, the mm* registries)
takes about 5 s, a hundred times the run of ``make_splits.py``.
"""
import os
import os.path as osp
from typing import Iterable, List


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in its folder.

    The folder is created; the file gets ``open``'s mode (0666 less the
    umask); the temporary file is removed when the write fails.
    """
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def split_bytes(lines: Iterable) -> bytes:
    """The content of a split file: every item, then a newline."""
    return ''.join(f'{line}\n' for line in lines).encode()


def write_split(path: str, lines: Iterable) -> None:
    """Write ``lines`` to ``path`` atomically, creating its directory.

    Args:
        path (str): The split file.
        lines (Iterable): Names or indices, one per line (``str()`` of each).
    """
    atomic_write(path, split_bytes(lines))


def read_split(path: str) -> List[str]:
    """The non-empty lines of a split file, stripped."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]
