# Copyright (c) dmt_mm contributors. All rights reserved.
"""The RandAugment variant of DMT's public CIFAR-10 code.

DMT (Feng et al., arXiv:2004.08514) trains its CIFAR-10 models with "random
crop, flip, RandAugment with one random op of a random magnitude". The public
code (voldemortX/DST-CBC, ``classification/utils/randomrandaugment.py``) takes
its op list from ildoonet/pytorch-randaugment (``augment_list()``, after the
EfficientNet AutoAugment code): 16 ops, one of which is an absolute-size
Cutout, with translations in absolute pixels. This module reproduces that op
list, its magnitude mapping and its sampling with PIL, the image library the
public code runs them on, so that pixel-centre conventions, nearest-neighbour
resampling, fill values and rounding are the same.

MMPretrain's ``RandAugment`` cannot express it exactly: it draws a continuous
magnitude per op (``magnitude_std='inf'``: uniform in ``[0, level]``) where
the public code draws one integer in ``1..10``; its ``Posterize`` rounds the
bit count up where the public code rounds down; its ``SolarizeAdd`` adds only
below the threshold and does not invert, where the public op adds to every
pixel and then solarizes at 128; and its geometric ops use OpenCV sampling.
"""
from typing import List, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

#: The 16 ops of the public code, in its order: ``(name, low, high)``. The
#: argument of an op at magnitude ``m`` (an integer in 1..10) is
#: ``m / 10 * (high - low) + low``; ops without an argument ignore it.
DST_RANDAUGMENT_OPS: Tuple[Tuple[str, float, float], ...] = (
    ('AutoContrast', 0, 1),
    ('Equalize', 0, 1),
    ('Invert', 0, 1),
    ('Rotate', 0, 30),  # degrees, random sign
    ('Posterize', 0, 4),  # bits kept: max(1, int(argument))
    ('Solarize', 0, 256),  # threshold: pixels >= it are inverted
    ('SolarizeAdd', 0, 110),  # added to every pixel, then solarize at 128
    ('Color', 0.1, 1.9),  # PIL enhancement factors (1 = unchanged)
    ('Contrast', 0.1, 1.9),
    ('Brightness', 0.1, 1.9),
    ('Sharpness', 0.1, 1.9),
    ('ShearX', 0.0, 0.3),  # shear factor, random sign
    ('ShearY', 0.0, 0.3),
    ('CutoutAbs', 0, 40),  # square side in pixels (drawn inclusive: +1)
    ('TranslateXAbs', 0.0, 100),  # pixels, random sign
    ('TranslateYAbs', 0.0, 100),
)
_RANGES = {name: (low, high) for name, low, high in DST_RANDAUGMENT_OPS}

#: The public code's magnitude scale: the argument is ``m / 10`` of the range.
MAGNITUDE_SCALE = 10
#: Fill of ``CutoutAbs`` in RGB (about the CIFAR-10 mean pixel).
CUTOUT_FILL_RGB = (125, 123, 114)


def op_argument(name: str, magnitude: int) -> float:
    """The argument the public code passes to op ``name`` at ``magnitude``.

    Args:
        name (str): One of the names in :data:`DST_RANDAUGMENT_OPS`.
        magnitude (int): An integer in ``1..10``.

    Returns:
        float: ``magnitude / 10 * (high - low) + low``.
    """
    if name not in _RANGES:
        raise KeyError(f'unknown op name={name!r}; the ops are '
                       f'{[n for n, _, _ in DST_RANDAUGMENT_OPS]}')
    if isinstance(magnitude, bool) or not isinstance(
            magnitude, (int, np.integer)) or not 1 <= magnitude <= 10:
        raise ValueError(
            f'magnitude must be an int in 1..10, got magnitude={magnitude!r}')
    low, high = _RANGES[name]
    return magnitude / MAGNITUDE_SCALE * (high - low) + low


def _random_sign(value: float) -> float:
    """``value`` or ``-value`` with probability 1/2 each."""
    return -value if np.random.rand() < 0.5 else value


def _affine(img: Image.Image, coeffs: Sequence[float]) -> Image.Image:
    """PIL affine warp: output ``(x, y)`` samples input
    ``(a x + b y + c, d x + e y + f)``; nearest neighbour, black outside."""
    return img.transform(img.size, Image.Transform.AFFINE, tuple(coeffs))


def _solarize_add(img: Image.Image, addition: float) -> Image.Image:
    added = np.asarray(img).astype(np.float64) + addition
    added = np.clip(added, 0, 255).astype(np.uint8)
    return ImageOps.solarize(Image.fromarray(added), 128)


def _cutout_abs(img: Image.Image, size: float) -> Image.Image:
    """Fill a ``size``-pixel square (PIL's rectangle includes its far edge,
    so ``size + 1`` pixels a side unless cut by the border) with
    :data:`CUTOUT_FILL_RGB`. Its centre is uniform in ``[1, w) x [1, h)``, as
    the public code's ``np.random.uniform(w)`` (``low=w, high=1``) draws it.
    """
    w, h = img.size
    cx = np.random.uniform(1.0, w)
    cy = np.random.uniform(1.0, h)
    x0 = int(max(0, cx - size / 2.0))
    y0 = int(max(0, cy - size / 2.0))
    box = (x0, y0, min(w, x0 + size), min(h, y0 + size))
    img = img.copy()
    ImageDraw.Draw(img).rectangle(box, fill=CUTOUT_FILL_RGB)
    return img


_OP_FUNCS = {
    'AutoContrast': lambda img, v: ImageOps.autocontrast(img),
    'Equalize': lambda img, v: ImageOps.equalize(img),
    'Invert': lambda img, v: ImageOps.invert(img),
    'Rotate': lambda img, v: img.rotate(_random_sign(v)),
    'Posterize': lambda img, v: ImageOps.posterize(img, max(1, int(v))),
    'Solarize': lambda img, v: ImageOps.solarize(img, v),
    'SolarizeAdd': _solarize_add,
    'Color': lambda img, v: ImageEnhance.Color(img).enhance(v),
    'Contrast': lambda img, v: ImageEnhance.Contrast(img).enhance(v),
    'Brightness': lambda img, v: ImageEnhance.Brightness(img).enhance(v),
    'Sharpness': lambda img, v: ImageEnhance.Sharpness(img).enhance(v),
    'ShearX': lambda img, v: _affine(img, (1, _random_sign(v), 0, 0, 1, 0)),
    'ShearY': lambda img, v: _affine(img, (1, 0, 0, _random_sign(v), 1, 0)),
    'CutoutAbs': _cutout_abs,
    'TranslateXAbs': lambda img, v: _affine(img,
                                            (1, 0, _random_sign(v), 0, 1, 0)),
    'TranslateYAbs': lambda img, v: _affine(img,
                                            (1, 0, 0, 0, 1, _random_sign(v))),
}
assert set(_OP_FUNCS) == set(_RANGES)


def apply_op(img: np.ndarray, name: str, argument: float) -> np.ndarray:
    """Apply one op of the public list to an RGB image.

    The random parts of an op (the sign of a rotation, shear or translation,
    the position of the cutout) are drawn from NumPy's global RNG.

    Args:
        img (np.ndarray): ``(H, W, 3)`` uint8 image in RGB order.
        name (str): Op name (see :data:`DST_RANDAUGMENT_OPS`).
        argument (float): The op's argument, e.g. from :func:`op_argument`.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB image.
    """
    if name not in _OP_FUNCS:
        raise KeyError(f'unknown op name={name!r}; the ops are '
                       f'{[n for n, _, _ in DST_RANDAUGMENT_OPS]}')
    out = _OP_FUNCS[name](Image.fromarray(img), argument)
    return np.array(out, dtype=np.uint8)


@TRANSFORMS.register_module()
class DSTRandAugment(BaseTransform):
    """RandAugment as DMT's public CIFAR-10 code applies it.

    For every image: draw ``num_ops`` ops uniformly, with replacement, from
    the 16 of :data:`DST_RANDAUGMENT_OPS`, and one magnitude ``m`` uniformly
    from the integers ``1..max_magnitude`` shared by them; apply each op in
    turn with argument ``m / 10 * (high - low) + low``. Every drawn op is
    applied (there is no probability of skipping). The DMT paper
    (arXiv:2004.08514) and its public scripts use ``num_ops=1``,
    ``max_magnitude=10``, after a random crop (padding 4, fill 128) and a
    horizontal flip, and add no other Cutout: ``CutoutAbs`` is one of the
    ops.

    Arguments over ``m = 1..10`` (rotation, shear and translation take a
    random sign): rotate 3..30 degrees; posterize to 1, 1, 1, 1, 2, 2, 2, 3,
    3, 4 bits; solarize at 25.6..256 (256: unchanged); add 11..110 then
    solarize at 128; color/contrast/brightness/sharpness factors 0.28..1.9;
    shear 0.03..0.3; cutout squares of 4..40 (+1) pixels; translate by
    10..100 pixels, so on a 32x32 image a translation with ``m >= 4`` leaves
    a black image. Geometric ops fill with black, the cutout with RGB
    (125, 123, 114).

    Required Keys:

    - img (np.uint8, (H, W, 3))

    Modified Keys:

    - img

    Args:
        num_ops (int): Ops per image. Defaults to 1.
        max_magnitude (int): Largest magnitude, in ``1..10``. Defaults to 10.
        channel_order (str): Channel order of ``results['img']``: ``'bgr'``
            (images loaded by ``LoadImageFromFile``) or ``'rgb'`` (e.g.
            MMPretrain's ``CIFAR10``). Colour ops and the cutout fill depend
            on it. Defaults to ``'bgr'``.
    """

    def __init__(self,
                 num_ops: int = 1,
                 max_magnitude: int = 10,
                 channel_order: str = 'bgr') -> None:
        if isinstance(num_ops, bool) or not isinstance(num_ops, int) \
                or num_ops < 1:
            raise ValueError(
                f'num_ops must be an int >= 1, got num_ops={num_ops!r}')
        if isinstance(max_magnitude, bool) or not isinstance(
                max_magnitude, int) or not 1 <= max_magnitude <= 10:
            raise ValueError('max_magnitude must be an int in 1..10 (the '
                             'public code maps magnitude m to m / 10 of each '
                             f'range), got max_magnitude={max_magnitude!r}')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError("channel_order must be 'bgr' or 'rgb', got "
                             f'channel_order={channel_order!r}')
        self.num_ops = num_ops
        self.max_magnitude = max_magnitude
        self.channel_order = channel_order

    def sample(self) -> Tuple[List[str], int]:
        """Draw the ops (with replacement) and their shared magnitude."""
        idx = np.random.randint(len(DST_RANDAUGMENT_OPS), size=self.num_ops)
        magnitude = int(np.random.randint(1, self.max_magnitude + 1))
        return [DST_RANDAUGMENT_OPS[i][0] for i in idx], magnitude

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError('DSTRandAugment needs a uint8 (H, W, 3) image, '
                             f'got img of dtype {img.dtype} and shape '
                             f'{img.shape} ({results.get("img_path")})')
        bgr = self.channel_order == 'bgr'
        rgb = np.ascontiguousarray(img[..., ::-1]) if bgr else img
        names, magnitude = self.sample()
        for name in names:
            rgb = apply_op(rgb, name, op_argument(name, magnitude))
        results['img'] = np.ascontiguousarray(rgb[..., ::-1]) if bgr else rgb
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_ops={self.num_ops}, '
                f'max_magnitude={self.max_magnitude}, '
                f"channel_order='{self.channel_order}')")
