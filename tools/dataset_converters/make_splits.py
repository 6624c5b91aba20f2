# Copyright (c) dmt_mm contributors. All rights reserved.
"""Labelled / unlabelled splits of PASCAL VOC 2012 train_aug and Cityscapes.

Reproduces the split protocol of DMT (Feng et al., "DMT: Dynamic Mutual
Training for Semi-Supervised Learning", arXiv:2004.08514) and its public code:

1. the whole training list (VOC: the 10582 train_aug ids, Cityscapes: the
   2975 ``city/stem`` names of ``leftImg8bit/train``) is **sorted**;
2. ``random.Random(7777)`` shuffles it in place three times; after shuffle
   ``i`` the first ``k`` names are the labelled set of random split ``i`` and
   the rest its unlabelled set, for every ratio ``1/d``:
   ``k = int(N / d)``, bumped by one when ``k % 8 == 1`` (a batch of one
   labelled image would break batch norm). Smaller labelled sets are
   prefixes of larger ones within a split;
3. a second ``random.Random(7777)`` then draws, per split and ratio (in the
   order of the public code), two labelled subsets of the same size that
   share 60% of the images (*difference-maximised sampling*, used by the VOC
   1/106 setting to diversify the two models): the labelled list is shuffled,
   ``m = ceil(0.2 * k)``, subset A is its first ``k - m`` names and subset B
   its last ``k - m``.

Python's ``random`` has not changed the algorithm behind ``shuffle`` since
3.2, so with the standard lists this reproduces the published split files
exactly (checked against the files of the public code for both datasets).
The unlabelled set of a ratio is the same for both subsets; the
``m`` images of the other model's subset are used by neither model's
unlabelled set, as in the public code.

VOC ratios ``1-2, 1-4, 1-8, 1-20, 1-50, 1-106`` (``d = 105.82``, i.e. 100
labels); Cityscapes ``1-2, 1-4, 1-8, 1-20, 1-30`` (``d = 29.75``, 100 labels).

Output (MMSeg split files: one name per line, relative to the image prefix
of the dataset config), under ``DATA_ROOT/dmt_splits/``::

    train_full.txt                 # the sorted whole training list
    protocol.json                  # seed, sizes, ratios (for the record)
    1-106/split0/labeled.txt       # labelled set of ratio 1/106, split 0
    1-106/split0/labeled_a.txt     # its two 60%-overlapping subsets
    1-106/split0/labeled_b.txt
    1-106/split0/unlabeled.txt     # everything else
    ...                            # every ratio, split0 .. split2

Usage::

    python tools/dataset_converters/make_splits.py voc data/VOCdevkit/VOC2012
    python tools/dataset_converters/make_splits.py cityscapes data/cityscapes

VOC needs ``JPEGImages/`` and ``SegmentationClassAug/`` plus the train_aug
list: ``ImageSets/Segmentation/trainaug.txt`` (written by MMSeg's
``voc_aug.py`` converter and by the common "SegmentationClassAug" packages),
or ``train.txt`` + ``aug.txt`` (MMSeg's converter), or ``--list FILE``. The
DMT configs read every training mask from ``SegmentationClassAug``; ids whose
mask is only in ``SegmentationClass`` (VOC train images outside SBD with
MMSeg's converter) are copied there unless ``--no-fill``. Cityscapes needs
``leftImg8bit/train`` and ``gtFine/train/*_gtFine_labelTrainIds.png``
(MMSeg's ``cityscapes.py`` converter writes them).
"""
import argparse
import json
import math
import os.path as osp
import random
import sys
from collections import Counter
from typing import Dict, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from converter_cli import call_from_cli  # noqa: E402
from seg_train_lists import (check_cityscapes, check_voc,  # noqa: E402
                             cityscapes_names, voc_names)
from split_files import atomic_write, write_split  # noqa: E402

#: Labelled fraction ``1/d`` of each ratio name, as in the public code.
RATIOS: Dict[str, Dict[str, float]] = {
    'voc': {
        '1-2': 2,
        '1-4': 4,
        '1-8': 8,
        '1-20': 20,
        '1-50': 50,
        '1-106': 105.82,
    },
    'cityscapes': {
        '1-2': 2,
        '1-4': 4,
        '1-8': 8,
        '1-20': 20,
        '1-30': 29.75,
    },
}
#: Ratios (in RNG order) that get the two overlapping labelled subsets.
SUBSET_RATIOS: Dict[str, Tuple[str, ...]] = {
    'voc': ('1-8', '1-20', '1-50', '1-106'),
    'cityscapes': ('1-2', '1-4', '1-8', '1-20', '1-30'),
}
#: Expected size of the whole training list (a warning otherwise).
EXPECTED_SIZE = {'voc': 10582, 'cityscapes': 2975}
SEED = 7777
NUM_SPLITS = 3
COMMON_PORTION = 0.6
OUT_DIR = 'dmt_splits'


def labeled_count(n: int, divisor: float) -> int:
    """Labelled images of ratio ``1/divisor`` out of ``n``.

    ``int(n / divisor)``, plus one when that is 1 mod 8 (so that no batch of
    8 ends with a single image).

    Args:
        n (int): Size of the whole training list.
        divisor (float): ``d`` of the ratio ``1/d`` (105.82 for VOC 1/106).

    Returns:
        int: The labelled count.
    """
    if n < 1:
        raise ValueError(f'n must be positive, got {n!r}')
    if not divisor >= 1:
        raise ValueError(f'divisor must be >= 1, got {divisor!r}')
    k = int(n / divisor)
    if k % 8 == 1:
        k += 1
    return min(k, n)


def protocol_splits(names: Sequence[str],
                    ratios: Dict[str, float],
                    subset_ratios: Sequence[str] = (),
                    seed: int = SEED,
                    num_splits: int = NUM_SPLITS,
                    common_portion: float = COMMON_PORTION) -> Dict:
    """All splits of the DMT protocol.

    Args:
        names (Sequence[str]): The whole training list; it is sorted first,
            so the result does not depend on the order it was read in.
        ratios (dict[str, float]): Ratio name -> divisor ``d`` of ``1/d``.
        subset_ratios (Sequence[str]): Ratios that also get the two
            overlapping labelled subsets, in the order the second RNG visits
            them. Defaults to none.
        seed (int): Seed of both RNGs. Defaults to 7777.
        num_splits (int): Random splits (cumulative shuffles). Defaults to 3.
        common_portion (float): Share of the labelled set common to both
            subsets. Defaults to 0.6.

    Returns:
        dict: ``{(ratio, split): {'labeled': [...], 'unlabeled': [...],
        'labeled_a': [...], 'labeled_b': [...]}}`` (the subsets only for
        ``subset_ratios``) and ``'full'``: the sorted list.
    """
    names = sorted(names)
    dup = sorted(n for n, c in Counter(names).items() if c > 1)
    if dup:
        raise ValueError(f'the training list has {len(dup)} duplicate '
                         f'names, e.g. {dup[:5]}')
    if not names:
        raise ValueError('the training list is empty')
    if num_splits < 1:
        raise ValueError(f'num_splits must be >= 1, got {num_splits!r}')
    unknown = [r for r in subset_ratios if r not in ratios]
    if unknown:
        raise ValueError(f'subset_ratios {unknown} are not in ratios '
                         f'{sorted(ratios)}')
    if not 0.0 <= common_portion <= 1.0:
        raise ValueError('common_portion must be in [0, 1], got '
                         f'{common_portion!r}')
    out: Dict = {'full': list(names)}
    rng = random.Random(seed)
    order = list(names)
    for i in range(num_splits):
        rng.shuffle(order)
        for key, divisor in ratios.items():
            k = labeled_count(len(order), divisor)
            out[(key, i)] = dict(labeled=order[:k], unlabeled=order[k:])
    rng = random.Random(seed)
    for i in range(num_splits):
        for key in subset_ratios:
            split = out[(key, i)]
            lines = list(split['labeled'])
            total = len(lines)
            rng.shuffle(lines)
            # the same float expression as the public code (ceil of 19.99..)
            not_common = math.ceil((1 - common_portion) / 2 * total)
            common = total - 2 * not_common
            split['labeled_a'] = lines[:not_common + common]
            split['labeled_b'] = lines[not_common:]
    return out



# ----------------------------------------------------------------- writing
def write_splits(splits: Dict, out_dir: str, dataset: str,
                 ratios: Dict[str, float], num_splits: int, seed: int) -> Dict:
    """Write the split files; return the summary written to protocol.json."""
    write_split(osp.join(out_dir, 'train_full.txt'), splits['full'])
    summary = dict(
        dataset=dataset,
        total=len(splits['full']),
        seed=seed,
        num_splits=num_splits,
        common_portion=COMMON_PORTION,
        ratios={})
    for key in ratios:
        sizes = {}
        for i in range(num_splits):
            split = splits[(key, i)]
            folder = osp.join(out_dir, key, f'split{i}')
            for name, lines in split.items():
                write_split(osp.join(folder, name + '.txt'), lines)
                sizes[name] = len(lines)
        summary['ratios'][key] = dict(divisor=ratios[key], sizes=sizes)
    atomic_write(osp.join(out_dir, 'protocol.json'),
                 json.dumps(summary, indent=1).encode())
    return summary


def make_splits(dataset: str,
                data_root: str,
                out: str = OUT_DIR,
                list_file: Optional[str] = None,
                seed: int = SEED,
                num_splits: int = NUM_SPLITS,
                fill: bool = True,
                check: bool = True) -> Dict:
    """Generate and write every split of ``dataset`` under ``data_root``.

    Args:
        dataset (str): ``'voc'`` or ``'cityscapes'``.
        data_root (str): The MMSeg ``data_root`` of the dataset.
        out (str): Output folder, relative to ``data_root`` (or absolute).
            Defaults to ``'dmt_splits'``.
        list_file (str, optional): VOC only: the train_aug id list.
        seed (int): Defaults to 7777.
        num_splits (int): Defaults to 3.
        fill (bool): VOC only: copy train_aug masks missing from
            ``SegmentationClassAug`` from ``SegmentationClass``.
        check (bool): Check that images and masks exist. Defaults to True.

    Returns:
        dict: The summary (also in ``protocol.json``).
    """
    if dataset not in RATIOS:
        raise ValueError(f'dataset must be one of {sorted(RATIOS)}, got '
                         f'{dataset!r}')
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'data_root {data_root} is not a directory')
    if dataset == 'voc':
        names = voc_names(data_root, list_file)
        copied = check_voc(data_root, names, fill) if check else 0
    else:
        if list_file is not None:
            raise ValueError('--list is only used for voc')
        names = cityscapes_names(data_root)
        if check:
            check_cityscapes(data_root, names)
        copied = 0
    if len(names) != EXPECTED_SIZE[dataset]:
        print(f'warning: {len(names)} training images, the protocol of the '
              f'paper uses {EXPECTED_SIZE[dataset]}; the split sizes follow '
              'from the number found')
    splits = protocol_splits(names, RATIOS[dataset], SUBSET_RATIOS[dataset],
                             seed, num_splits)
    out_dir = out if osp.isabs(out) else osp.join(data_root, out)
    summary = write_splits(splits, out_dir, dataset, RATIOS[dataset],
                           num_splits, seed)
    summary['masks_copied'] = copied
    summary['out_dir'] = out_dir
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the labelled/unlabelled splits of the DMT '
        'protocol (seed 7777, 3 shuffles) as MMSeg split files.')
    parser.add_argument('dataset', choices=sorted(RATIOS))
    parser.add_argument(
        'data_root',
        help='VOC: data/VOCdevkit/VOC2012; Cityscapes: data/cityscapes')
    parser.add_argument(
        '--out',
        default=OUT_DIR,
        help='output folder, relative to data_root (default: dmt_splits)')
    parser.add_argument(
        '--list',
        dest='list_file',
        default=None,
        help='voc: the train_aug id list (default: ImageSets/Segmentation/'
        'trainaug.txt, else train.txt + aug.txt)')
    parser.add_argument('--seed', type=int, default=SEED)
    parser.add_argument('--num-splits', type=int, default=NUM_SPLITS)
    parser.add_argument(
        '--no-fill',
        dest='fill',
        action='store_false',
        help='voc: do not copy masks missing from SegmentationClassAug')
    parser.add_argument(
        '--no-check',
        dest='check',
        action='store_false',
        help='do not check that images and masks exist')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    summary, _ = call_from_cli(
        make_splits, argv, (ValueError, FileNotFoundError),
        dataset=args.dataset, data_root=args.data_root, out=args.out,
        list_file=args.list_file, seed=args.seed,
        num_splits=args.num_splits, fill=args.fill, check=args.check)
    if summary['masks_copied']:
        print(f'copied {summary["masks_copied"]} masks from '
              'SegmentationClass to SegmentationClassAug')
    print(f'{summary["total"]} training images -> {summary["out_dir"]}')
    for key, info in summary['ratios'].items():
        sizes = ', '.join(f'{k} {v}' for k, v in info['sizes'].items())
        print(f'  {key}: {sizes}')
    return summary


if __name__ == '__main__':
    main()
