# Copyright (c) dmt_mm contributors. All rights reserved.
"""Write scikit-learn's handwritten digits as an MMPretrain image folder.

The source is scikit-learn's 1,797 scanned handwritten digits
(``sklearn.datasets.load_digits``: 8x8 images with 17 grey levels, 0..16),
which ship inside the scikit-learn package, so no download is needed. Every
digit is scaled to 0..255 (``round(v * 255 / 16)``: light strokes on a dark
background), upsampled to 32x32 with bilinear interpolation (OpenCV
``INTER_LINEAR``), replicated to three channels and saved as an RGB PNG.

The source digits are split per class into val (``val_per_class`` per digit,
500 by default) and train (the other 1,297), fixed by ``split_seed``.
For each labelled size ``n`` (a multiple of 10) and each seed, ``n / 10``
train images per class are labelled and the other train images are
unlabelled. For one seed the labelled sets are nested (the 50-label set is
part of the 100-label set).

Output (MMPretrain ``CustomDataset`` layout with annotation files)::

    <out>/train/<class>/<idx>.png           <idx>: 4-digit source index
    <out>/val/<class>/<idx>.png
    <out>/meta/classes.txt                  '0' .. '9', one per line
    <out>/meta/train.txt                    all train images (oracle runs)
    <out>/meta/val.txt
    <out>/meta/labeled_<n>_seed<s>.txt
    <out>/meta/unlabeled_<n>_seed<s>.txt
    <out>/meta/heldout.txt                  heldout_per_class train images
                                            per class, kept out of the pool
                                            lists: where recipes are chosen
    <out>/meta/pool.txt                     the other train images (oracle)
    <out>/meta/pool_labeled<n>_seed<s>.txt  for every pool budget n and
    <out>/meta/pool_unlabeled<n>_seed<s>.txt  seed s: n / 10 pool images per
                                            class (nested in n), the rest
    <out>/meta.json                         arguments, counts, content hash

Every annotation file has one ``relative/path.png label`` line per image,
relative to ``<out>`` and sorted by path. The unlabelled files carry the
*hidden* true labels too, for pseudo-label accuracy diagnostics only; the
semi-supervised wrapper must replace them by pseudo labels and never train on
them. Read them with ``CustomDataset(data_root=<out>,
ann_file='meta/unlabeled_50_seed0.txt', with_label=True)``.

Generation is deterministic: the same arguments give byte-identical files.
By default the script returns at once when ``meta.json`` records the same
arguments and all listed files exist, so it can be called before every run.

Example::

    python tools/dataset_converters/digits_cls.py -o data/digits_cls
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

try:
    import dmt_mm  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from dmt_mm.utils import bundled_digits
from dmt_mm.utils.bundled_digits import (build_summary, content_hash,
                                         existing_build_summary, png_bytes,
                                         write_bytes)
from dmt_mm.utils.pool_splits import pool_split_lists

#: Bump when the generated content changes for the same arguments.
FORMAT_VERSION = 2

CLASSES = tuple(str(d) for d in range(10))
#: Side length of the written images.
SIZE = 32
#: Maximum grey level of ``load_digits`` images.
MAX_GREY = 16.0
#: Smallest number of source digits of one class in ``load_digits``
#: (digit 8 has 174).
_MIN_CLASS_COUNT = 174


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f'{name} must be an int, but got {value!r} of type '
                        f'{type(value).__name__}')
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, but got {value}')
    return int(value)


def check_args(num_labeled: Sequence[int], seeds: Sequence[int],
               val_per_class: int, split_seed: int) -> Tuple[list, list]:
    """Validate the arguments; return ``num_labeled`` and ``seeds`` as lists.

    Raises:
        TypeError: If a value is not an int.
        ValueError: If a value is out of range; the message names the
            argument and shows its value.
    """
    val_per_class = _check_int('val_per_class', val_per_class, 1)
    if val_per_class >= _MIN_CLASS_COUNT:
        raise ValueError(
            f'val_per_class={val_per_class} leaves no train image for the '
            f'smallest class ({_MIN_CLASS_COUNT} digits)')
    _check_int('split_seed', split_seed, 0)
    if isinstance(num_labeled, (int, np.integer)):
        num_labeled = [num_labeled]
    num_labeled = [_check_int('num_labeled', n, 1) for n in num_labeled]
    if not num_labeled:
        raise ValueError('num_labeled must list at least one size')
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
    if isinstance(seeds, (int, np.integer)):
        seeds = [seeds]
    seeds = [_check_int('seed', s, 0) for s in seeds]
    if not seeds:
        raise ValueError('seeds must list at least one seed')
    return sorted(set(num_labeled)), sorted(set(seeds))


def load_source_digits() -> Tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's handwritten digits.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``images`` float64 of shape
        (1797, 8, 8) with grey levels in [0, 16], ``targets`` int64 (1797, ).
    """
    return bundled_digits.load_source_digits(np.float64)


def to_rgb32(image: np.ndarray) -> np.ndarray:
    """Upsample one 8x8 digit to a 32x32 RGB uint8 image.

    Args:
        image (np.ndarray): Grey levels in [0, 16], shape (8, 8).

    Returns:
        np.ndarray: uint8 array of shape (32, 32, 3), the grey image
        replicated to three channels.
    """
    import cv2
    grey = image.astype(np.float32) * (255.0 / MAX_GREY)
    up = cv2.resize(grey, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    up = np.clip(np.rint(up), 0, 255).astype(np.uint8)
    return np.repeat(up[..., None], 3, axis=2)


def split_train_val(targets: np.ndarray, val_per_class: int,
                    split_seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Stratified split of the source indices.

    Returns:
        tuple[np.ndarray, np.ndarray]: Sorted train and val source indices;
        val holds ``val_per_class`` digits of each class.
    """
    rng = np.random.default_rng([split_seed, 0])
    train, val = [], []
    for c in range(len(CLASSES)):
        idx = rng.permutation(np.flatnonzero(targets == c))
        val.append(idx[:val_per_class])
        train.append(idx[val_per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def labeled_subsets(train_idx: np.ndarray, targets: np.ndarray,
                    num_labeled: Sequence[int],
                    seed: int) -> Dict[int, np.ndarray]:
    """Class-balanced labelled subsets of ``train_idx`` for one seed.

    One permutation per class; the ``n``-label subset takes the first
    ``n / 10`` of each, so subsets of one seed are nested.

    Returns:
        dict[int, np.ndarray]: Sorted labelled source indices per size.
    """
    rng = np.random.default_rng([seed, 1])
    perms = [
        rng.permutation(train_idx[targets[train_idx] == c])
        for c in range(len(CLASSES))
    ]
    return {
        n: np.sort(np.concatenate([p[:n // len(CLASSES)] for p in perms]))
        for n in num_labeled
    }


def rel_path(split: str, idx: int, label: int) -> str:
    """Relative image path of source digit ``idx``."""
    return f'{split}/{label}/{idx:04d}.png'


def _ann_bytes(split: str, indices: np.ndarray, targets: np.ndarray) -> bytes:
    lines = [
        f'{rel_path(split, int(i), int(targets[i]))} {int(targets[i])}\n'
        for i in indices
    ]
    return ''.join(sorted(lines)).encode()


def _args_dict(num_labeled, seeds, val_per_class, split_seed,
               heldout_per_class, pool_budgets) -> dict:
    return dict(
        num_labeled=list(num_labeled),
        seeds=list(seeds),
        val_per_class=int(val_per_class),
        split_seed=int(split_seed),
        heldout_per_class=int(heldout_per_class),
        pool_budgets=[int(n) for n in pool_budgets])


def _required_files(meta: dict) -> list:
    """Relative paths of the files a build described by ``meta`` has."""
    return meta.get('files', [])


def build_digits_cls(out_dir: str,
                     num_labeled: Sequence[int] = (50, 100, 250),
                     seeds: Sequence[int] = (0, 1, 2, 3, 4),
                     val_per_class: int = 50,
                     split_seed: int = 0,
                     heldout_per_class: int = 20,
                     pool_budgets: Sequence[int] = (10, 20, 30),
                     skip_if_exists: bool = True) -> Dict:
    """Write the digits classification data set into ``out_dir``.

    Args:
        out_dir (str): Output root (e.g. ``data/digits_cls``).
        num_labeled (Sequence[int]): Labelled subset sizes, multiples of 10.
            Defaults to ``(50, 100, 250)``.
        seeds (Sequence[int]): Seeds of the labelled subsets.
            Defaults to ``(0, 1, 2, 3, 4)``.
        val_per_class (int): Val digits per class. Defaults to 50
            (500 val / 1,297 train).
        split_seed (int): Seed of the train/val split. Defaults to 0.
        heldout_per_class (int): Train images per class of
            ``meta/heldout.txt``, kept out of the ``pool_*`` lists.
            Defaults to 20 (200 held out, 1,097 in the pool).
        pool_budgets (Sequence[int]): Label budgets of the ``pool_*`` lists,
            multiples of 10 (class-balanced, nested per seed). Defaults to
            (10, 20, 30).
        skip_if_exists (bool): Return at once when ``meta.json`` in
            ``out_dir`` records the same arguments and all listed files
            exist. Defaults to True.

    Returns:
        dict: ``out_dir``, ``skipped`` (bool), ``content_hash`` and the
        counts ``train`` and ``val``, and the lists ``num_labeled`` and
        ``seeds`` of the written subsets.
    """
    num_labeled, seeds = check_args(num_labeled, seeds, val_per_class,
                                    split_seed)
    pool_budgets, _ = check_args(pool_budgets, seeds, val_per_class,
                                 split_seed)
    _check_int('heldout_per_class', heldout_per_class, 1)
    args = _args_dict(num_labeled, seeds, val_per_class, split_seed,
                      heldout_per_class, pool_budgets)
    out_dir = str(out_dir)
    if skip_if_exists:
        summary = existing_build_summary(out_dir, FORMAT_VERSION, args,
                                         _required_files)
        if summary is not None:
            return summary

    images, targets = load_source_digits()
    train_idx, val_idx = split_train_val(targets, val_per_class, split_seed)

    # Invalidate a previous build first, then remove its images so that no
    # stale image (e.g. from another split seed) survives.
    meta_path = osp.join(out_dir, 'meta.json')
    if osp.isfile(meta_path):
        os.remove(meta_path)
    for split in ('train', 'val'):
        for c in CLASSES:
            d = osp.join(out_dir, split, c)
            if osp.isdir(d):
                for name in os.listdir(d):
                    if name.endswith('.png') and name[:-4].isdigit():
                        os.remove(osp.join(d, name))

    written: Dict[str, bytes] = {}
    for split, indices in (('train', train_idx), ('val', val_idx)):
        for i in indices:
            rel = rel_path(split, int(i), int(targets[i]))
            data = png_bytes(to_rgb32(images[i]))
            write_bytes(osp.join(out_dir, rel), data)
            written[rel] = data

    ann: Dict[str, bytes] = {
        'meta/classes.txt': ''.join(c + '\n' for c in CLASSES).encode(),
        'meta/train.txt': _ann_bytes('train', train_idx, targets),
        'meta/val.txt': _ann_bytes('val', val_idx, targets),
    }
    for seed in seeds:
        subsets = labeled_subsets(train_idx, targets, num_labeled, seed)
        for n, labeled in subsets.items():
            unlabeled = np.setdiff1d(train_idx, labeled)
            ann[f'meta/labeled_{n}_seed{seed}.txt'] = _ann_bytes(
                'train', labeled, targets)
            ann[f'meta/unlabeled_{n}_seed{seed}.txt'] = _ann_bytes(
                'train', unlabeled, targets)
    pool_lists = pool_split_lists(
        train_idx, heldout_per_class * len(CLASSES), pool_budgets, seeds,
        split_seed, strata=targets[train_idx])
    for name, indices in pool_lists.items():
        ann[f'meta/{name}.txt'] = _ann_bytes('train', np.asarray(indices),
                                            targets)
    for rel, data in ann.items():
        write_bytes(osp.join(out_dir, rel), data)
        written[rel] = data

    meta = dict(
        format_version=FORMAT_VERSION,
        generator='tools/dataset_converters/digits_cls.py',
        source='sklearn.datasets.load_digits (1797 images, 8x8, '
        'grey levels 0..16)',
        transform='round(v * 255 / 16), bilinear (cv2.INTER_LINEAR) resize '
        'to 32x32, grey replicated to RGB',
        args=args,
        classes=list(CLASSES),
        counts=dict(
            train=int(len(train_idx)),
            val=int(len(val_idx)),
            num_labeled=list(num_labeled),
            seeds=list(seeds)),
        class_counts=dict(
            train=np.bincount(targets[train_idx], minlength=10).tolist(),
            val=np.bincount(targets[val_idx], minlength=10).tolist()),
        files=sorted(written),
        content_hash=content_hash(written))
    write_bytes(meta_path,
                (json.dumps(meta, indent=1, sort_keys=True) + '\n').encode())
    return build_summary(out_dir, meta, skipped=False)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write scikit-learn\'s handwritten digits as a 32x32 RGB '
        'MMPretrain image folder with labelled/unlabelled splits.')
    parser.add_argument(
        '-o',
        '--out-dir',
        default='data/digits_cls',
        help='output root (default: data/digits_cls)')
    parser.add_argument(
        '--num-labeled',
        type=int,
        nargs='+',
        default=[50, 100, 250],
        help='labelled subset sizes, multiples of 10 (default: 50 100 250)')
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=[0, 1, 2, 3, 4],
        help='seeds of the labelled subsets (default: 0 1 2 3 4)')
    parser.add_argument(
        '--val-per-class',
        type=int,
        default=50,
        help='val digits per class (default: 50, i.e. 500 val / 1297 train)')
    parser.add_argument(
        '--split-seed',
        type=int,
        default=0,
        help='seed of the train/val split (default: 0)')
    parser.add_argument(
        '--heldout-per-class', type=int, default=20,
        help='train digits per class held out of the pool lists (recipe '
        'choices; default: 20)')
    parser.add_argument(
        '--pool-budgets', type=int, nargs='+', default=[10, 20, 30],
        help='label budgets of the pool lists (default: 10 20 30)')
    parser.add_argument(
        '--skip-if-exists',
        dest='skip_if_exists',
        action='store_true',
        default=True,
        help='do nothing when meta.json records the same arguments '
        '(default)')
    parser.add_argument(
        '--no-skip-if-exists',
        '--force',
        dest='skip_if_exists',
        action='store_false',
        help='always regenerate')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Command-line entry point; returns the summary of
    :func:`build_digits_cls`."""
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        summary = build_digits_cls(
            args.out_dir,
            num_labeled=args.num_labeled,
            seeds=args.seeds,
            val_per_class=args.val_per_class,
            split_seed=args.split_seed,
            heldout_per_class=args.heldout_per_class,
            pool_budgets=args.pool_budgets,
            skip_if_exists=args.skip_if_exists)
    except (TypeError, ValueError) as e:
        if argv is None:  # called from the shell: no traceback
            raise SystemExit(f'error: {e}') from e
        raise
    elapsed = time.perf_counter() - start
    if summary['skipped']:
        print(f'digits_cls in {summary["out_dir"]} is up to date '
              f'({summary["content_hash"][:19]}...)')
    else:
        sizes = ', '.join(str(n) for n in summary['num_labeled'])
        print(f'wrote {summary["train"]} train and {summary["val"]} val '
              f'images to {summary["out_dir"]} (labelled subsets of {sizes} '
              f'for seeds {summary["seeds"]}) in {elapsed:.1f} s')
    return summary


if __name__ == '__main__':
    main()
