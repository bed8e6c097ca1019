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

from hopfield._validation import check_bool, check_int, check_rank
from hopfield.nn.hopfield import Hopfield
from hopfield.nn.inputs import layer_input, module_dtype

__all__ = ["HopfieldPooling"]


class HopfieldPooling(nn.Module):
    """Pool a set ``(B, L, S)`` into ``(B, num_queries, E)`` with learnable queries.

    Energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` of the learnable state patterns
    ``ξ`` against the projected set ``k_μ = W_K y_μ``; update ``ξ ← softmax(β ξ Kᵀ) K``
    (Ramsauer et al. 2020, §3: Hopfield pooling).

    Args:
        embed_dim: ``E``, width of the learnable state patterns and of the output.
        num_queries: number of learnable state patterns (pooled vectors per set).
        flatten: return ``(B, num_queries·E)`` instead of ``(B, num_queries, E)``.
        batch_first: input ``(B, L, S)`` and output ``(B, num_queries, E)`` if True,
            else ``(L, B, S)`` and ``(num_queries, B, E)`` (flattened output is always
            ``(B, num_queries·E)``).
        **options: keyword options of :class:`~hopfield.nn.hopfield.Hopfield`
            (``num_heads``, ``head_dim``, ``stored_dim``, ``beta``, ``learnable_beta``,
            ``update_steps``, ``tol``, ``normalize_patterns``, ``project_patterns``,
            ``dropout``, ``bias``, and for sparse retrieval ``normalizer``
            (softmax / sparsemax / entmax15), ``top_k`` and ``association``).

    An empty batch gives an empty result; an empty set (``L = 0``) raises ``ValueError``
    (nothing to pool). Inputs follow the layer's dtype (:mod:`hopfield.nn.inputs`).
    """

    def __init__(
        self,
        embed_dim: int,
        *,
        num_queries: int = 1,
        flatten: bool = False,
        batch_first: bool = True,
        **options: Any,
    ) -> None:
        super().__init__()
        self.flatten = check_bool(flatten, "flatten")
        self.batch_first = check_bool(batch_first, "batch_first")
        self.hopfield = Hopfield(embed_dim, batch_first=True, **options)
        self.num_queries = check_int(num_queries, "num_queries")
        scale = embed_dim**-0.5
        self.queries = nn.Parameter(torch.randn(num_queries, embed_dim) * scale)

    @property
    def embed_dim(self) -> int:
        return self.hopfield.embed_dim

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        options = self.hopfield.get_config()
        options["batch_first"] = self.batch_first
        return {**options, "num_queries": self.num_queries, "flatten": self.flatten}

    def _inputs(self, input: object) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch-first set (cast to the layer's dtype) and the expanded queries."""
        layout = "(B, L, stored_dim)" if self.batch_first else "(L, B, stored_dim)"
        tensor = layer_input(input, "input", module_dtype(self))
        check_rank(tensor, "input", 3, layout)
        shape = tuple(tensor.shape)
        if not self.batch_first:
            tensor = tensor.transpose(0, 1)
        if tensor.shape[1] == 0 and tensor.shape[0] > 0:
            raise ValueError(f"input must hold at least one element per set {layout}, got {shape}")
        queries = self.queries.to(tensor.dtype).expand(tensor.shape[0], -1, -1)
        return tensor, queries

    def forward(
        self, input: torch.Tensor, *, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pool ``input`` (``key_padding_mask`` ``(B, L)``, True = ignore)."""
        tensor, queries = self._inputs(input)
        pooled = self.hopfield(queries, tensor, key_padding_mask=key_padding_mask)
        if self.flatten:
            return pooled.flatten(1)
        return pooled if self.batch_first else pooled.transpose(0, 1)

    def attention(
        self, input: torch.Tensor, *, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Association weights ``(B, H, num_queries, L)`` of the final retrieval."""
        tensor, queries = self._inputs(input)
        _, weights = self.hopfield(
            queries, tensor, key_padding_mask=key_padding_mask, need_weights=True
        )
        return weights
