# Copyright (c) dmt_mm contributors. All rights reserved.
"""Tiny copies of real dataset layouts (PASCAL VOC, Cityscapes) for tests."""
import os
import os.path as osp

import numpy as np
from PIL import Image


def voc_palette() -> list:
    """The 256-colour PASCAL VOC palette (bit-interleaved label colours)."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def _scene(rng, h, w, num_classes, border):
    """An image with a few class rectangles and its label map."""
    label = np.zeros((h, w), np.uint8)
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    for _ in range(2):
        c = int(rng.integers(1, num_classes))
        y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        y1, x1 = y0 + h // 3, x0 + w // 3
        label[y0:y1, x0:x1] = c
        img[y0:y1, x0:x1] = (37 * c % 256, 91 * c % 256, 53 * c % 256)
        if border:  # VOC's 255 object boundaries
            label[y0, x0:x1] = label[y1 - 1, x0:x1] = 255
            label[y0:y1, x0] = label[y0:y1, x1 - 1] = 255
    return img, label


def fabricate_voc(root: str,
                  num_train: int = 4,
                  num_aug: int = 8,
                  num_val: int = 2,
                  size=(40, 48),
                  seed: int = 0) -> dict:
    """A VOCdevkit/VOC2012 folder as MMSeg's voc_aug converter leaves it.

    ``train.txt`` ids have palette masks in ``SegmentationClass`` and (all
    but the first, which is "not in SBD") index masks in
    ``SegmentationClassAug``; ``aug.txt`` ids only the latter; ``val.txt``
    only the former.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    ids = dict(
        train=[f'2007_{i:06d}' for i in range(num_train)],
        aug=[f'2008_{i:06d}' for i in range(num_aug)],
        val=[f'2009_{i:06d}' for i in range(num_val)])
    for sub in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
                'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    palette = voc_palette()
    for part, names in ids.items():
        for k, name in enumerate(names):
            img, label = _scene(rng, h, w, 21, border=True)
            Image.fromarray(img).save(
                osp.join(root, 'JPEGImages', name + '.jpg'), quality=95)
            if part in ('train', 'val'):
                p = Image.fromarray(label, mode='P')
                p.putpalette(palette)
                p.save(osp.join(root, 'SegmentationClass', name + '.png'))
            if part == 'aug' or (part == 'train' and k > 0):
                Image.fromarray(label).save(
                    osp.join(root, 'SegmentationClassAug', name + '.png'))
        list_name = 'aug' if part == 'aug' else part
        with open(
                osp.join(root, 'ImageSets/Segmentation', list_name + '.txt'),
                'w') as f:
            f.writelines(n + '\n' for n in names)
    return ids


def fabricate_cityscapes(root: str, size=(64, 128), seed: int = 0) -> dict:
    """leftImg8bit / gtFine (``*_gtFine_labelTrainIds.png``) like Cityscapes
    after MMSeg's converter, at 1/16 of the real 1024x2048."""
    rng = np.random.default_rng(seed)
    h, w = size
    cities = dict(train={'aachen': 3, 'bochum': 4}, val={'frankfurt': 2})
    names = dict(train=[], val=[])
    for split, per_city in cities.items():
        for city, n in per_city.items():
            os.makedirs(
                osp.join(root, 'leftImg8bit', split, city), exist_ok=True)
            os.makedirs(osp.join(root, 'gtFine', split, city), exist_ok=True)
            for i in range(n):
                stem = f'{city}_{i:06d}_000019'
                img, label = _scene(rng, h, w, 19, border=False)
                label[:4] = 255  # ego-vehicle/void-like ignore region
                Image.fromarray(img).save(
                    osp.join(root, 'leftImg8bit', split, city,
                             stem + '_leftImg8bit.png'))
                Image.fromarray(label).save(
                    osp.join(root, 'gtFine', split, city,
                             stem + '_gtFine_labelTrainIds.png'))
                names[split].append(f'{city}/{stem}')
    return names


def write_tiny_splits(root: str, ratios, names) -> None:
    """Split files at the paths the paper configs read (2 labelled images,
    two 2-image subsets sharing one, 3 unlabelled)."""
    for ratio in ratios:
        d = osp.join(root, 'dmt_splits', ratio, 'split0')
        os.makedirs(d, exist_ok=True)
        parts = dict(
            labeled=names[:2],
            labeled_a=names[:2],
            labeled_b=names[1:3],
            unlabeled=names[3:6])
        for part, lines in parts.items():
            with open(osp.join(d, part + '.txt'), 'w') as f:
                f.writelines(n + '\n' for n in lines)
