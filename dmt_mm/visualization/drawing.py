# Copyright (c) dmt_mm contributors. All rights reserved.
"""Small image-composition helpers shared by the DMT galleries.

Everything works on ``np.uint8`` RGB arrays ``(H, W, 3)``; nothing here
knows about DMT. Text is drawn with OpenCV's Hershey font (no font files).
"""
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'BACKGROUND', 'hatch', 'hatch_swatch', 'scalar_to_rgb', 'fit_size',
    'resize', 'text_bar', 'wrap_text', 'text_block', 'hstack', 'vstack',
    'pad_to', 'legend', 'colorbar', 'frame'
]

#: Canvas colour between tiles (RGB).
BACKGROUND = (32, 32, 32)
#: The two stripe colours marking ignored pixels (RGB): a pattern no flat
#: palette colour can be mistaken for.
HATCH_COLORS = ((255, 255, 255), (80, 80, 80))
_FONT = cv2.FONT_HERSHEY_SIMPLEX

Color = Tuple[int, int, int]


def hatch(image: np.ndarray, mask: np.ndarray, period: int = 8) -> np.ndarray:
    """Paint diagonal stripes over the pixels of ``mask``.

    Args:
        image (np.ndarray): RGB ``(H, W, 3)`` uint8 (not modified).
        mask (np.ndarray): Bool ``(H, W)``; True where to paint.
        period (int): Stripe period in pixels. Defaults to 8.

    Returns:
        np.ndarray: A copy of ``image`` with white/grey stripes on
        ``mask``.
    """
    out = image.copy()
    if not mask.any():
        return out
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    first = ((xx + yy) // max(1, period // 2)) % 2 == 0
    out[mask & first] = HATCH_COLORS[0]
    out[mask & ~first] = HATCH_COLORS[1]
    return out


def hatch_swatch(size: int) -> np.ndarray:
    """A ``(size, size, 3)`` square fully hatched (legend entry)."""
    return hatch(np.zeros((size, size, 3), np.uint8),
                 np.ones((size, size), bool))


def scalar_to_rgb(values: np.ndarray, vmin: float = 0.0,
                  vmax: float = 1.0) -> np.ndarray:
    """Colour a map of values in ``[vmin, vmax]`` with viridis.

    Args:
        values (np.ndarray): Float ``(H, W)``; NaN is drawn black.

    Returns:
        np.ndarray: RGB ``(H, W, 3)`` uint8 (dark blue = ``vmin``, yellow =
        ``vmax``).
    """
    v = np.asarray(values, dtype=np.float64)
    scaled = np.clip((v - vmin) / max(vmax - vmin, 1e-12), 0, 1)
    levels = np.nan_to_num(scaled * 255).round().astype(np.uint8)
    rgb = cv2.applyColorMap(levels, cv2.COLORMAP_VIRIDIS)[..., ::-1].copy()
    rgb[np.isnan(v)] = 0
    return rgb


def fit_size(shape: Sequence[int], size: int) -> Tuple[int, int]:
    """``(h, w)`` scaled so that the longer side is ``size``."""
    h, w = int(shape[0]), int(shape[1])
    scale = size / max(h, w, 1)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize(array: np.ndarray, hw: Tuple[int, int],
           nearest: bool = False) -> np.ndarray:
    """Resize an image or a map to ``(h, w)``.

    Label maps and masks must use ``nearest=True`` (no invented values).
    """
    h, w = hw
    if array.shape[:2] == (h, w):
        return array.copy()
    if nearest:
        interp = cv2.INTER_NEAREST
    elif h < array.shape[0]:
        interp = cv2.INTER_AREA
    else:
        interp = cv2.INTER_LINEAR
    dtype = array.dtype
    src = array.astype(np.float32) if dtype == bool else array
    out = cv2.resize(src, (w, h), interpolation=interp)
    return out.astype(bool) if dtype == bool else out


def _text_size(text: str, scale: float, thickness: int) -> Tuple[int, int]:
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    return tw, th + base


def text_bar(width: int, text: str, height: int = 22, scale: float = 0.45,
             color: Color = (255, 255, 255),
             bg: Color = BACKGROUND) -> np.ndarray:
    """One line of text on a ``(height, width, 3)`` bar (clipped to fit)."""
    bar = np.empty((height, width, 3), np.uint8)
    bar[:] = bg
    thickness = 1
    while text and _text_size(text, scale, thickness)[0] > width - 6:
        text = text[:-2] + '~' if len(text) > 2 else ''
    _, th = _text_size(text, scale, thickness)
    y = (height + th) // 2 - 3
    cv2.putText(bar, text, (3, y), _FONT, scale, color, thickness,
                cv2.LINE_AA)
    return bar


def wrap_text(text: str, width: int, scale: float = 0.45) -> List[str]:
    """Split ``text`` at spaces into lines that fit ``width`` pixels."""
    lines: List[str] = []
    for word in text.split(' '):
        if lines and _text_size(f'{lines[-1]} {word}', scale,
                                1)[0] <= width - 6:
            lines[-1] = f'{lines[-1]} {word}'
        else:
            lines.append(word)
    return lines or ['']


def text_block(width: int, lines: Sequence[str], **kwargs) -> np.ndarray:
    """Several :func:`text_bar` lines stacked, long ones wrapped at spaces."""
    scale = kwargs.get('scale', 0.45)
    wrapped = [w for line in lines for w in wrap_text(line, width, scale)]
    return vstack([text_bar(width, line, **kwargs) for line in wrapped],
                  gap=0)


def pad_to(image: np.ndarray, height: Optional[int] = None,
           width: Optional[int] = None,
           bg: Color = BACKGROUND) -> np.ndarray:
    """Pad ``image`` on the bottom/right to at least ``height`` x ``width``."""
    h, w = image.shape[:2]
    H, W = max(h, height or 0), max(w, width or 0)
    if (H, W) == (h, w):
        return image
    out = np.empty((H, W, 3), np.uint8)
    out[:] = bg
    out[:h, :w] = image
    return out


def hstack(tiles: Sequence[np.ndarray], gap: int = 4,
           bg: Color = BACKGROUND) -> np.ndarray:
    """Tiles side by side, top-aligned, ``gap`` pixels apart."""
    height = max(t.shape[0] for t in tiles)
    parts: List[np.ndarray] = []
    for i, t in enumerate(tiles):
        if i:
            sep = np.empty((height, gap, 3), np.uint8)
            sep[:] = bg
            parts.append(sep)
        parts.append(pad_to(t, height=height, bg=bg))
    return np.concatenate(parts, axis=1)


def vstack(rows: Sequence[np.ndarray], gap: int = 4,
           bg: Color = BACKGROUND) -> np.ndarray:
    """Rows one below the other, left-aligned, ``gap`` pixels apart."""
    width = max(r.shape[1] for r in rows)
    parts: List[np.ndarray] = []
    for i, r in enumerate(rows):
        if i and gap:
            sep = np.empty((gap, width, 3), np.uint8)
            sep[:] = bg
            parts.append(sep)
        parts.append(pad_to(r, width=width, bg=bg))
    return np.concatenate(parts, axis=0)


def frame(image: np.ndarray, color: Color, width: int = 3) -> np.ndarray:
    """``image`` with a coloured border of ``width`` pixels around it."""
    h, w = image.shape[:2]
    out = np.empty((h + 2 * width, w + 2 * width, 3), np.uint8)
    out[:] = color
    out[width:width + h, width:width + w] = image
    return out


def legend(entries: Sequence[Tuple[Union[Color, np.ndarray], str]],
           width: int, swatch: int = 14, scale: float = 0.42) -> np.ndarray:
    """Colour swatches with names, wrapped into rows of at most ``width``.

    Args:
        entries: ``(colour or (s, s, 3) swatch image, text)`` pairs.
        width (int): Width of the legend image.
    """
    row_h = swatch + 8
    rows: List[List[np.ndarray]] = [[]]
    used = 0
    for color, text in entries:
        tw, _ = _text_size(text, scale, 1)
        item = np.empty((row_h, swatch + 6 + tw + 14, 3), np.uint8)
        item[:] = BACKGROUND
        if isinstance(color, np.ndarray):
            item[4:4 + swatch, 0:swatch] = resize(color, (swatch, swatch),
                                                  nearest=True)
        else:
            item[4:4 + swatch, 0:swatch] = color
        cv2.rectangle(item, (0, 4), (swatch - 1, 3 + swatch),
                      (160, 160, 160), 1)
        cv2.putText(item, text, (swatch + 5, 3 + swatch), _FONT, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
        if rows[-1] and used + item.shape[1] > width:
            rows.append([])
            used = 0
        rows[-1].append(item)
        used += item.shape[1]
    lines = [hstack(r, gap=0) if r else np.zeros((row_h, 1, 3), np.uint8)
             for r in rows]
    return pad_to(vstack(lines, gap=0), width=width)


def colorbar(width: int, label: str, vmin: float = 0.0,
             vmax: float = 1.0) -> np.ndarray:
    """A horizontal viridis bar from ``vmin`` to ``vmax`` with its label."""
    bar_w = max(40, width - 190)
    ramp = np.tile(np.linspace(vmin, vmax, bar_w), (12, 1))
    bar = scalar_to_rgb(ramp, vmin, vmax)
    lo = text_bar(40, f'{vmin:g}', height=12)
    hi = text_bar(40, f'{vmax:g}', height=12)
    name = text_bar(140, label, height=12)
    return pad_to(hstack([name, lo, bar, hi], gap=2), width=width)
