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

The parts: ``digits_cls_splits.py`` makes the train/val split, the labelled
subsets and the annotation files, ``digit_build.py`` writes the files and
``meta.json``; this script holds the image transform, the builder and the
command line.
"""
import argparse
import os.path as osp
import re
import sys
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from arg_checks import check_int  # noqa: E402
from converter_cli import (add_build_args, add_subset_args,  # noqa: E402
                           build_from_cli)
import digit_build  # noqa: E402
from digit_build import (MAX_GREY, SOURCE, DigitBuild,  # noqa: E402
                         existing_build_summary, pool_split_lists)
from digits_cls_splits import (CLASSES, annotation_lists,  # noqa: E402,F401
                               check_args, labeled_subsets, rel_path,
                               split_train_val)

#: Bump when the generated content changes for the same arguments.
FORMAT_VERSION = 2
#: Side length of the written images.
SIZE = 32

_IMAGE_NAME = re.compile(r'^\d+\.png$')
_IMAGE_DIRS = tuple(f'{split}/{c}' for split in ('train', 'val')
                    for c in CLASSES)


def load_source_digits() -> Tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's handwritten digits.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``images`` float64 of shape
        (1797, 8, 8) with grey levels in [0, 16], ``targets`` int64 (1797, ).
    """
    return digit_build.load_source_digits(np.float64)


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
    num_labeled, seeds = check_args(num_labeled, seeds, val_per_class,
                                    split_seed)
    pool_budgets, _ = check_args(pool_budgets, seeds, val_per_class,
                                 split_seed)
    check_int('heldout_per_class', heldout_per_class, 1)
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
    # Before anything is written: raises when the held-out part or a budget
    # does not fit.
    pool_lists = pool_split_lists(
        train_idx, heldout_per_class * len(CLASSES), pool_budgets, seeds,
        split_seed, strata=targets[train_idx])
    build = DigitBuild(out_dir, _IMAGE_DIRS, _IMAGE_NAME)
    for split, indices in (('train', train_idx), ('val', val_idx)):
        for i in indices:
            build.write_png(rel_path(split, int(i), int(targets[i])),
                            to_rgb32(images[i]))
    for rel, lines in annotation_lists(train_idx, val_idx, targets,
                                       num_labeled, seeds,
                                       pool_lists).items():
        build.write_lines(rel, lines)

    return build.finish(dict(
        format_version=FORMAT_VERSION,
        generator='tools/dataset_converters/digits_cls.py',
        source=SOURCE,
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
        files=sorted(build.written)))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write scikit-learn\'s handwritten digits as a 32x32 RGB '
        'MMPretrain image folder with labelled/unlabelled splits.')
    add_build_args(parser, out_dir='data/digits_cls')
    add_subset_args(parser, num_labeled=(50, 100, 250))
    parser.add_argument(
        '--val-per-class', type=int, default=50,
        help='val digits per class (default: 50, i.e. 500 val / 1297 train)')
    parser.add_argument(
        '--split-seed', type=int, default=0,
        help='seed of the train/val split (default: 0)')
    parser.add_argument(
        '--heldout-per-class', type=int, default=20,
        help='train digits per class held out of the pool lists (recipe '
        'choices; default: 20)')
    parser.add_argument(
        '--pool-budgets', type=int, nargs='+', default=[10, 20, 30],
        help='label budgets of the pool lists (default: 10 20 30)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Command-line entry point; returns the summary of
    :func:`build_digits_cls`."""

    def wrote(summary: Dict, seconds: float) -> str:
        sizes = ', '.join(str(n) for n in summary['num_labeled'])
        return (f'wrote {summary["train"]} train and {summary["val"]} val '
                f'images to {summary["out_dir"]} (labelled subsets of '
                f'{sizes} for seeds {summary["seeds"]}) in {seconds:.1f} s')

    return build_from_cli(build_digits_cls, parse_args(argv), argv,
                          'digits_cls in {out_dir} is up to date', wrote)


if __name__ == '__main__':
    main()
