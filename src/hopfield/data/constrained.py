"""Data for sparse-recovery memories (Mazumdar & Rawat 2015): integer vectors in a
low-rank subspace, and sparse integer corruptions of them."""

from __future__ import annotations

import torch

from hopfield._validation import check_floating, check_int, check_rank
from hopfield.data.generators import make_generator

__all__ = ["bounded_integer_dataset", "sparse_corruption"]


def bounded_integer_dataset(
    count: int,
    dim: int,
    rank: int,
    *,
    alphabet: int = 1,
    basis: torch.Tensor | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` vectors x = A u, u uniform in {−q, …, q}^k (q = ``alphabet``), A ``(n, k)``
    Gaussian (or ``basis``): the (2q + 1)^k-element stored set of Mazumdar & Rawat.

    Returns ``(data (count, n), A (n, k))``; pass the returned A as ``basis`` to draw
    fresh vectors from the same set.
    """
    for name, value in (("count", count), ("dim", dim), ("rank", rank), ("alphabet", alphabet)):
        check_int(value, name, 1)
    if rank >= dim:
        raise ValueError(f"rank must be < dim = {dim}, got {rank}")
    if generator is not None and seed is not None:
        raise ValueError("pass either generator or seed, not both")
    gen = generator if generator is not None else make_generator(seed)
    if basis is None:
        basis = torch.randn(dim, rank, generator=gen, dtype=torch.float64)
    elif tuple(basis.shape) != (dim, rank):
        raise ValueError(f"basis must have shape ({dim}, {rank}), got {tuple(basis.shape)}")
    codes = torch.randint(-alphabet, alphabet + 1, (count, rank), generator=gen)
    data = codes.to(torch.float64) @ basis.to(torch.float64).T
    return data.to(dtype), basis.to(dtype)


def sparse_corruption(
    states: torch.Tensor,
    num_corrupted: int,
    *,
    max_magnitude: int = 5,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add to each row of ``states`` ``(B, n)`` an error on ``num_corrupted`` random coordinates
    with values ±{1, …, ``max_magnitude``} (uniform). Returns ``(corrupted, errors)``."""
    x = check_floating(states, "states")
    check_rank(x, "states", 2, "(B, n)")
    count, n = x.shape
    check_int(num_corrupted, "num_corrupted", 0)
    if num_corrupted > n:
        raise ValueError(f"num_corrupted must be ≤ n = {n}, got {num_corrupted}")
    check_int(max_magnitude, "max_magnitude", 1)
    if generator is not None and seed is not None:
        raise ValueError("pass either generator or seed, not both")
    gen = generator if generator is not None else make_generator(seed)
    positions = torch.rand(count, n, generator=gen).argsort(dim=1)[:, :num_corrupted]
    magnitudes = torch.randint(1, max_magnitude + 1, (count, num_corrupted), generator=gen)
    signs = torch.randint(0, 2, (count, num_corrupted), generator=gen) * 2 - 1
    errors = torch.zeros(count, n, dtype=x.dtype)
    errors.scatter_(1, positions, (magnitudes * signs).to(x.dtype))
    return x + errors, errors
