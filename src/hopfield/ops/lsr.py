"""Streamed log-sum-ReLU retrieval (Epanechnikov energy).

Hoover et al. 2025, "Dense Associative Memory with Epanechnikov Energy": energy
``E(x) = −log Σ_μ ReLU(1 − (β/2)‖x − ξ_μ‖²)`` whose exact one-step update is the mean
of the active memories. Sums are plain sums, so chunks simply add. The expanded
distance ``‖x‖² − 2x·ξ + ‖ξ‖²`` loses about ``u·√D·(‖x‖ + ‖ξ‖)²`` to rounding,
which at large β would misclassify memories at the support boundary; entries
within that margin of the support are recomputed from the exact difference
``x − ξ`` (few, as the kernel has compact support), so active sets and the
one-step retrieval are exact even at β = 1e6 in float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from hopfield.ops.chunking import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    check_beta,
    check_operands,
    chunk_slices,
    key_sq_norms_or_compute,
    needs_grad,
    resolve_chunk_size,
)

__all__ = ["LSRPartials", "combine_lsr_partials", "lsr_partials", "lsr_retrieve"]


class LSRPartials(NamedTuple):
    """Partial log-sum-ReLU state: ``sum_relu`` ``(B,)`` = ``Σ_μ ReLU(1 − (β/2)‖x − ξ_μ‖²)``,
    ``num_active`` ``(B,)`` = number of active memories ``|B(x)|``, ``weighted`` ``(B, Dv)``
    or ``None`` = ``Σ_{μ∈B(x)} v_μ`` (indicator weighting) or ``Σ_μ ReLU(·) v_μ``."""

    sum_relu: torch.Tensor
    num_active: torch.Tensor
    weighted: torch.Tensor | None


def lsr_partials(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    *,
    weighting: str = "indicator",
    key_sq_norms: torch.Tensor | None = None,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> LSRPartials:
    """Streaming log-sum-ReLU sums (Epanechnikov kernel, Hoover et al. 2025).

    With ``k_μ(x) = ReLU(1 − (β/2)‖x − ξ_μ‖²)`` returns :class:`LSRPartials`:
    ``Σ_μ k_μ``, ``|B(x)| = #{μ : k_μ > 0}`` and ``Σ_μ a_μ v_μ`` where
    ``a_μ = 1[k_μ > 0]`` (``weighting="indicator"``, used by the exact mean-of-active
    update) or ``a_μ = k_μ`` (``"relu"``). Partials add across chunks and shards
    (:func:`combine_lsr_partials`). ``key_sq_norms`` are ``‖ξ_μ‖²`` (computed here if
    not given). Entries within rounding distance of a support boundary are
    recomputed from ``x − ξ_μ`` (see the module docstring); under autograd the
    plain expansion is used.
    """
    check_operands(queries, keys, values)
    beta = check_beta(beta)
    if weighting not in ("indicator", "relu"):
        raise ValueError(f"weighting must be 'indicator' or 'relu', got {weighting!r}")
    norms = key_sq_norms_or_compute(key_sq_norms, keys)
    num_queries, num_memories = queries.shape[0], keys.shape[0]
    sum_relu = queries.new_zeros(num_queries)
    count = queries.new_zeros(num_queries)
    weighted = None if values is None else queries.new_zeros(num_queries, values.shape[1])
    if num_memories == 0 or num_queries == 0:
        return LSRPartials(sum_relu, count, weighted)
    chunk = resolve_chunk_size(
        num_queries,
        num_memories,
        keys.shape[1],
        itemsize=queries.element_size(),
        device=queries.device,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    inplace = not needs_grad(queries, keys, values)
    scaled = queries * beta
    query_sq = queries.square().sum(dim=1, keepdim=True)
    query_term = (-0.5 * beta) * query_sq
    margin = _expansion_margin(query_sq, norms, beta, queries.dtype)
    refine = inplace and bool(margin.max() > _REFINE_THRESHOLD)
    pair_budget = max(
        1, (budget_bytes or DEFAULT_MEMORY_BUDGET_BYTES) // (keys.shape[1] * queries.element_size())
    )
    for rows in chunk_slices(num_memories, chunk):
        bias = 1.0 - (0.5 * beta) * norms[rows]
        block = torch.addmm(bias, scaled, keys[rows].T)
        if refine:
            kernel = _refined_kernel(
                block.add_(query_term), queries, keys[rows], beta, margin, pair_budget
            )
        elif inplace:
            kernel = block.add_(query_term).relu_()
        else:
            kernel = (block + query_term).relu()
        sum_relu = sum_relu + kernel.sum(dim=1)
        if weighting == "indicator":
            active = kernel.sign_() if inplace else kernel.sign()
            count = count + active.sum(dim=1)
        else:
            active = kernel
            count = count + (kernel > 0).sum(dim=1).to(count.dtype)
        if weighted is not None and values is not None:
            if inplace:
                weighted.addmm_(active, values[rows])
            else:
                weighted = torch.addmm(weighted, active, values[rows])
    return LSRPartials(sum_relu, count, weighted)


_REFINE_THRESHOLD = 1e-7


def _expansion_margin(
    query_sq: torch.Tensor, key_sq: torch.Tensor, beta: float, dtype: torch.dtype
) -> torch.Tensor:
    """Bound (with a safety factor) on the rounding error of
    ``1 − (β/2)(‖x‖² − 2x·ξ + ‖ξ‖²)`` per query, ``(B, 1)``: the expansion loses
    ``≈ u √D (‖x‖ + ‖ξ‖)²`` in ``‖x − ξ‖²``."""
    unit = torch.finfo(dtype).eps
    largest_key = key_sq.max().sqrt()
    return (4.0 * beta * unit) * (query_sq.sqrt() + largest_key).square()


def _refined_kernel(
    block: torch.Tensor,
    queries: torch.Tensor,
    keys: torch.Tensor,
    beta: float,
    margin: torch.Tensor,
    pair_budget: int,
) -> torch.Tensor:
    """``ReLU(1 − (β/2)‖x − ξ‖²)`` from the expanded ``block`` (pre-ReLU), with every
    entry within rounding distance of the support recomputed from the exact
    difference ``x − ξ`` (candidates are few: the kernel has compact support)."""
    scale = float(keys.shape[1]) ** 0.5
    candidates = (block > -scale * margin).nonzero()
    block.relu_()
    for start in range(0, candidates.shape[0], pair_budget):
        pairs = candidates[start : start + pair_budget]
        diff = queries[pairs[:, 0]] - keys[pairs[:, 1]]
        exact = (1.0 - (0.5 * beta) * diff.square().sum(dim=1)).relu_()
        block[pairs[:, 0], pairs[:, 1]] = exact
    return block


def combine_lsr_partials(parts: Sequence[LSRPartials]) -> LSRPartials:
    """Merge :class:`LSRPartials` over disjoint memory sets (all fields add)."""
    if len(parts) == 0:
        raise ValueError("parts must contain at least one LSRPartials, got an empty sequence")
    sum_relu, count, weighted = parts[0]
    for part in parts[1:]:
        sum_relu = sum_relu + part.sum_relu
        count = count + part.num_active
        if weighted is not None and part.weighted is not None:
            weighted = weighted + part.weighted
    return LSRPartials(sum_relu, count, weighted)


def lsr_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    *,
    key_sq_norms: torch.Tensor | None = None,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean of the active memories and the kernel sums, streamed.

    Returns ``(mean (B, Dv), sum_relu (B,), count (B,))`` with
    ``mean = Σ_{μ∈B(x)} v_μ / |B(x)|`` (the exact one-step LSR update,
    Hoover et al. 2025); rows with no active memory get ``mean = 0`` and
    ``count = 0``: callers decide what to do there.
    """
    vals = keys if values is None else values
    parts = lsr_partials(
        queries,
        keys,
        vals,
        beta,
        weighting="indicator",
        key_sq_norms=key_sq_norms,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    assert parts.weighted is not None
    mean = parts.weighted / parts.num_active.clamp_min(1.0)[:, None]
    return mean, parts.sum_relu, parts.num_active
