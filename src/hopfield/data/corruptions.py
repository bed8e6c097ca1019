"""Corruptions applied to batches of patterns ``(B, ...)``: bit flips, masks, noise.

Each returns a new tensor (inputs are never modified in place) and takes an
explicit ``generator`` for reproducibility.
"""

from __future__ import annotations

import torch

from hopfield._validation import check_probability, check_tensor

__all__ = ["flip_bits", "gaussian_noise", "mask_random", "occlude_block"]


def flip_bits(
    patterns: torch.Tensor, p: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Flip the sign of each entry of bipolar ``patterns`` independently with probability ``p``."""
    check_tensor(patterns, "patterns")
    check_probability(p, "p")
    flips = torch.rand(patterns.shape, generator=generator, device=patterns.device) < p
    return torch.where(flips, -patterns, patterns)


def mask_random(
    patterns: torch.Tensor,
    fraction: float,
    *,
    fill: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a random ``fraction`` of entries by ``fill``.

    Returns ``(corrupted, known)`` where ``known`` is True on the entries kept.
    """
    check_tensor(patterns, "patterns")
    check_probability(fraction, "fraction")
    known = torch.rand(patterns.shape, generator=generator, device=patterns.device) >= fraction
    return torch.where(known, patterns, torch.full_like(patterns, fill)), known


def occlude_block(
    images: torch.Tensor, fraction: float, *, fill: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide the bottom ``fraction`` of rows of images ``(B, [C,] H, W)``.

    Returns ``(corrupted, known)`` with ``known`` True on visible pixels.
    """
    check_tensor(images, "images")
    check_probability(fraction, "fraction")
    if images.ndim < 3:
        raise ValueError(f"images must have shape (B, [C,] H, W), got {tuple(images.shape)}")
    height = images.shape[-2]
    hidden_rows = round(fraction * height)
    known = torch.ones_like(images, dtype=torch.bool)
    if hidden_rows:
        known[..., height - hidden_rows :, :] = False
    return torch.where(known, images, torch.full_like(images, fill)), known


def gaussian_noise(
    patterns: torch.Tensor, std: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Add i.i.d. Gaussian noise of standard deviation ``std``."""
    check_tensor(patterns, "patterns")
    if std < 0:
        raise ValueError(f"std must be ≥ 0, got {std}")
    noise = torch.randn(patterns.shape, generator=generator, device=patterns.device)
    return patterns + std * noise.to(patterns.dtype)
