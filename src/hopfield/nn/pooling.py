"""``HopfieldPooling``: learnable state patterns pool a set (Ramsauer et al. 2020).

A fixed set of ``num_queries`` learnable state patterns ``ξ`` retrieves from the
input set ``Y = (y_1, …, y_L)`` used as stored patterns. Per head, with ``K = Y W_K``
and ``V = Y W_V``, the energy is ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` and the
update ``ξ ← softmax(β ξ Kᵀ) K``; the output is ``W_O softmax(β ξ Kᵀ) V``. This is the
pooling operation of "Hopfield Networks is All You Need" (ICLR 2021, §3), which
generalises attention-based multiple-instance pooling.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hopfield._validation import check_floating, check_int, check_rank
from hopfield.nn.hopfield import Hopfield

__all__ = ["HopfieldPooling"]


class HopfieldPooling(nn.Module):
    """Pool a set ``(B, L, S)`` into ``(B, num_queries, E)`` with learnable queries.

    Args:
        embed_dim: ``E``, width of the learnable state patterns and of the output.
        num_queries: number of learnable state patterns (pooled vectors per set).
        flatten: return ``(B, num_queries·E)`` instead of ``(B, num_queries, E)``.
        **options: keyword options of :class:`~hopfield.nn.hopfield.Hopfield`
            (``num_heads``, ``head_dim``, ``stored_dim``, ``beta``, ``learnable_beta``,
            ``update_steps``, ``tol``, ``normalize_patterns``, ``project_patterns``,
            ``dropout``, ``bias``, and for sparse retrieval ``normalizer``
            (softmax / sparsemax / entmax15), ``top_k`` and ``association``);
            inputs are always batch-first.

    Energy and update: see the module docstring (LSE energy, CCCP update).
    """

    def __init__(
        self, embed_dim: int, *, num_queries: int = 1, flatten: bool = False, **options: Any
    ) -> None:
        super().__init__()
        if "batch_first" in options:
            raise TypeError("HopfieldPooling takes batch-first inputs only; drop batch_first")
        if not isinstance(flatten, bool):
            raise TypeError(f"flatten must be a bool, got {type(flatten).__name__}")
        self.hopfield = Hopfield(embed_dim, **options)
        self.num_queries = check_int(num_queries, "num_queries")
        self.flatten = flatten
        scale = embed_dim**-0.5
        self.queries = nn.Parameter(torch.randn(num_queries, embed_dim) * scale)

    @property
    def embed_dim(self) -> int:
        return self.hopfield.embed_dim

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        options = self.hopfield.get_config()
        del options["batch_first"]
        return {**options, "num_queries": self.num_queries, "flatten": self.flatten}

    def forward(
        self, input: torch.Tensor, *, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pool ``input`` ``(B, L, S)`` (``key_padding_mask`` ``(B, L)``, True = ignore)."""
        check_floating(input, "input")
        check_rank(input, "input", 3, "(B, L, stored_dim)")
        queries = self.queries.to(input.dtype).expand(input.shape[0], -1, -1)
        pooled = self.hopfield(queries, input, key_padding_mask=key_padding_mask)
        return pooled.flatten(1) if self.flatten else pooled

    def attention(
        self, input: torch.Tensor, *, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Association weights ``(B, H, num_queries, L)`` of the final retrieval."""
        check_floating(input, "input")
        check_rank(input, "input", 3, "(B, L, stored_dim)")
        queries = self.queries.to(input.dtype).expand(input.shape[0], -1, -1)
        _, weights = self.hopfield(
            queries, input, key_padding_mask=key_padding_mask, need_weights=True
        )
        return weights
