# Copyright (c) dmt_mm contributors. All rights reserved.
"""Write class-balanced labelled / unlabelled splits of CIFAR-10.

Input: the CIFAR-10 python version as MMPretrain's ``CIFAR10`` dataset reads
it, ``<data_root>/cifar-10-batches-py/data_batch_1`` .. ``data_batch_5``
(pickles with ``data``: uint8 ``(n, 3072)`` and ``labels``). The 50,000
training images are indexed in MMPretrain's order: ``data_batch_1`` first,
then 2 .. 5, each in file order, so index ``i`` is ``CIFAR10(data_root,
split='train')[i]``.

Output, for every labelled size ``N`` and seed ``s``::

    <out_dir>/cifar10_labeled_<N>_seed<s>.txt     N indices
    <out_dir>/cifar10_unlabeled_<N>_seed<s>.txt   the other 50000 - N

(``out_dir`` defaults to ``<data_root>/meta``). Each file holds indices into
the 50,000 training images, one decimal integer per line, ascending. The
labelled set has ``N / 10`` images of every class. For one seed the labelled
sets are nested (the 1,000-label set is part of the 4,000-label set), as in
the public DMT code; the unlabelled set is the complement (labelled images
are not repeated in it). Unlike the public code no 200-image validation set
is held out: evaluate on the test split. Use the files with a dataset's
``indices`` argument, e.g. ``CIFAR10(..., indices=[int(line) for line in
open(path)])``.

By default the training files are checked against the MD5 sums that
MMPretrain's ``CIFAR10`` checks (a mismatch would make it re-download);
``--no-check-md5`` skips that (e.g. for fabricated test data).

Example::

    python tools/dataset_converters/make_cifar_splits.py data/cifar10 \\
        --num-labeled 4000 1000 250 --seeds 0 1 2 3 4
"""
import argparse
import hashlib
import os
import os.path as osp
import pickle
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from arg_checks import int_list  # noqa: E402
from class_balanced import balanced_subsets  # noqa: E402
from converter_cli import add_subset_args, call_from_cli  # noqa: E402
import split_files  # noqa: E402

NUM_CLASSES = 10
BASE_FOLDER = 'cifar-10-batches-py'
TRAIN_FILES = tuple(f'data_batch_{i}' for i in range(1, 6))


def _expected_md5() -> Dict[str, str]:
    """MD5 sums of the training files, as MMPretrain's ``CIFAR10`` has them."""
    from mmpretrain.datasets import CIFAR10
    return {name: md5 for name, md5 in CIFAR10.train_list}


def _md5(path: str) -> str:
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def load_train_labels(data_root: str, check_md5: bool = True) -> np.ndarray:
    """Labels of the CIFAR-10 training images in MMPretrain's order.

    Args:
        data_root (str): Directory holding ``cifar-10-batches-py/``.
        check_md5 (bool): Compare the files with the MD5 sums MMPretrain's
            ``CIFAR10`` checks. Defaults to True.

    Returns:
        np.ndarray: int64 labels, shape ``(num_train, )``.
    """
    folder = osp.join(str(data_root), BASE_FOLDER)
    if not osp.isdir(folder):
        raise FileNotFoundError(
            f'{folder} does not exist: data_root={data_root!r} must hold the '
            f'extracted {BASE_FOLDER}/ of cifar-10-python.tar.gz')
    expected = _expected_md5() if check_md5 else {}
    labels: List[np.ndarray] = []
    for name in TRAIN_FILES:
        path = osp.join(folder, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'missing CIFAR-10 training file {path}')
        if check_md5 and _md5(path) != expected[name]:
            raise ValueError(
                f'{path} does not match the MD5 sum {expected[name]} that '
                'mmpretrain\'s CIFAR10 checks (it would try to download the '
                'data again); pass --no-check-md5 to skip the check')
        with open(path, 'rb') as f:
            entry = pickle.load(f, encoding='latin1')
        if 'labels' not in entry or 'data' not in entry:
            raise ValueError(f'{path} is not a CIFAR-10 batch: it has keys '
                             f'{sorted(entry)}, expected data and labels')
        batch = np.asarray(entry['labels'], dtype=np.int64).reshape(-1)
        if len(batch) != len(entry['data']):
            raise ValueError(f'{path} has {len(entry["data"])} images but '
                             f'{len(batch)} labels')
        labels.append(batch)
    labels = np.concatenate(labels)
    bad = (labels < 0) | (labels >= NUM_CLASSES)
    if bad.any():
        raise ValueError(f'labels {np.unique(labels[bad])[:8].tolist()} are '
                         f'outside 0..{NUM_CLASSES - 1}')
    return labels


def check_sizes(num_labeled: Sequence[int], labels: np.ndarray) -> List[int]:
    """Validate the labelled sizes against the training labels.

    Raises:
        ValueError: If a size is larger than the training set, not a
            multiple of the 10 classes, or a class has fewer than ``N / 10``
            images (e.g. a class is missing); the message shows the value.
    """
    num_labeled = int_list('num_labeled', num_labeled, 1, 'size')
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    for n in num_labeled:
        if n > len(labels):
            raise ValueError(f'num_labeled={n} is larger than the training '
                             f'set ({len(labels)} images)')
        if n % NUM_CLASSES:
            raise ValueError(
                f'num_labeled={n} is not divisible by the {NUM_CLASSES} '
                'classes (labelled subsets are balanced per class)')
        per_class = n // NUM_CLASSES
        short = [c for c in range(NUM_CLASSES) if counts[c] < per_class]
        if short:
            raise ValueError(
                f'num_labeled={n} needs {per_class} images per class but '
                f'class(es) {short} have only '
                f'{[int(counts[c]) for c in short]} training images')
    return sorted(set(num_labeled))


def make_splits(labels: np.ndarray, num_labeled: Sequence[int],
                seed: int) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    """Class-balanced labelled subsets (nested over sizes) for one seed.

    Args:
        labels (np.ndarray): Training labels ``(num_train, )``.
        num_labeled (Sequence[int]): Checked sizes (see :func:`check_sizes`).
        seed (int): Seed; one permutation per class from
            ``np.random.default_rng(seed)``, in class order.

    Returns:
        dict[int, tuple[np.ndarray, np.ndarray]]: Per size, the sorted
        labelled and unlabelled indices.
    """
    subsets = balanced_subsets(np.arange(len(labels)), labels, num_labeled,
                               np.random.default_rng(seed), NUM_CLASSES)
    out = {}
    for n, labeled in subsets.items():
        mask = np.ones(len(labels), dtype=bool)
        mask[labeled] = False
        out[n] = (labeled, np.flatnonzero(mask))
    return out


def split_filename(kind: str, num_labeled: int, seed: int) -> str:
    """``cifar10_<kind>_<N>_seed<s>.txt`` with kind labeled/unlabeled."""
    if kind not in ('labeled', 'unlabeled'):
        raise ValueError(f'kind must be labeled or unlabeled, got {kind!r}')
    return f'cifar10_{kind}_{num_labeled}_seed{seed}.txt'


def read_split(path: str) -> List[int]:
    """Read a split file written by this script (one index per line)."""
    return [int(line) for line in split_files.read_split(path)]


def make_cifar_splits(data_root: str,
                      num_labeled: Sequence[int] = (4000, 1000, 250),
                      seeds: Sequence[int] = (0, 1, 2, 3, 4),
                      out_dir: Optional[str] = None,
                      check_md5: bool = True) -> Dict:
    """Write the labelled/unlabelled index files.

    Args:
        data_root (str): Directory holding ``cifar-10-batches-py/``.
        num_labeled (Sequence[int]): Labelled sizes, multiples of 10.
            Defaults to ``(4000, 1000, 250)``.
        seeds (Sequence[int]): Seeds. Defaults to ``(0, 1, 2, 3, 4)``.
        out_dir (str, optional): Output directory. Defaults to
            ``<data_root>/meta``.
        check_md5 (bool): See :func:`load_train_labels`. Defaults to True.

    Returns:
        dict: ``out_dir``, ``num_train``, ``num_labeled``, ``seeds`` and
        ``files`` (the written file names).
    """
    seeds = sorted(set(int_list('seeds', seeds, 0, 'seed', name='seed')))
    labels = load_train_labels(data_root, check_md5=check_md5)
    num_labeled = check_sizes(num_labeled, labels)
    out_dir = str(out_dir) if out_dir else osp.join(str(data_root), 'meta')
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for seed in seeds:
        for n, (labeled, unlabeled) in make_splits(labels, num_labeled,
                                                   seed).items():
            for kind, indices in (('labeled', labeled), ('unlabeled',
                                                         unlabeled)):
                name = split_filename(kind, n, seed)
                split_files.write_split(osp.join(out_dir, name),
                                        (int(i) for i in indices))
                files.append(name)
    return dict(
        out_dir=out_dir,
        num_train=int(len(labels)),
        num_labeled=num_labeled,
        seeds=seeds,
        files=files)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write class-balanced labelled/unlabelled index splits '
        'of the CIFAR-10 training set.')
    parser.add_argument(
        'data_root', help='directory holding cifar-10-batches-py/')
    add_subset_args(parser, num_labeled=(4000, 1000, 250))
    parser.add_argument(
        '-o',
        '--out-dir',
        default=None,
        help='output directory (default: <data_root>/meta)')
    parser.add_argument(
        '--no-check-md5',
        dest='check_md5',
        action='store_false',
        help='do not compare the files with mmpretrain\'s MD5 sums')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Command-line entry point; returns the summary of
    :func:`make_cifar_splits`."""
    args = parse_args(argv)
    summary, seconds = call_from_cli(
        make_cifar_splits,
        argv, (TypeError, ValueError, FileNotFoundError),
        data_root=args.data_root,
        num_labeled=args.num_labeled,
        seeds=args.seeds,
        out_dir=args.out_dir,
        check_md5=args.check_md5)
    print(f'wrote {len(summary["files"])} split files for '
          f'{summary["num_labeled"]} labels x seeds {summary["seeds"]} '
          f'({summary["num_train"]} training images) to '
          f'{summary["out_dir"]} in {seconds:.1f} s')
    return summary


if __name__ == '__main__':
    main()
