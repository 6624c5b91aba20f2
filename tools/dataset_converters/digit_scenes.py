# Copyright (c) dmt_mm contributors. All rights reserved.
"""Compose the bundled *digit scenes* segmentation data set.

The source is scikit-learn's 1,797 scanned handwritten digits
(``sklearn.datasets.load_digits``: 8x8 images with 17 grey levels, 0..16),
which ship inside the scikit-learn package, so no download is needed.

Each scene is an RGB image of ``size x size`` pixels: 1-3 digits, each
upscaled to 24-36 px and drawn in a random colour, pasted on a smooth, dark,
textured background (``digit_scene_render.py`` says how). Its label map is
uint8: 0 for the background and ``d + 1`` on the region of digit ``d``, so
there are 11 classes. Telling digits from the canvas is easy; recognising
which digit it is from a few labelled scenes is the hard part, which is
where unlabelled scenes help.

The source digits are first split, stratified by digit, into a train pool and
a val pool (70/30 by default, fixed by the seed). Train scenes use train-pool
digits only and val scenes val-pool digits only, so no scanned digit appears
in both splits.

Output (MMSegmentation's standard layout)::

    <out>/img_dir/{train,val}/<stem>.png   RGB scenes, uint8
    <out>/ann_dir/{train,val}/<stem>.png   uint8 label maps (0 bg, d -> d + 1)
    <out>/splits/labeled_a.txt             labelled train stems for model A
    <out>/splits/labeled_b.txt             disjoint labelled stems, model B
    <out>/splits/unlabeled.txt             all other train stems
    <out>/splits/labeled_seed<s>.txt       for every split seed s (default
    <out>/splits/unlabeled_seed<s>.txt     0, 1, 2): num_labeled train stems
                                           shared by both models, and the
                                           other train stems
    <out>/splits/val.txt                   all val stems
    <out>/splits/heldout.txt               num_heldout train stems kept out of
                                           every labelled and unlabelled list:
                                           the held-out part of the labelled
                                           pool, where recipes are chosen
    <out>/splits/pool.txt                  every other train stem (oracle)
    <out>/splits/pool_labeled<n>_seed<s>.txt     for every label budget n
    <out>/splits/pool_labeled<n>_seed<s>_a.txt   and split seed s: n pool
    <out>/splits/pool_labeled<n>_seed<s>_b.txt   stems (nested in n), the two
    <out>/splits/pool_unlabeled<n>_seed<s>.txt   difference-maximised phase-0
                                           subsets of DMT's VOC 1/106
                                           protocol, the rest of the pool
    <out>/meta.json                        arguments, classes, counts, pools,
                                           per-scene sources, content hash

Generation is deterministic: the same arguments give byte-identical files.
By default the script returns at once when ``meta.json`` records the same
arguments and all listed files exist, so it can be called before every run.

Example::

    python tools/dataset_converters/digit_scenes.py -o data/digit_scenes

The parts: ``digit_scene_render.py`` draws one scene, ``digit_scene_splits.py``
makes the source-digit pools and the lists of ``splits/``,
``digit_build.py`` writes the files and ``meta.json``; this script holds the
builder and the command line.
"""
import argparse
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from arg_checks import check_int  # noqa: E402
from converter_cli import add_build_args, build_from_cli  # noqa: E402
from digit_build import (SOURCE, DigitBuild,  # noqa: E402,F401
                         existing_build_summary, load_source_digits)
from digit_scene_render import (CLASSES, DIGIT_SIZE_RANGE,  # noqa: E402,F401
                                LABEL_THRESHOLD, MIN_SIZE, NUM_DIGITS_RANGE,
                                compose_scene)
from digit_scene_splits import (check_pool_args,  # noqa: E402,F401
                                required_files, scene_split_lists,
                                seed_split_names, split_digit_pools)

#: Bump when the generated content changes for the same arguments.
FORMAT_VERSION = 5

_STEM_RE = re.compile(r'^(train|val)_\d+\.png$')
_SCENE_DIRS = tuple(
    f'{sub}/{split}' for sub in ('img_dir', 'ann_dir')
    for split in ('train', 'val'))


def check_args(num_train: int, num_val: int, num_labeled: int, size: int,
               seed: int, val_fraction: float) -> None:
    """Validate the generation arguments.

    Raises:
        TypeError: If a count, the size or the seed is not an int.
        ValueError: If a value is out of range; the message names the
            argument and shows its value.
    """
    for name, value in (('num_train', num_train), ('num_val', num_val),
                        ('num_labeled', num_labeled), ('size', size)):
        check_int(name, value, 1, 'positive')
    if 2 * num_labeled >= num_train:
        raise ValueError(
            f'num_labeled={num_labeled} is too large for '
            f'num_train={num_train}: the two labelled subsets need '
            f'2 * num_labeled = {2 * num_labeled} scenes and at least one '
            'train scene must stay unlabelled (need 2 * num_labeled < '
            'num_train)')
    if size < MIN_SIZE:
        raise ValueError(f'size must be at least {MIN_SIZE} so that a '
                         f'{DIGIT_SIZE_RANGE[1]} px digit fits, but got '
                         f'{size}')
    check_int('seed', seed, 0, 'non-negative')
    if not isinstance(val_fraction, (float, int)) or isinstance(
            val_fraction, bool) or not 0.0 < val_fraction < 1.0:
        raise ValueError(f'val_fraction must be a number in (0, 1), but got '
                         f'{val_fraction!r}')


def _args_dict(num_train, num_val, num_labeled, size, seed, val_fraction,
               split_seeds, num_heldout, budgets) -> dict:
    return dict(
        num_train=int(num_train),
        num_val=int(num_val),
        num_labeled=int(num_labeled),
        size=int(size),
        seed=int(seed),
        val_fraction=float(val_fraction),
        split_seeds=[int(s) for s in split_seeds],
        num_heldout=int(num_heldout),
        budgets=[int(n) for n in budgets])


def _write_scenes(build: DigitBuild, split_id: int, split: str, num: int,
                  pool: np.ndarray, size: int, seed: int, images: np.ndarray,
                  targets: np.ndarray) -> tuple:
    """Compose and write the ``num`` scenes of ``split``.

    Scene ``i`` has its own generator ``default_rng([seed, split_id, i])``,
    so it does not depend on how many scenes are generated.

    Returns:
        tuple: The stems (``<split>_<i>``, in index order), the source
        indices of every scene by stem, and the pixel count of every class
        (a list of ``len(CLASSES)`` ints).
    """
    width = max(5, len(str(num - 1)))
    stems: List[str] = []
    sources: Dict[str, list] = {}
    counts = np.zeros(len(CLASSES), dtype=np.int64)
    for i in range(num):
        stem = f'{split}_{i:0{width}d}'
        rng = np.random.default_rng([seed, split_id, i])
        img, label, sources[stem] = compose_scene(rng, size, images, targets,
                                                  pool)
        counts += np.bincount(label.ravel(), minlength=len(CLASSES))
        build.write_png(f'img_dir/{split}/{stem}.png', img)
        build.write_png(f'ann_dir/{split}/{stem}.png', label)
        stems.append(stem)
    return stems, sources, counts.tolist()


def build_digit_scenes(out_dir: str,
                       num_train: int = 1000,
                       num_val: int = 200,
                       num_labeled: int = 100,
                       size: int = 64,
                       seed: int = 0,
                       val_fraction: float = 0.3,
                       split_seeds: Sequence[int] = (0, 1, 2, 3, 4),
                       num_heldout: int = 100,
                       budgets: Sequence[int] = (),
                       skip_if_exists: bool = True) -> Dict:
    """Generate the digit scenes data set into ``out_dir``.

    Args:
        out_dir (str): Output root (e.g. ``data/digit_scenes``).
        num_train (int): Number of train scenes. Defaults to 1000.
        num_val (int): Number of val scenes. Defaults to 200.
        num_labeled (int): Size of each labelled subset (``labeled_a`` and
            ``labeled_b`` are disjoint). Must satisfy
            ``2 * num_labeled < num_train``. Defaults to 100.
        size (int): Scene side length in pixels, at least 40.
            Defaults to 64.
        seed (int): Random seed; everything derives from it through
            ``numpy.random.default_rng``. Defaults to 0.
        val_fraction (float): Fraction of the source digits (per class) in
            the val pool. Defaults to 0.3.
        split_seeds (Sequence[int]): For each, a random labelled subset of
            ``num_labeled`` train scenes (both models share it) and the
            other train scenes as unlabelled, drawn from
            ``default_rng([seed, 4, split_seed])`` (the from-scratch
            demo's splits). Defaults to (0, 1, 2, 3, 4).
        num_heldout (int): Train scenes of ``splits/heldout.txt``, kept out
            of the ``pool_*`` lists. Defaults to 100.
        budgets (Sequence[int]): Label budgets of the ``pool_*`` lists
            (:func:`dmt_mm.utils.pool_splits.pool_split_lists`); empty: no
            held-out part and no pool lists. Defaults to () (the command
            line's default is 10 20 40 60 80).
        skip_if_exists (bool): Return at once when ``meta.json`` in
            ``out_dir`` records the same arguments and all listed files
            exist. Defaults to True.

    Returns:
        dict: ``out_dir``, ``skipped`` (bool), ``content_hash`` and the
        counts ``train``, ``val``, ``labeled_a``, ``labeled_b``,
        ``unlabeled``.
    """
    check_args(num_train, num_val, num_labeled, size, seed, val_fraction)
    check_pool_args(num_train, split_seeds, num_heldout, budgets, seed)
    args = _args_dict(num_train, num_val, num_labeled, size, seed,
                      val_fraction, split_seeds, num_heldout, budgets)
    out_dir = str(out_dir)
    if skip_if_exists:
        summary = existing_build_summary(out_dir, FORMAT_VERSION, args,
                                         required_files)
        if summary is not None:
            return summary

    images, targets = load_source_digits()
    train_pool, val_pool = split_digit_pools(targets, val_fraction, seed)
    build = DigitBuild(out_dir, _SCENE_DIRS, _STEM_RE)
    stems, scene_sources, class_pixels = {}, {}, {}
    for split_id, (split, num, pool) in enumerate(
        (('train', num_train, train_pool), ('val', num_val, val_pool))):
        stems[split], scene_sources[split], class_pixels[split] = \
            _write_scenes(build, split_id, split, num, pool, size, seed,
                          images, targets)
    splits = scene_split_lists(stems['train'], stems['val'], num_labeled,
                               seed, split_seeds, num_heldout, budgets)
    for name, lines in splits.items():
        build.write_lines(f'splits/{name}', lines)

    return build.finish(dict(
        format_version=FORMAT_VERSION,
        generator='tools/dataset_converters/digit_scenes.py',
        source=SOURCE,
        args=args,
        classes=list(CLASSES),
        label_rule='0 = background; digit d -> d + 1 where the upscaled '
        f'intensity > {LABEL_THRESHOLD} * its maximum',
        digit_size_range=list(DIGIT_SIZE_RANGE),
        num_digits_range=list(NUM_DIGITS_RANGE),
        counts=dict(
            train=num_train,
            val=num_val,
            labeled_a=len(splits['labeled_a.txt']),
            labeled_b=len(splits['labeled_b.txt']),
            unlabeled=len(splits['unlabeled.txt']),
            heldout=len(splits.get('heldout.txt', [])),
            pool=len(splits.get('pool.txt', []))),
        pools=dict(
            train=int(len(train_pool)),
            val=int(len(val_pool)),
            val_fraction=float(val_fraction)),
        class_pixel_counts=class_pixels,
        scene_sources=scene_sources))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Compose segmentation scenes from scikit-learn\'s '
        'handwritten digits in the MMSegmentation layout.')
    add_build_args(parser, out_dir='data/digit_scenes')
    parser.add_argument('--num-train', type=int, default=1000)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument(
        '--num-labeled', type=int, default=100,
        help='size of each of the two disjoint labelled subsets')
    parser.add_argument('--size', type=int, default=64, help='scene side')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--split-seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4],
        help='one shared labelled subset (and the unlabelled rest) per seed')
    parser.add_argument(
        '--num-heldout', type=int, default=100,
        help='train scenes held out of the pool lists (recipe choices)')
    parser.add_argument(
        '--budgets', type=int, nargs='*', default=[10, 20, 40, 60, 80],
        help='label budgets of the pool lists (none after --budgets: no '
        'held-out part and no pool lists)')
    parser.add_argument(
        '--val-fraction', type=float, default=0.3,
        help='fraction of the source digits (per class) kept for val')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Command-line entry point; returns the summary of
    :func:`build_digit_scenes`."""
    args = parse_args(argv)

    def wrote(summary: Dict, seconds: float) -> str:
        n_lab = summary['labeled_a']
        return (f'wrote {summary["train"]} train scenes (split seeds '
                f'{" ".join(map(str, args.split_seeds))}: {n_lab} labelled, '
                f'{summary["train"] - n_lab} unlabelled each) and '
                f'{summary["val"]} val scenes to {summary["out_dir"]} in '
                f'{seconds:.1f} s')

    return build_from_cli(build_digit_scenes, args, argv,
                          'digit scenes in {out_dir} are up to date', wrote)


if __name__ == '__main__':
    main()
