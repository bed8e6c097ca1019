"""``HopfieldLayer``: learnable stored patterns used as a lookup (Ramsauer et al. 2020).

The input is the state pattern ``ξ``; the stored patterns ``Y`` (keys) and their
pattern projections (values) are parameters of the layer, so the layer is a
differentiable key-value memory. Per head, with ``K = Y W_K`` and ``V = Y_v W_V``,
the energy is ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²``, the state update is
``ξ ← softmax(β ξ Kᵀ) K`` and the output ``W_O softmax(β ξ Kᵀ) V``
("Hopfield Networks is All You Need", ICLR 2021, §3, layer ``HopfieldLayer``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hopfield._validation import check_bool, check_int, check_rank
from hopfield.nn.hopfield import Hopfield
from hopfield.nn.inputs import layer_input, module_dtype

__all__ = ["HopfieldLayer"]


class HopfieldLayer(nn.Module):
    """Look the input up in ``num_memories`` learnable stored patterns.

    Energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` of the input ``ξ`` against the
    learnable stored patterns; update ``ξ ← softmax(β ξ Kᵀ) K`` (Ramsauer et al. 2020).

    Args:
        embed_dim: ``E``, width of the input state patterns and of the output.
        num_memories: number of learnable stored patterns ``M``.
        batch_first: 3-d input ``(B, L, E)`` if True, else ``(L, B, E)`` (output alike);
            2-d input is always ``(B, E)``.
        **options: keyword options of :class:`~hopfield.nn.hopfield.Hopfield`
            (``num_heads``, ``head_dim``, ``stored_dim``, ``beta``, ``learnable_beta``,
            ``update_steps``, ``tol``, ``normalize_patterns``, ``project_patterns``,
            ``dropout``, ``bias``, and for sparse retrieval ``normalizer``
            (softmax / sparsemax / entmax15), ``top_k`` and ``association``).

    Parameters ``stored_patterns`` and ``pattern_values`` have shape ``(M, S)``
    (``S = stored_dim``, default ``E``). Input ``(B, L, E)`` or ``(B, E)``; output alike.
    Inputs follow the layer's dtype; empty inputs give empty outputs
    (:mod:`hopfield.nn.inputs`).
    """

    def __init__(
        self, embed_dim: int, num_memories: int, *, batch_first: bool = True, **options: Any
    ) -> None:
        super().__init__()
        self.batch_first = check_bool(batch_first, "batch_first")
        self.hopfield = Hopfield(embed_dim, batch_first=True, **options)
        self.num_memories = check_int(num_memories, "num_memories")
        width = self.hopfield.stored_dim
        self.stored_patterns = nn.Parameter(torch.randn(num_memories, width) * width**-0.5)
        self.pattern_values = nn.Parameter(torch.randn(num_memories, width) * width**-0.5)

    @property
    def embed_dim(self) -> int:
        return self.hopfield.embed_dim

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        options = self.hopfield.get_config()
        options["batch_first"] = self.batch_first
        return {**options, "num_memories": self.num_memories}

    def _check(self, input: object) -> torch.Tensor:
        """Batch-first ``(B, L, E)`` state patterns in the layer's dtype."""
        tensor = layer_input(input, "input", module_dtype(self))
        layout = "(B, L, embed_dim)" if self.batch_first else "(L, B, embed_dim)"
        check_rank(tensor, "input", (2, 3), f"(B, embed_dim) or {layout}")
        if tensor.shape[-1] != self.embed_dim:
            raise ValueError(
                f"input must have last dim embed_dim={self.embed_dim}, "
                f"got shape {tuple(tensor.shape)}"
            )
        if tensor.ndim == 2:
            return tensor.unsqueeze(1)
        return tensor if self.batch_first else tensor.transpose(0, 1)

    def _restore(self, output: torch.Tensor, ndim: int) -> torch.Tensor:
        if ndim == 2:
            return output.squeeze(1)
        return output if self.batch_first else output.transpose(0, 1)

    def _memories(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = state.dtype
        return self.stored_patterns.to(dtype)[None], self.pattern_values.to(dtype)[None]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Retrieve ``(B, [L,] E)`` from the learnable memories."""
        state = self._check(input)
        stored, values = self._memories(state)
        output, _ = self.hopfield._retrieve(state, stored, values, None, need_weights=False)
        return self._restore(output, input.ndim)

    def attention(self, input: torch.Tensor) -> torch.Tensor:
        """Association weights ``(B, H, L, M)`` (``L = 1`` for ``(B, E)`` input)."""
        state = self._check(input)
        stored, values = self._memories(state)
        _, weights = self.hopfield._retrieve(state, stored, values, None, need_weights=True)
        assert weights is not None
        return weights
