# Copyright (c) dmt_mm contributors. All rights reserved.
"""Writing one build of a bundled digit data set.

``digit_scenes.py`` and ``digits_cls.py`` build a data set from
scikit-learn's handwritten digits in the same way: the previous build is
invalidated (its ``meta.json`` removed first, then its stale files), every
file is written atomically and recorded, and ``meta.json`` comes last with
the content hash of all of them, so a build is complete exactly when its
``meta.json`` exists. :class:`DigitBuild` does that; the content, which
files a build must contain and ``FORMAT_VERSION`` stay in the converters.

Importing this module makes ``dmt_mm`` importable from a checkout that is not
installed; it re-exports the pieces of :mod:`dmt_mm.utils.bundled_digits`
and :mod:`dmt_mm.utils.pool_splits` the converters use.
"""
import json
import os
import os.path as osp
import sys
from typing import Dict, Iterable, Pattern

import numpy as np

try:
    import dmt_mm  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from dmt_mm.utils.bundled_digits import (build_summary,  # noqa: F401,E402
                                         content_hash,
                                         existing_build_summary,
                                         load_source_digits, png_bytes)
from dmt_mm.utils.pool_splits import (pool_split_lists,  # noqa: F401,E402
                                      pool_split_names)
from split_files import atomic_write, split_bytes  # noqa: E402

#: The ``source`` recorded in both converters' ``meta.json``.
SOURCE = ('sklearn.datasets.load_digits (1797 images, 8x8, '
          'grey levels 0..16)')
#: Maximum grey level of ``load_digits`` images.
MAX_GREY = 16.0


class DigitBuild:
    """A build in progress in ``out_dir``.

    Creating it invalidates the previous build: ``<out_dir>/meta.json`` is
    removed first, then every file in ``stale_dirs`` whose name matches
    ``stale_name`` (only files named like a build's own are touched), so
    that no stale file of other arguments survives.

    Args:
        out_dir (str): Output root.
        stale_dirs (Iterable[str]): Folders, relative to ``out_dir``, of the
            previous build's generated files; missing ones are skipped.
        stale_name (Pattern): The names of the generated files in them,
            e.g. ``re.compile(r'^\\d+\\.png$')``.
    """

    def __init__(self, out_dir: str, stale_dirs: Iterable[str],
                 stale_name: Pattern) -> None:
        self.out_dir = out_dir
        #: Content of every file written so far, by relative path.
        self.written: Dict[str, bytes] = {}
        self.meta_path = osp.join(out_dir, 'meta.json')
        if osp.isfile(self.meta_path):
            os.remove(self.meta_path)
        for rel in stale_dirs:
            folder = osp.join(out_dir, rel)
            if not osp.isdir(folder):
                continue
            for name in os.listdir(folder):
                if stale_name.match(name):
                    os.remove(osp.join(folder, name))

    def write(self, rel: str, data: bytes) -> None:
        """Write ``data`` to ``<out_dir>/<rel>`` atomically and record it."""
        atomic_write(osp.join(self.out_dir, rel), data)
        self.written[rel] = data

    def write_png(self, rel: str, array: np.ndarray) -> None:
        """Write a uint8 image, (H, W) grey or (H, W, 3) RGB, as PNG."""
        self.write(rel, png_bytes(array))

    def write_lines(self, rel: str, lines: Iterable) -> None:
        """Write a list file: every item (``str()`` of it), then a newline."""
        self.write(rel, split_bytes(lines))

    def finish(self, meta: dict) -> dict:
        """Write ``meta.json`` last and return the build's summary.

        Args:
            meta (dict): The content of ``meta.json``; ``content_hash`` (of
                every file written) is added to a copy. It must have
                ``counts`` (see :func:`build_summary`).

        Returns:
            dict: ``out_dir``, ``skipped`` (False), ``content_hash`` and the
            entries of ``meta['counts']``.
        """
        meta = dict(meta, content_hash=content_hash(self.written))
        atomic_write(self.meta_path,
                     (json.dumps(meta, indent=1, sort_keys=True) +
                      '\n').encode())
        return build_summary(self.out_dir, meta, skipped=False)
