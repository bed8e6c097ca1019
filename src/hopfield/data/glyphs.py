"""Glyph images rendered offline with Pillow's built-in default font.

Each character is drawn in white on black with ``ImageFont.load_default``, centred
on its ink bounding box inside a ``size × size`` canvas and binarised at half
intensity. Rendering is deterministic for a given Pillow build, so the glyph set
is a bundled, download-free image dataset (useful as a small set of strongly
correlated patterns: most pixels are background in every glyph).
"""

from __future__ import annotations

import string

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

__all__ = ["DEFAULT_CHARACTERS", "render_glyph", "render_glyphs"]

DEFAULT_CHARACTERS: str = string.ascii_uppercase + string.digits
"""The 36 characters of the default glyph set: ``A``–``Z`` then ``0``–``9``."""


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 8:
        raise ValueError(f"size must be ≥ 8 pixels, got {size}")
    return size


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The default font scaled so a capital letter fills about 70 % of the canvas."""
    try:
        return ImageFont.load_default(size=max(6, size))
    except (TypeError, ImportError, OSError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def render_glyph(character: str, size: int = 32, *, threshold: float = 0.5) -> np.ndarray:
    """One character as a binary ``(size, size)`` float32 array in {0, 1} (1 = ink).

    The ink bounding box is centred on the canvas; a glyph larger than the canvas
    (a bitmap fallback font never is) is cropped around its centre.
    """
    if not isinstance(character, str) or len(character) != 1:
        raise ValueError(f"character must be a single-character str, got {character!r}")
    size = _check_size(size)
    font = _font(size)
    big = 2 * size
    canvas = Image.new("L", (big, big), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), character, fill=255, font=font)
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    rows = np.flatnonzero(ink.max(axis=1) >= threshold)
    cols = np.flatnonzero(ink.max(axis=0) >= threshold)
    out = np.zeros((size, size), dtype=np.float32)
    if rows.size == 0:
        return out
    centre_r = (rows[0] + rows[-1] + 1) / 2
    centre_c = (cols[0] + cols[-1] + 1) / 2
    top = round(centre_r - size / 2)
    left = round(centre_c - size / 2)
    window = np.zeros((size, size), dtype=np.float32)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + size, big), min(left + size, big)
    window[r0 - top : r1 - top, c0 - left : c1 - left] = ink[r0:r1, c0:c1]
    out[:] = (window >= threshold).astype(np.float32)
    return out


def render_glyphs(
    characters: str = DEFAULT_CHARACTERS, size: int = 32, *, threshold: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``characters`` into ``(images (N, 1, size, size) float32 in {0,1}, labels (N,))``.

    ``labels[i]`` is the index of ``characters[i]`` in ``characters`` (int64).
    """
    if not isinstance(characters, str) or not characters:
        raise ValueError(f"characters must be a non-empty str, got {characters!r}")
    if len(set(characters)) != len(characters):
        raise ValueError(f"characters must not repeat, got {characters!r}")
    images = np.stack([render_glyph(c, size, threshold=threshold) for c in characters])
    labels = torch.arange(len(characters), dtype=torch.int64)
    return torch.from_numpy(images).unsqueeze(1), labels
