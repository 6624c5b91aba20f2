# Copyright (c) dmt_mm contributors. All rights reserved.
"""Helpers shared by the converters of the bundled digit data sets.

``tools/dataset_converters/digit_scenes.py`` and
``tools/dataset_converters/digits_cls.py`` both build a data set from
scikit-learn's handwritten digits, write every file atomically, record a
content hash and the generation arguments in ``<out>/meta.json`` and return
at once when an existing build recorded the same arguments. This module holds
the parts they have in common; what differs (the content, which files a build
must contain, ``FORMAT_VERSION``) stays in the converters.
"""
import hashlib
import io
import json
import os
import os.path as osp
from typing import Callable, Dict, Iterable, Optional, Tuple

import numpy as np

__all__ = [
    'load_source_digits', 'png_bytes', 'write_bytes', 'content_hash',
    'build_summary', 'existing_build_summary'
]


def load_source_digits(dtype=np.float32) -> Tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's handwritten digits.

    The 1,797 scanned digits ship inside the scikit-learn package, so no
    download is needed.

    Args:
        dtype (np.dtype): Floating type of the returned images.
            Defaults to ``np.float32``.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``images`` of shape (1797, 8, 8) and
        type ``dtype``, grey levels in [0, 16], and ``targets`` of shape
        (1797, ), int64 digits 0..9.
    """
    from sklearn.datasets import load_digits
    digits = load_digits()
    return digits.images.astype(dtype), digits.target.astype(np.int64)


def png_bytes(array: np.ndarray) -> bytes:
    """Encode an image as PNG with Pillow.

    Args:
        array (np.ndarray): uint8 image, (H, W) grey or (H, W, 3) RGB.

    Returns:
        bytes: The PNG file's content.
    """
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format='PNG')
    return buf.getvalue()


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating its directory.

    The data go to ``path + '.tmp'`` first, which then replaces ``path``, so
    a reader never sees a partial file. The file gets the default mode
    (0666 less the umask), so a generated data set stays readable by others.

    Args:
        path (str): Destination file.
        data (bytes): Content to write.
    """
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def content_hash(written: Dict[str, bytes]) -> str:
    """Hash of a build: every relative path with the SHA-256 of its content.

    Args:
        written (dict[str, bytes]): Content of every written file, by path
            relative to the output root.

    Returns:
        str: ``'sha256:'`` followed by the hex digest.
    """
    digest = hashlib.sha256()
    for rel in sorted(written):
        digest.update(rel.encode() + b'\0')
        digest.update(hashlib.sha256(written[rel]).digest())
    return 'sha256:' + digest.hexdigest()


def build_summary(out_dir: str, meta: dict, skipped: bool) -> dict:
    """Summary of a build returned by the converters.

    Args:
        out_dir (str): Output root.
        meta (dict): Content of the build's ``meta.json``.
        skipped (bool): Whether the build was found up to date.

    Returns:
        dict: ``out_dir``, ``skipped``, ``content_hash`` and the entries of
        ``meta['counts']``.
    """
    return dict(
        out_dir=out_dir,
        skipped=skipped,
        content_hash=meta['content_hash'],
        **meta['counts'])


def existing_build_summary(
        out_dir: str, format_version: int, args: dict,
        required_files: Callable[[dict], Iterable[str]]) -> Optional[dict]:
    """Summary of an existing, complete build with ``args``, else None.

    A build is complete when ``<out_dir>/meta.json`` can be read, records
    ``format_version`` and ``args``, and every file that
    ``required_files(meta)`` lists exists.

    Args:
        out_dir (str): Output root.
        format_version (int): The converter's current format version.
        args (dict): The generation arguments as recorded in ``meta.json``.
        required_files (Callable[[dict], Iterable[str]]): Paths, relative to
            ``out_dir``, of the files a build described by ``meta`` must
            contain.

    Returns:
        dict | None: :func:`build_summary` with ``skipped=True``, or None
        when the data set has to be (re)generated.
    """
    meta_path = osp.join(out_dir, 'meta.json')
    if not osp.isfile(meta_path):
        return None
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if (meta.get('format_version') != format_version
            or meta.get('args') != args):
        return None
    for rel in required_files(meta):
        if not osp.isfile(osp.join(out_dir, rel)):
            return None
    return build_summary(out_dir, meta, skipped=True)
