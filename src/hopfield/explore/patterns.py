"""Pattern sets and corruptions of the explorer, from :mod:`hopfield.data`.

Every set is a ``(K, side·side)`` tensor of ±1 patterns (float32) on a square grid:
glyphs (:func:`~hopfield.data.load_glyphs`, rendered at ``side``), scikit-learn's 8×8
digits (binarised at half intensity), random bipolar patterns, or grids the person drew.
Corruptions are :mod:`hopfield.data.corruptions`' bit flips, bottom-row occlusion and
Gaussian noise, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hopfield.data import (
    flip_bits,
    gaussian_noise,
    load_digits,
    load_glyphs,
    make_generator,
    occlude_block,
    random_bipolar,
    to_bipolar,
)
from hopfield.data.glyphs import DEFAULT_CHARACTERS

__all__ = ["CORRUPTIONS", "PATTERN_SETS", "PatternSet", "corrupt", "make_pattern_set"]

PATTERN_SETS: tuple[str, ...] = ("glyphs", "digits", "random", "drawn")
CORRUPTIONS: tuple[str, ...] = ("flip", "occlude", "noise")
DIGIT_SIDE = 8
MAX_GLYPHS = len(DEFAULT_CHARACTERS)


@dataclass(frozen=True)
class PatternSet:
    """Stored patterns ``(K, side·side)`` in {−1, +1}, their grid side and labels."""

    patterns: torch.Tensor
    side: int
    labels: list[str]


def make_pattern_set(
    kind: str,
    count: int,
    *,
    side: int,
    seed: int = 0,
    drawn: torch.Tensor | None = None,
) -> PatternSet:
    """``count`` patterns of set ``kind`` (``drawn`` gives the grids of ``"drawn"``).

    Glyphs are the first ``count`` of ``A``–``Z``, ``0``–``9``; digits are the first
    ``count`` images of scikit-learn's set (8×8, so ``side`` is ignored); random
    patterns are seeded by ``seed``. The caller has validated ``kind`` and the bounds.
    """
    if kind == "glyphs":
        images, _ = load_glyphs(image_size=side)
        patterns = to_bipolar(images[:count]).reshape(count, -1)
        return PatternSet(patterns, side, list(DEFAULT_CHARACTERS[:count]))
    if kind == "digits":
        images, labels = load_digits(split="all")
        patterns = to_bipolar(images[:count]).reshape(count, -1)
        return PatternSet(patterns, DIGIT_SIDE, [str(int(v)) for v in labels[:count]])
    if kind == "random":
        patterns = random_bipolar(count, side * side, seed=seed)
        return PatternSet(patterns, side, [f"#{i}" for i in range(count)])
    if drawn is None:
        raise ValueError("drawn patterns need the grids")
    return PatternSet(drawn.clone(), side, [f"drawn {i}" for i in range(drawn.shape[0])])


def corrupt(query: torch.Tensor, kind: str, level: float, *, side: int, seed: int) -> torch.Tensor:
    """``query`` ``(side·side,)`` corrupted by ``kind`` at ``level`` (a new tensor).

    ``flip``: each pixel's sign flipped with probability ``level``; ``occlude``: the
    bottom ``level`` fraction of rows set to −1 (background); ``noise``: Gaussian noise
    of standard deviation ``level`` added.
    """
    generator = make_generator(seed)
    batch = query.unsqueeze(0)
    if kind == "flip":
        return flip_bits(batch, level, generator=generator)[0]
    if kind == "occlude":
        hidden, _ = occlude_block(batch.reshape(1, side, side), level, fill=-1.0)
        return hidden.reshape(-1)
    return gaussian_noise(batch, level, generator=generator)[0]
