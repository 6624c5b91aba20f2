# Copyright (c) dmt_mm contributors. All rights reserved.
"""Compose the bundled *digit scenes* segmentation data set.

The source is scikit-learn's 1,797 scanned handwritten digits
(``sklearn.datasets.load_digits``: 8x8 images with 17 grey levels, 0..16),
which ship inside the scikit-learn package, so no download is needed.

Each scene is an RGB image of ``size x size`` pixels: a smooth, dark, randomly
coloured and textured background with 1-3 digits pasted on it. Every digit is
upscaled from 8x8 to a random size in [24, 36] px with bilinear interpolation
and drawn in a random colour brighter than the background under it; the colour
carries no information about the class. The label map marks a digit's region
(upscaled intensity above a quarter of its maximum, dilated by 2 px so that
objects are solid shapes an output-stride-8 network can resolve) with
``d + 1``; the background is 0, so there are 11 classes. Later digits
overwrite earlier ones where they overlap (overlap is kept small by rejection
sampling). Telling digits from the canvas is easy; recognising which digit it
is from a few labelled scenes is the hard part, which is where unlabelled
scenes help.

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
"""
import argparse
import json
import os
import os.path as osp
import re
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

try:
    import dmt_mm  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from dmt_mm.utils.bundled_digits import (build_summary, content_hash,
                                         existing_build_summary,
                                         load_source_digits, png_bytes,
                                         write_bytes)
from dmt_mm.utils.pool_splits import pool_split_lists, pool_split_names

#: Bump when the generated content changes for the same arguments.
FORMAT_VERSION = 5

CLASSES = ('background', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9')

#: Upscaled digit side length range in pixels, both ends inclusive.
DIGIT_SIZE_RANGE = (24, 36)
#: Number of digits per scene, both ends inclusive.
NUM_DIGITS_RANGE = (1, 3)
#: Pixels whose upscaled intensity exceeds this fraction of the digit's
#: maximum intensity are labelled as the digit.
LABEL_THRESHOLD = 0.25
#: The digit's label region is its stroke mask dilated by this many pixels,
#: so objects are solid shapes (as in natural images), not 2-pixel strokes
#: that an output-stride-8 network cannot resolve.
LABEL_DILATION = 2
#: Background colours stay below this level and digits are brighter than
#: their surroundings, so telling digits from the canvas is easy and the
#: hard part of the task is recognising which digit it is.
BACKGROUND_MAX = 110.0
#: Maximum grey level of ``load_digits`` images.
MAX_GREY = 16.0
#: Smallest scene side (the largest digit must fit).
MIN_SIZE = 40

_STEM_RE = re.compile(r'^(train|val)_\d+\.png$')
_SPLIT_FILES = ('labeled_a.txt', 'labeled_b.txt', 'unlabeled.txt', 'val.txt')


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f'{name} must be an int, but got {value!r} '
                        f'of type {type(value).__name__}')
    if value <= 0:
        raise ValueError(f'{name} must be positive, but got {value}')


def check_args(num_train: int, num_val: int, num_labeled: int, size: int,
               seed: int, val_fraction: float) -> None:
    """Validate the generation arguments.

    Raises:
        TypeError: If a count, the size or the seed is not an int.
        ValueError: If a value is out of range; the message names the
            argument and shows its value.
    """
    _check_positive_int('num_train', num_train)
    _check_positive_int('num_val', num_val)
    _check_positive_int('num_labeled', num_labeled)
    _check_positive_int('size', size)
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
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f'seed must be an int, but got {seed!r}')
    if seed < 0:
        raise ValueError(f'seed must be non-negative, but got {seed}')
    if not isinstance(val_fraction, (float, int)) or isinstance(
            val_fraction, bool) or not 0.0 < val_fraction < 1.0:
        raise ValueError(f'val_fraction must be a number in (0, 1), but got '
                         f'{val_fraction!r}')


def split_digit_pools(targets: np.ndarray,
                      val_fraction: float = 0.3,
                      seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Split source digits into disjoint train and val pools.

    The split is stratified by digit: for every digit class, a shuffled
    ``round(n_c * val_fraction)`` of its ``n_c`` images go to the val pool
    and the rest to the train pool. It depends only on ``targets``,
    ``val_fraction`` and ``seed``.

    Args:
        targets (np.ndarray): Digit of every source image, shape (N, ).
        val_fraction (float): Fraction of each class put in the val pool.
            Defaults to 0.3.
        seed (int): Random seed. Defaults to 0.

    Returns:
        tuple[np.ndarray, np.ndarray]: Sorted source indices of the train
        pool and of the val pool.
    """
    rng = np.random.default_rng([seed, 2])
    train_idx, val_idx = [], []
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        idx = idx[rng.permutation(len(idx))]
        n_val = int(round(len(idx) * val_fraction))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return (np.sort(np.concatenate(train_idx)),
            np.sort(np.concatenate(val_idx)))


def _luminance(rgb: np.ndarray) -> float:
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour gradient with low-frequency texture.

    Returns:
        np.ndarray: Float32 RGB canvas of shape (size, size, 3) in [0, 255].
    """
    import cv2

    # Bilinear gradient between four random corner colours.
    corners = rng.uniform(0.0, BACKGROUND_MAX, size=(2, 2, 3))
    t = np.linspace(0.0, 1.0, size)
    ty, tx = t[:, None, None], t[None, :, None]
    canvas = ((1 - ty) * (1 - tx) * corners[0, 0] +
              (1 - ty) * tx * corners[0, 1] + ty * (1 - tx) * corners[1, 0] +
              ty * tx * corners[1, 1])
    # Low-frequency noise: a coarse random grid upsampled bicubically.
    grid = int(rng.integers(3, 7))
    coarse = rng.normal(0.0, 1.0, size=(grid, grid, 3)).astype(np.float32)
    noise = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    canvas = canvas + rng.uniform(5.0, 15.0) * noise
    # Faint stripes in a random direction.
    freq = rng.uniform(1.0, 5.0)
    angle = rng.uniform(0.0, np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    phase = 2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle))
    stripes = np.sin(phase + rng.uniform(0.0, 2 * np.pi))
    canvas = canvas + rng.uniform(0.0, 10.0) * stripes[..., None]
    # A little pixel noise.
    canvas = canvas + rng.normal(0.0, 2.0, size=canvas.shape)
    return np.clip(canvas, 0.0, 255.0).astype(np.float32)


def _contrasting_colour(rng: np.random.Generator,
                        local_mean: np.ndarray) -> np.ndarray:
    """A random colour far from ``local_mean`` in RGB and in luminance."""
    local_lum = _luminance(local_mean)
    for _ in range(64):
        colour = rng.uniform(0.0, 255.0, size=3)
        if (np.linalg.norm(colour - local_mean) >= 110.0
                and _luminance(colour) - local_lum >= 60.0):
            return colour
    # Fallback: a dark or light random tint, whichever contrasts more.
    if local_lum > 127.5:
        return rng.uniform(0.0, 50.0, size=3)
    return rng.uniform(205.0, 255.0, size=3)


def _place(rng: np.random.Generator, size: int, h: int, w: int,
           boxes: List[Tuple[int, int, int, int]]) -> Tuple[int, int]:
    """Choose a top-left corner keeping overlap with ``boxes`` small."""
    best, best_overlap = None, None
    for _ in range(30):
        y = int(rng.integers(0, size - h + 1))
        x = int(rng.integers(0, size - w + 1))
        overlap = 0.0
        for (by, bx, bh, bw) in boxes:
            ih = max(0, min(y + h, by + bh) - max(y, by))
            iw = max(0, min(x + w, bx + bw) - max(x, bx))
            inter = ih * iw
            overlap = max(overlap, inter / (h * w), inter / (bh * bw))
        if overlap <= 0.15:
            return y, x
        if best_overlap is None or overlap < best_overlap:
            best, best_overlap = (y, x), overlap
    return best


def compose_scene(rng: np.random.Generator, size: int, images: np.ndarray,
                  targets: np.ndarray,
                  pool: np.ndarray) -> Tuple[np.ndarray, np.ndarray, list]:
    """Compose one scene from digits of ``pool``.

    Args:
        rng (np.random.Generator): The scene's random generator.
        size (int): Scene side length in pixels.
        images (np.ndarray): Source digits, shape (N, 8, 8), grey levels in
            [0, 16].
        targets (np.ndarray): Source digit classes, shape (N, ).
        pool (np.ndarray): Source indices this scene may use.

    Returns:
        tuple: ``img`` uint8 RGB of shape (size, size, 3), ``label`` uint8
        of shape (size, size) with values in 0..10, and the list of used
        source indices in pasting order.
    """
    import cv2

    canvas = _background(rng, size)
    label = np.zeros((size, size), dtype=np.uint8)
    num = int(rng.integers(NUM_DIGITS_RANGE[0], NUM_DIGITS_RANGE[1] + 1))
    sources = rng.choice(pool, size=num, replace=False)
    lo, hi = DIGIT_SIZE_RANGE
    boxes: List[Tuple[int, int, int, int]] = []
    for src in sources:
        h = int(rng.integers(lo, hi + 1))
        # Mild aspect jitter, kept inside the size range.
        w = int(np.clip(round(h * rng.uniform(0.85, 1.15)), lo, hi))
        up = cv2.resize(images[src], (w, h), interpolation=cv2.INTER_LINEAR)
        alpha = np.clip(up / MAX_GREY, 0.0, 1.0)[..., None]
        y, x = _place(rng, size, h, w, boxes)
        boxes.append((y, x, h, w))
        region = canvas[y:y + h, x:x + w]
        colour = _contrasting_colour(rng, region.reshape(-1, 3).mean(0))
        canvas[y:y + h, x:x + w] = alpha * colour + (1.0 - alpha) * region
        mask = up > LABEL_THRESHOLD * up.max()
        if LABEL_DILATION:
            k = 2 * LABEL_DILATION + 1
            mask = cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
        label[y:y + h, x:x + w][mask] = targets[src] + 1
    img = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return img, label, [int(s) for s in sources]


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


def seed_split_names(split_seed: int) -> Tuple[str, str]:
    """File names (under ``splits/``) of the labelled and unlabelled train
    stems of split seed ``split_seed``."""
    return (f'labeled_seed{split_seed}.txt',
            f'unlabeled_seed{split_seed}.txt')


def _required_files(meta: dict) -> List[str]:
    """Relative paths of the files a build described by ``meta`` has."""
    args = meta.get('args', {})
    names = list(_SPLIT_FILES)
    for s in args.get('split_seeds', []):
        names += seed_split_names(s)
        for n in args.get('budgets', []):
            names += [f'{v}.txt' for v in pool_split_names(n, s).values()]
    if args.get('budgets'):
        names += ['heldout.txt', 'pool.txt']
    files = [osp.join('splits', name) for name in names]
    for split in ('train', 'val'):
        for stem in meta.get('scene_sources', {}).get(split, {}):
            for sub in ('img_dir', 'ann_dir'):
                files.append(osp.join(sub, split, stem + '.png'))
    return files


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
        size (int): Scene side length in pixels, at least 32.
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
    for s in split_seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) \
                or s < 0:
            raise ValueError(f'split seeds must be ints >= 0, got {s!r}')
    if budgets:  # the held-out part and budgets fit (raises naming them)
        pool_split_lists(range(num_train), num_heldout, budgets, split_seeds,
                         seed, two_subsets=True)
    args = _args_dict(num_train, num_val, num_labeled, size, seed,
                      val_fraction, split_seeds, num_heldout, budgets)
    out_dir = str(out_dir)
    if skip_if_exists:
        summary = existing_build_summary(out_dir, FORMAT_VERSION, args,
                                         _required_files)
        if summary is not None:
            return summary

    images, targets = load_source_digits()
    train_pool, val_pool = split_digit_pools(targets, val_fraction, seed)

    # Invalidate a previous build first, then clear its scene files so that
    # no stale scene survives (only files named like ours are touched).
    meta_path = osp.join(out_dir, 'meta.json')
    if osp.isfile(meta_path):
        os.remove(meta_path)
    for sub in ('img_dir', 'ann_dir'):
        for split in ('train', 'val'):
            d = osp.join(out_dir, sub, split)
            os.makedirs(d, exist_ok=True)
            for name in os.listdir(d):
                if _STEM_RE.match(name):
                    os.remove(osp.join(d, name))
    os.makedirs(osp.join(out_dir, 'splits'), exist_ok=True)

    written: Dict[str, bytes] = {}
    stems: Dict[str, List[str]] = {}
    scene_sources: Dict[str, Dict[str, list]] = {}
    class_pixels: Dict[str, list] = {}
    for split_id, (split, num, pool) in enumerate(
        (('train', num_train, train_pool), ('val', num_val, val_pool))):
        width = max(5, len(str(num - 1)))
        stems[split] = []
        scene_sources[split] = {}
        counts = np.zeros(len(CLASSES), dtype=np.int64)
        for i in range(num):
            stem = f'{split}_{i:0{width}d}'
            # One generator per scene: scene i does not depend on how many
            # scenes are generated.
            rng = np.random.default_rng([seed, split_id, i])
            img, label, sources = compose_scene(rng, size, images, targets,
                                                pool)
            counts += np.bincount(label.ravel(), minlength=len(CLASSES))
            for sub, array in (('img_dir', img), ('ann_dir', label)):
                rel = f'{sub}/{split}/{stem}.png'
                data = png_bytes(array)
                write_bytes(osp.join(out_dir, rel), data)
                written[rel] = data
            stems[split].append(stem)
            scene_sources[split][stem] = sources
        class_pixels[split] = counts.tolist()

    rng = np.random.default_rng([seed, 3])
    order = rng.permutation(num_train)
    train_stems = stems['train']
    labeled_a = sorted(train_stems[i] for i in order[:num_labeled])
    labeled_b = sorted(train_stems[i]
                       for i in order[num_labeled:2 * num_labeled])
    unlabeled = sorted(train_stems[i] for i in order[2 * num_labeled:])
    splits = dict(
        labeled_a=labeled_a,
        labeled_b=labeled_b,
        unlabeled=unlabeled,
        val=stems['val'])
    splits = {f'{k}.txt': v for k, v in splits.items()}
    for s in split_seeds:
        perm = np.random.default_rng([seed, 4, int(s)]).permutation(num_train)
        lab_name, unl_name = seed_split_names(int(s))
        splits[lab_name] = sorted(train_stems[i] for i in perm[:num_labeled])
        splits[unl_name] = sorted(train_stems[i] for i in perm[num_labeled:])
    pool_lists = pool_split_lists(
        train_stems, num_heldout, budgets, split_seeds, seed,
        two_subsets=True) if budgets else dict(heldout=[], pool=[])
    splits.update({f'{k}.txt': v for k, v in pool_lists.items()
                   if budgets})
    for name, lines in splits.items():
        rel = f'splits/{name}'
        data = ''.join(line + '\n' for line in lines).encode()
        write_bytes(osp.join(out_dir, rel), data)
        written[rel] = data

    meta = dict(
        format_version=FORMAT_VERSION,
        generator='tools/dataset_converters/digit_scenes.py',
        source='sklearn.datasets.load_digits (1797 images, 8x8, '
        'grey levels 0..16)',
        args=args,
        classes=list(CLASSES),
        label_rule='0 = background; digit d -> d + 1 where the upscaled '
        f'intensity > {LABEL_THRESHOLD} * its maximum',
        digit_size_range=list(DIGIT_SIZE_RANGE),
        num_digits_range=list(NUM_DIGITS_RANGE),
        counts=dict(
            train=num_train,
            val=num_val,
            labeled_a=len(labeled_a),
            labeled_b=len(labeled_b),
            unlabeled=len(unlabeled),
            heldout=len(pool_lists['heldout']),
            pool=len(pool_lists['pool'])),
        pools=dict(
            train=int(len(train_pool)),
            val=int(len(val_pool)),
            val_fraction=float(val_fraction)),
        class_pixel_counts=class_pixels,
        scene_sources=scene_sources,
        content_hash=content_hash(written))
    write_bytes(meta_path,
                (json.dumps(meta, indent=1, sort_keys=True) + '\n').encode())
    return build_summary(out_dir, meta, skipped=False)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Compose segmentation scenes from scikit-learn\'s '
        'handwritten digits in the MMSegmentation layout.')
    parser.add_argument(
        '-o',
        '--out-dir',
        default='data/digit_scenes',
        help='output root (default: data/digit_scenes)')
    parser.add_argument('--num-train', type=int, default=1000)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument(
        '--num-labeled',
        type=int,
        default=100,
        help='size of each of the two disjoint labelled subsets')
    parser.add_argument('--size', type=int, default=64, help='scene side')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--split-seeds',
        type=int,
        nargs='+',
        default=[0, 1, 2, 3, 4],
        help='one shared labelled subset (and the unlabelled rest) per seed')
    parser.add_argument(
        '--num-heldout', type=int, default=100,
        help='train scenes held out of the pool lists (recipe choices)')
    parser.add_argument(
        '--budgets', type=int, nargs='*', default=[10, 20, 40, 60, 80],
        help='label budgets of the pool lists (none after --budgets: no '
        'held-out part and no pool lists)')
    parser.add_argument(
        '--val-fraction',
        type=float,
        default=0.3,
        help='fraction of the source digits (per class) kept for val')
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
    :func:`build_digit_scenes`."""
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        summary = build_digit_scenes(
            args.out_dir,
            num_train=args.num_train,
            num_val=args.num_val,
            num_labeled=args.num_labeled,
            size=args.size,
            seed=args.seed,
            val_fraction=args.val_fraction,
            split_seeds=args.split_seeds,
            num_heldout=args.num_heldout,
            budgets=args.budgets,
            skip_if_exists=args.skip_if_exists)
    except (TypeError, ValueError) as e:
        if argv is None:  # called from the shell: no traceback
            raise SystemExit(f'error: {e}') from e
        raise
    elapsed = time.perf_counter() - start
    if summary['skipped']:
        print(f'digit scenes in {summary["out_dir"]} are up to date '
              f'({summary["content_hash"][:19]}...)')
    else:
        n_lab = summary['labeled_a']
        print(f'wrote {summary["train"]} train scenes (split seeds '
              f'{" ".join(map(str, args.split_seeds))}: {n_lab} labelled, '
              f'{summary["train"] - n_lab} unlabelled each) and '
              f'{summary["val"]} val scenes to {summary["out_dir"]} in '
              f'{elapsed:.1f} s')
    return summary


if __name__ == '__main__':
    main()
