# Copyright (c) dmt_mm contributors. All rights reserved.
"""Rendering of one *digit scene* (for ``digit_scenes.py``).

A scene is an RGB image of ``size x size`` pixels: a smooth, dark, randomly
coloured and textured background with 1-3 digits pasted on it. Every digit is
upscaled from 8x8 to a random size in [24, 36] px with bilinear interpolation
and drawn in a random colour brighter than the background under it; the colour
carries no information about the class. The label map marks a digit's region
(upscaled intensity above a quarter of its maximum, dilated by 2 px so that
objects are solid shapes an output-stride-8 network can resolve) with
``d + 1``; the background is 0, so there are 11 classes. Later digits
overwrite earlier ones where they overlap (overlap is kept small by rejection
sampling).
"""
from typing import List, Tuple

import numpy as np

from digit_build import MAX_GREY

#: Class names: the label map holds 0 for the background and d + 1 for
#: digit d.
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
#: Smallest scene side (the largest digit must fit).
MIN_SIZE = 40


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
            mask = cv2.dilate(mask.astype(np.uint8),
                              np.ones((k, k), np.uint8)) > 0
        label[y:y + h, x:x + w][mask] = targets[src] + 1
    img = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return img, label, [int(s) for s in sources]

