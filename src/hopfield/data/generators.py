"""Synthetic pattern sets: bipolar, Gaussian and spherical.

All generators take ``generator`` (a ``torch.Generator``) or ``seed`` so every
pattern set is reproducible; they return float tensors of shape ``(K, N)``.
"""

from __future__ import annotations

import torch

__all__ = ["make_generator", "random_bipolar", "random_gaussian", "random_spherical"]


def make_generator(seed: int | None = None, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed`` (a fresh random seed when ``None``)."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


def _check_counts(count: int, dim: int) -> None:
    for name, value in (("count", count), ("dim", dim)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be ≥ 1, got {value}")


def _resolve(generator: torch.Generator | None, seed: int | None) -> torch.Generator:
    if generator is not None and seed is not None:
        raise ValueError("pass either generator or seed, not both")
    return generator if generator is not None else make_generator(seed)


def random_bipolar(
    count: int,
    dim: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``count`` i.i.d. Rademacher patterns in {−1, +1}^dim, shape ``(count, dim)``."""
    _check_counts(count, dim)
    bits = torch.randint(0, 2, (count, dim), generator=_resolve(generator, seed))
    return (2 * bits - 1).to(dtype)


def random_gaussian(
    count: int,
    dim: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``count`` i.i.d. standard normal patterns, shape ``(count, dim)``."""
    _check_counts(count, dim)
    return torch.randn(count, dim, generator=_resolve(generator, seed), dtype=dtype)


def random_spherical(
    count: int,
    dim: int,
    *,
    radius: float = 1.0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``count`` points uniform on the sphere of ``radius`` in R^dim, shape ``(count, dim)``."""
    gaussian = random_gaussian(count, dim, seed=seed, generator=generator, dtype=dtype)
    return radius * gaussian / gaussian.norm(dim=1, keepdim=True)
