"""Streamed separation-function fields of Dense Associative Memories.

Krotov & Hopfield 2016, "Dense Associative Memory for Pattern Recognition": energy
``E(x) = −Σ_μ F(ξ_μ·x)``, update ``x ← Σ_μ F'(ξ_μ·x) v_μ``; the field adds across
chunks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hopfield._validation import check_finite, check_floating
from hopfield.ops.chunking import check_operands, chunk_slices, needs_grad, resolve_chunk_size

__all__ = ["polynomial_retrieve", "separation_retrieve"]


def separation_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    derivative: Callable[[torch.Tensor], torch.Tensor],
    *,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> torch.Tensor:
    """Dense-AM field ``Σ_μ F'(ξ_μ·x) v_μ`` for any separation derivative ``F'``, streamed.

    Krotov & Hopfield (2016): with ``E(x) = −Σ_μ F(ξ_μ·x)`` the continuous update is
    ``x ← Ξᵀ F'(Ξ x)`` (``values = None``: keys are the values). ``derivative`` maps a
    ``(B, C)`` block of overlaps to ``F'`` of it (it may work in place).
    Returns ``(B, Dv)``.
    """
    check_operands(queries, keys, values)
    vals = keys if values is None else values
    num_queries, num_memories = queries.shape[0], keys.shape[0]
    out = queries.new_zeros(num_queries, vals.shape[1])
    if num_memories == 0:
        return out
    chunk = resolve_chunk_size(
        num_queries,
        num_memories,
        keys.shape[1],
        itemsize=queries.element_size(),
        device=queries.device,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    inplace = not needs_grad(queries, keys, vals)
    for rows in chunk_slices(num_memories, chunk):
        field = derivative(queries @ keys[rows].T)
        if inplace:
            out.addmm_(field, vals[rows])
        else:
            out = torch.addmm(out, field, vals[rows])
    return out


def polynomial_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    degree: int,
    *,
    rectified: bool = False,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> torch.Tensor:
    """Polynomial Dense-AM field ``Σ_μ n (ξ_μ·x)^{n−1} v_μ`` (``F(z) = zⁿ``, or
    ``ReLU(z)ⁿ`` with ``rectified``), streamed; Krotov & Hopfield (2016).

    The overlap block is raised to the power in place (no extra temporaries).
    Returns ``(B, Dv)``.
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree must be an int ≥ 1, got {degree!r}")
    check_finite(check_floating(queries, "queries"), "queries")
    power = degree - 1

    def derivative(overlaps: torch.Tensor) -> torch.Tensor:
        if not needs_grad(overlaps):
            if rectified:
                overlaps.relu_()
            return overlaps.pow_(power).mul_(float(degree))
        base = overlaps.relu() if rectified else overlaps
        return base.pow(power) * float(degree)

    return separation_retrieve(
        queries, keys, values, derivative, chunk_size=chunk_size, budget_bytes=budget_bytes
    )
