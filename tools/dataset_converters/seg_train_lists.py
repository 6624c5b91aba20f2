# Copyright (c) dmt_mm contributors. All rights reserved.
"""The training lists of PASCAL VOC 2012 train_aug and Cityscapes, and the
checks of their images and masks (for ``make_splits.py``).

VOC: the train_aug ids from ``ImageSets/Segmentation/trainaug.txt`` (MMSeg's
``voc_aug.py`` converter and the common "SegmentationClassAug" packages), or
``train.txt`` + ``aug.txt`` (MMSeg's converter), or a given list; every
image in ``JPEGImages/`` and every mask in ``SegmentationClassAug/`` (masks
only in ``SegmentationClass`` can be copied there). Cityscapes: the
``city/stem`` names of ``leftImg8bit/train`` and their
``gtFine/train/*_gtFine_labelTrainIds.png`` (MMSeg's ``cityscapes.py``).
"""
import os
import os.path as osp
import shutil
from typing import List, Optional, Sequence

from split_files import read_split


def voc_names(data_root: str, list_file: Optional[str] = None) -> List[str]:
    """The train_aug ids of a VOC 2012 folder.

    Args:
        data_root (str): ``.../VOCdevkit/VOC2012``.
        list_file (str, optional): A list of ids (absolute, or relative to
            ``data_root``). Defaults to ``ImageSets/Segmentation/trainaug.txt``
            or, without it, ``train.txt`` + ``aug.txt``.

    Returns:
        list[str]: Image ids (unsorted, duplicates removed).
    """
    sets = osp.join(data_root, 'ImageSets', 'Segmentation')
    if list_file is not None:
        path = list_file if osp.isabs(list_file) else osp.join(
            data_root, list_file)
        if not osp.isfile(path):
            raise FileNotFoundError(f'--list {list_file}: {path} not found')
        names = read_split(path)
    elif osp.isfile(osp.join(sets, 'trainaug.txt')):
        names = read_split(osp.join(sets, 'trainaug.txt'))
    elif osp.isfile(osp.join(sets, 'train.txt')) and osp.isfile(
            osp.join(sets, 'aug.txt')):
        names = (
            read_split(osp.join(sets, 'train.txt')) +
            read_split(osp.join(sets, 'aug.txt')))
    else:
        raise FileNotFoundError(
            f'no train_aug list in {sets}: expected trainaug.txt, or '
            'train.txt + aug.txt (MMSeg\'s tools/dataset_converters/'
            'voc_aug.py writes both), or pass --list')
    # ids may be given as paths ("JPEGImages/2007_000032.jpg")
    names = [osp.splitext(osp.basename(n))[0] for n in names]
    return list(dict.fromkeys(names))


def check_voc(data_root: str, names: Sequence[str], fill: bool) -> int:
    """Check images and masks; copy missing train_aug masks if ``fill``.

    Returns:
        int: Number of masks copied from ``SegmentationClass``.
    """
    missing_img = [
        n for n in names
        if not osp.isfile(osp.join(data_root, 'JPEGImages', n + '.jpg'))
    ]
    if missing_img:
        raise FileNotFoundError(
            f'{len(missing_img)} images are missing from '
            f'{osp.join(data_root, "JPEGImages")}, e.g. {missing_img[:3]}')
    aug_dir = osp.join(data_root, 'SegmentationClassAug')
    voc_dir = osp.join(data_root, 'SegmentationClass')
    missing = [
        n for n in names if not osp.isfile(osp.join(aug_dir, n + '.png'))
    ]
    if not missing:
        return 0
    fillable = [
        n for n in missing if osp.isfile(osp.join(voc_dir, n + '.png'))
    ]
    unfillable = sorted(set(missing) - set(fillable))
    if unfillable:
        raise FileNotFoundError(
            f'{len(unfillable)} train_aug masks are in neither {aug_dir} nor '
            f'{voc_dir}, e.g. {unfillable[:3]}')
    if not fill:
        raise FileNotFoundError(
            f'{len(missing)} train_aug masks are missing from {aug_dir} but '
            f'exist in {voc_dir} (e.g. {missing[:3]}); rerun without '
            '--no-fill to copy them (the DMT configs read every training '
            'mask from SegmentationClassAug)')
    os.makedirs(aug_dir, exist_ok=True)
    for n in fillable:
        shutil.copyfile(
            osp.join(voc_dir, n + '.png'), osp.join(aug_dir, n + '.png'))
    return len(fillable)


def cityscapes_names(data_root: str) -> List[str]:
    """``city/stem`` of every image of ``leftImg8bit/train``."""
    img_dir = osp.join(data_root, 'leftImg8bit', 'train')
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'{img_dir} not found')
    suffix = '_leftImg8bit.png'
    names = []
    for city in sorted(os.listdir(img_dir)):
        city_dir = osp.join(img_dir, city)
        if not osp.isdir(city_dir):
            continue
        for f in sorted(os.listdir(city_dir)):
            if f.endswith(suffix):
                names.append(f'{city}/{f[:-len(suffix)]}')
    if not names:
        raise FileNotFoundError(f'no *{suffix} images under {img_dir}')
    return names


def check_cityscapes(data_root: str, names: Sequence[str]) -> None:
    gt_dir = osp.join(data_root, 'gtFine', 'train')
    missing = [
        n for n in names
        if not osp.isfile(osp.join(gt_dir, n + '_gtFine_labelTrainIds.png'))
    ]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} *_gtFine_labelTrainIds.png masks are missing '
            f'from {gt_dir} (e.g. {missing[:3]}); generate them with '
            'MMSeg\'s tools/dataset_converters/cityscapes.py')

