"""Bipolar pattern sets with controlled separation and controlled correlation.

Bielmeier & Friedland (2025), "Effects of Feature Correlations on Associative
Memory Capacity", measure Dense-AM capacity on binary data sets whose minimum
pairwise Hamming distance and feature correlation are varied independently. These
two generators build such data sets, reproducibly from a seed:

* :func:`hamming_separated` — ``K`` patterns in {−1, +1}^N whose pairwise Hamming
  distance ``d_H(ξ^μ, ξ^ν) = (N − ξ^μ·ξ^ν)/2`` is at least ``min_distance``.
* :func:`correlated_bipolar` — ``K`` patterns sharing a common latent so that the
  mean pairwise overlap ``m = ξ^μ·ξ^ν / N`` (``among="patterns"``), or the mean
  correlation between features across patterns (``among="features"``), equals
  ``correlation`` in expectation.
"""

from __future__ import annotations

import math

import torch

from hopfield._validation import check_int, check_probability
from hopfield.data.generators import make_generator

__all__ = [
    "correlated_bipolar",
    "hamming_distances",
    "hamming_separated",
    "mean_pairwise_overlap",
    "plotkin_bound",
]



def _resolve(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None and seed is not None:
        raise ValueError("pass either generator or seed, not both")
    return generator if generator is not None else make_generator(seed)


def hamming_distances(patterns: torch.Tensor) -> torch.Tensor:
    """Pairwise Hamming distances ``(K, K)`` of ±1 patterns ``(K, N)``: ``(N − ξ^μ·ξ^ν)/2``."""
    if patterns.ndim != 2:
        raise ValueError(f"patterns must have shape (K, N), got {tuple(patterns.shape)}")
    gram = patterns.to(torch.float64) @ patterns.to(torch.float64).T
    return ((patterns.shape[1] - gram) / 2).round().to(torch.int64)


def mean_pairwise_overlap(patterns: torch.Tensor) -> float:
    """Mean of ``ξ^μ·ξ^ν / N`` over pairs ``μ < ν`` of ±1 patterns ``(K, N)`` (K ≥ 2)."""
    if patterns.ndim != 2 or patterns.shape[0] < 2:
        raise ValueError(f"patterns must have shape (K ≥ 2, N), got {tuple(patterns.shape)}")
    count, dim = patterns.shape
    gram = patterns.to(torch.float64) @ patterns.to(torch.float64).T / dim
    off_diagonal = gram.sum() - gram.diagonal().sum()
    return float(off_diagonal / (count * (count - 1)))


def plotkin_bound(dim: int, min_distance: int) -> int | None:
    """Plotkin's upper bound on the size of a binary code, or ``None`` when it does not apply.

    For ``2d > N``, averaging the distances of all pairs gives
    ``K(K − 1) d ≤ Σ_{μ≠ν} d_H ≤ N K² / 2``, hence ``K ≤ 2d / (2d − N)``.
    """
    if 2 * min_distance <= dim:
        return None
    return (2 * min_distance) // (2 * min_distance - dim)


def hamming_separated(
    count: int,
    dim: int,
    min_distance: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    max_candidates: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``count`` patterns in {−1, +1}^dim with pairwise Hamming distance ≥ ``min_distance``.

    Construction (greedy rejection sampling): draw uniform random ±1 candidates in
    batches and accept each one whose distance to every accepted pattern (and to
    earlier accepted candidates of its batch) is at least ``min_distance``. Random
    codes reach distances up to about ``N/2 − √N`` easily; beyond that acceptance
    drops fast. Raises ``ValueError`` when ``count`` exceeds the Plotkin bound, or
    when ``max_candidates`` (default ``1000·count + 10000``) draws do not suffice.

    Returns:
        ``(count, dim)`` tensor of ±1 in ``dtype``.
    """
    check_int(count, "count", 1)
    check_int(dim, "dim", 1)
    check_int(min_distance, "min_distance", 0)
    if min_distance > dim:
        raise ValueError(f"min_distance must be ≤ dim={dim}, got {min_distance}")
    bound = plotkin_bound(dim, min_distance)
    if bound is not None and count > bound:
        raise ValueError(
            f"no {count} patterns of dim {dim} can have pairwise Hamming distance ≥ "
            f"{min_distance}: the Plotkin bound allows at most {bound}"
        )
    budget = 1000 * count + 10000 if max_candidates is None else max_candidates
    check_int(budget, "max_candidates", 1)
    rng = _resolve(seed, generator)
    accepted = torch.empty(0, dim, dtype=torch.float64)
    drawn = 0
    batch = max(64, min(4096, 4 * count))
    while accepted.shape[0] < count and drawn < budget:
        size = min(batch, budget - drawn)
        candidates = (2 * torch.randint(0, 2, (size, dim), generator=rng) - 1).to(torch.float64)
        drawn += size
        if accepted.shape[0]:
            nearest = ((dim - candidates @ accepted.T) / 2).min(dim=1).values
            candidates = candidates[nearest >= min_distance]
        accepted = _accept_within_batch(accepted, candidates, min_distance, count)
    if accepted.shape[0] < count:
        raise ValueError(
            f"found only {accepted.shape[0]} of {count} patterns with pairwise Hamming distance "
            f"≥ {min_distance} in dim {dim} after {drawn} random candidates; lower min_distance "
            f"or count, or raise max_candidates"
        )
    return accepted.to(dtype)


def _accept_within_batch(
    accepted: torch.Tensor, candidates: torch.Tensor, min_distance: int, count: int
) -> torch.Tensor:
    """Greedily add ``candidates`` (already far from ``accepted``) that are far from each other."""
    dim = candidates.shape[1]
    distances = (dim - candidates @ candidates.T) / 2
    keep: list[int] = []
    for index in range(candidates.shape[0]):
        if accepted.shape[0] + len(keep) >= count:
            break
        if all(bool(distances[index, j] >= min_distance) for j in keep):
            keep.append(index)
    return torch.cat([accepted, candidates[keep]])


def correlated_bipolar(
    count: int,
    dim: int,
    correlation: float,
    *,
    among: str = "patterns",
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``count`` ±1 patterns of length ``dim`` whose mean pairwise correlation is ``correlation``.

    Construction (shared latent): let ``q = √correlation``.

    * ``among="patterns"``: draw one latent ``z ∈ {±1}^dim``; entry ``ξ^μ_i`` copies
      ``z_i`` with probability ``q`` and is an independent fair sign otherwise. For
      ``μ ≠ ν``, ``E[ξ^μ_i ξ^ν_i] = q²`` (both copy) ``+ 0`` (otherwise), so the
      expected overlap ``ξ^μ·ξ^ν / N`` is ``correlation``; each entry is still ±1 with
      probability ½.
    * ``among="features"``: the same with the roles swapped — each pattern ``μ`` has
      its own latent sign ``a^μ`` that each feature copies with probability ``q`` —
      so features ``i ≠ j`` have correlation ``E[ξ_i ξ_j] = correlation`` across
      patterns (Bielmeier & Friedland 2025's "feature correlation").

    Returns:
        ``(count, dim)`` tensor of ±1 in ``dtype``.
    """
    check_int(count, "count", 1)
    check_int(dim, "dim", 1)
    check_probability(correlation, "correlation")
    if among not in ("patterns", "features"):
        raise ValueError(f"among must be 'patterns' or 'features', got {among!r}")
    rng = _resolve(seed, generator)
    q = math.sqrt(float(correlation))
    latent_shape = (1, dim) if among == "patterns" else (count, 1)
    latent = 2 * torch.randint(0, 2, latent_shape, generator=rng) - 1
    independent = 2 * torch.randint(0, 2, (count, dim), generator=rng) - 1
    copies = torch.rand(count, dim, generator=rng) < q
    return torch.where(copies, latent.expand(count, dim), independent).to(dtype)
