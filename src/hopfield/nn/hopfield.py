"""``Hopfield``: state patterns attend to stored patterns (Ramsauer et al. 2020).

Ramsauer et al. (2020) "Hopfield Networks is All You Need" (ICLR 2021) show that the
modern Hopfield network with the log-sum-exp (LSE) energy

    E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½ ‖ξ‖²              (constants dropped)

has the CCCP update

    ξ ← softmax(β ξ Kᵀ) K,

which is exactly softmax attention with scale β. The layer below runs that update in
each head's projected space: the state (query) patterns ``Q = ξ W_Q``, stored (key)
patterns ``K = Y W_K`` and pattern projections (values) ``V = Y W_V``; ``update_steps − 1``
updates ``ξ ← softmax(β ξ Kᵀ + M) K`` refine the state, then the final association
``softmax(β ξ Kᵀ + M) V`` is projected back with ``W_O``. ``M`` is the additive mask
(``−∞`` where a stored pattern is ignored). Each update never raises ``E`` (CCCP).

Fast path: :func:`torch.nn.functional.scaled_dot_product_attention` with
``scale=β`` (fused, never materialises the association matrix when the backend
allows). The explicit softmax path runs only when the attention weights are asked
for (``need_weights=True``); both give the same numbers up to float rounding.

Sparse retrieval. The softmax is the gradient of the LSE (a Shannon-entropy
regularised max). Replacing the entropy by the Tsallis α-entropy ``H_α`` gives the
sparse modern Hopfield energy (Hu et al. 2023, "On Sparse Modern Hopfield Model";
Martins & Astudillo 2016; Peters, Niculae & Martins 2019)

    E_α(ξ) = −max_{p ∈ Δ} [⟨p, β K ξ⟩ + H_α(p)] / β + ½ ‖ξ‖²,

whose CCCP update is ``ξ ← α-entmax(β ξ Kᵀ) K``: ``normalizer="sparsemax"`` (α = 2)
or ``"entmax15"`` (α = 1.5) give association weights with exact zeros. ``top_k``
keeps the ``k`` largest scores per state pattern and sets the others to ``−∞``
before normalising, so unselected stored patterns get weight exactly 0 and do not
influence the output (the energy is the LSE over the selected patterns only).
``association=`` replaces the association step entirely by a callable with the
signature of :func:`~hopfield.nn.association.associate`
(e.g. :class:`~hopfield.nn.binary_attention.BinaryCAMAssociation`).
"""

from __future__ import annotations

import math
from typing import Any, Literal, overload

import torch
from torch import nn

from hopfield._validation import (
    check_bool,
    check_int,
    check_positive,
    check_probability,
    check_rank,
)
from hopfield.nn.association import (
    Association,
    associate,
    build_mask,
    merge_heads,
    sparse_associate,
    split_heads,
)
from hopfield.nn.energies import (
    NORMALIZERS,
    lse_energy,
    regularized_max_energy,
    topk_mask_scores,
)
from hopfield.nn.inputs import layer_input, module_dtype
from hopfield.ops.normalizers import Normalizer, with_top_k

__all__ = [
    "NORMALIZERS",
    "Association",
    "Hopfield",
    "lse_energy",
    "regularized_max_energy",
    "topk_mask_scores",
]


class Hopfield(nn.Module):
    """Multi-head modern Hopfield layer: ``num_heads`` LSE associative memories.

    Energy per head (Ramsauer et al. 2020): ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²``
    over projected stored patterns ``k_μ``; update ``ξ ← softmax(β ξ Kᵀ) K``
    (``update_steps − 1`` times, or until ``max |Δξ| ≤ tol``), then the output
    ``W_O softmax(β ξ Kᵀ) V``. With one step, identity projections and
    ``β = 1/√d`` this is ``nn.MultiheadAttention``.

    Sparse retrieval (Hu et al. 2023, "On Sparse Modern Hopfield Model"): with
    ``normalizer="sparsemax"`` / ``"entmax15"`` the energy is the Tsallis-regularised
    max ``E_α(ξ) = −β⁻¹ max_{p∈Δ}[⟨p, β Kξ⟩ + H_α(p)] + ½‖ξ‖²`` (α = 2 / 1.5;
    Martins & Astudillo 2016, Peters et al. 2019) and every softmax above becomes
    α-entmax, which has exact zeros; ``normalizer="softmax"`` is the LSE energy.
    ``top_k = k`` sets all but the ``k`` largest scores ``β k_μ·ξ + M_μ`` of each
    state pattern to ``−∞`` before normalising (exact top-k: the other stored patterns
    get weight 0 and cannot change the output; the energy is the chosen one over the
    selected patterns). Softmax without ``top_k`` keeps the SDPA fast path.

    Args:
        embed_dim: ``E``, width of the state patterns (queries) and of the output.
        num_heads: number of heads ``H``.
        head_dim: width ``d`` of each head's space; default ``embed_dim // num_heads``.
        stored_dim: width ``S`` of the stored patterns (keys/values); default ``embed_dim``.
        beta: inverse temperature ``β``; default ``1/√d``.
        learnable_beta: learn ``β`` (parametrised as ``log β``, so it stays positive).
        update_steps: maximal number of updates (≥ 1); the last one reads the values.
        tol: stop the state updates early once ``max |ξ_new − ξ| ≤ tol`` over the batch.
        normalize_patterns: layer norm of state, stored and value inputs before projecting.
        project_patterns: learnable ``W_Q, W_K, W_V, W_O``; if False they are identities
            (requires ``S = E = H·d``) and the heads split the embedding.
        dropout: dropout on the final association weights (training only).
        batch_first: inputs are ``(B, L, ·)``; if False ``(L, B, ·)``.
        bias: biases in the projections.
        normalizer: a :class:`~hopfield.ops.normalizers.Normalizer` —
            ``Softmax()`` (LSE energy), ``Sparsemax()`` or ``Entmax15()`` (Tsallis
            energies, sparse weights), with its own ``top_k`` — or its name as shorthand.
        top_k: keep only the ``k`` largest scores per state pattern (``None``: all;
            ``k ≥ Lk`` is full retrieval).
        association: a callable with the signature of :func:`~hopfield.nn.association.associate`
            ``(state, stored, values, mask, beta, dropout, need_weights) ->
            (output, weights)`` replacing the association step (state updates and
            final read-out), e.g. :class:`~hopfield.nn.binary_attention.BinaryCAMAssociation`;
            exclusive with ``normalizer``/``top_k``. Not saved by :mod:`hopfield.io`.
            A :class:`~hopfield.ops.normalizers.Normalizer` here (``association=
            Sparsemax(top_k=8)``) is the same as passing it as ``normalizer`` (saved).

    Shapes (``batch_first=True``): query ``(B, Lq, E)``; key and value ``(B, Lk, S)``;
    output ``(B, Lq, E)``; attention weights ``(B, H, Lq, Lk)`` per head (not averaged;
    average with ``.mean(1)``).
    """

    def __init__(
        self,
        embed_dim: int,
        *,
        num_heads: int = 1,
        head_dim: int | None = None,
        stored_dim: int | None = None,
        beta: float | None = None,
        learnable_beta: bool = False,
        update_steps: int = 1,
        tol: float | None = None,
        normalize_patterns: bool = False,
        project_patterns: bool = True,
        dropout: float = 0.0,
        batch_first: bool = True,
        bias: bool = True,
        normalizer: str | Normalizer = "softmax",
        top_k: int | None = None,
        association: Association | Normalizer | None = None,
    ) -> None:
        super().__init__()
        self.embed_dim = check_int(embed_dim, "embed_dim")
        self.num_heads = check_int(num_heads, "num_heads")
        self.stored_dim = check_int(
            stored_dim if stored_dim is not None else embed_dim, "stored_dim"
        )
        self.head_dim = self._resolve_head_dim(head_dim, project_patterns)
        self.init_beta = None if beta is None else check_positive(beta, "beta")
        self.learnable_beta = check_bool(learnable_beta, "learnable_beta")
        self.update_steps = check_int(update_steps, "update_steps")
        self.tol = None if tol is None else check_positive(tol, "tol", allow_zero=True)
        self.normalize_patterns = check_bool(normalize_patterns, "normalize_patterns")
        self.project_patterns = check_bool(project_patterns, "project_patterns")
        self.dropout = check_probability(dropout, "dropout")
        self.batch_first = check_bool(batch_first, "batch_first")
        self.bias = check_bool(bias, "bias")
        if isinstance(association, Normalizer):  # association=Sparsemax(top_k=8)
            if normalizer != "softmax" or top_k is not None:
                raise ValueError("association is a normaliser: leave normalizer and top_k unset")
            normalizer, association = association, None
        retrieval = with_top_k(normalizer, None if top_k is None else check_int(top_k, "top_k"))
        self.normalizer, self.top_k = retrieval.name, retrieval.top_k
        self.association = _check_association(association, self.normalizer, self.top_k)

        beta0 = self.init_beta if self.init_beta is not None else 1.0 / math.sqrt(self.head_dim)
        self._fixed_beta = beta0
        if self.learnable_beta:
            self.log_beta = nn.Parameter(torch.tensor(math.log(beta0)))
        inner = self.num_heads * self.head_dim
        self.query_proj = self._linear(self.embed_dim, inner)
        self.key_proj = self._linear(self.stored_dim, inner)
        self.value_proj = self._linear(self.stored_dim, inner)
        self.out_proj = self._linear(inner, self.embed_dim)
        self.query_norm = self._norm(self.embed_dim)
        self.key_norm = self._norm(self.stored_dim)
        self.value_norm = self._norm(self.stored_dim)

    # ------------------------------------------------------------------ construction

    def _resolve_head_dim(self, head_dim: int | None, project: bool) -> int:
        if head_dim is None:
            if self.embed_dim % self.num_heads:
                raise ValueError(
                    f"embed_dim ({self.embed_dim}) must be divisible by num_heads "
                    f"({self.num_heads}) unless head_dim is given"
                )
            head_dim = self.embed_dim // self.num_heads
        head_dim = check_int(head_dim, "head_dim")
        if not project and not (self.stored_dim == self.embed_dim == self.num_heads * head_dim):
            raise ValueError(
                "project_patterns=False needs stored_dim == embed_dim == num_heads * head_dim, "
                f"got stored_dim={self.stored_dim}, embed_dim={self.embed_dim}, "
                f"num_heads * head_dim={self.num_heads * head_dim}"
            )
        return head_dim

    def _linear(self, fan_in: int, fan_out: int) -> nn.Module:
        if not self.project_patterns:
            return nn.Identity()
        return nn.Linear(fan_in, fan_out, bias=self.bias)

    def _norm(self, dim: int) -> nn.Module:
        return nn.LayerNorm(dim) if self.normalize_patterns else nn.Identity()

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`).

        Raises ``ValueError`` when a custom ``association`` callable is set (a
        callable cannot be written to JSON).
        """
        if self.association is not None:
            raise ValueError(
                "a Hopfield layer with a custom association callable cannot be "
                "serialised; rebuild it with association= after loading"
            )
        return {
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "head_dim": self.head_dim,
            "stored_dim": self.stored_dim,
            "beta": self.init_beta,
            "learnable_beta": self.learnable_beta,
            "update_steps": self.update_steps,
            "tol": self.tol,
            "normalize_patterns": self.normalize_patterns,
            "project_patterns": self.project_patterns,
            "dropout": self.dropout,
            "batch_first": self.batch_first,
            "bias": self.bias,
            "normalizer": self.normalizer,
            "top_k": self.top_k,
        }

    @property
    def beta(self) -> float | torch.Tensor:
        """Inverse temperature ``β``: a float, or a 0-d tensor when learnable."""
        return self.log_beta.exp() if self.learnable_beta else self._fixed_beta

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, head_dim={self.head_dim}, "
            f"stored_dim={self.stored_dim}, update_steps={self.update_steps}, "
            f"normalizer={self.normalizer}, top_k={self.top_k}"
        )

    # ------------------------------------------------------------------ public API

    @overload
    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = ...,
        value: torch.Tensor | None = ...,
        *,
        key_padding_mask: torch.Tensor | None = ...,
        attn_mask: torch.Tensor | None = ...,
        need_weights: Literal[False] = ...,
    ) -> torch.Tensor: ...

    @overload
    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = ...,
        value: torch.Tensor | None = ...,
        *,
        key_padding_mask: torch.Tensor | None = ...,
        attn_mask: torch.Tensor | None = ...,
        need_weights: Literal[True],
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Retrieve from the stored patterns ``key`` (default: ``query``, self-attention).

        Args:
            query: state patterns ``(B, Lq, E)``.
            key: stored patterns ``(B, Lk, S)``; default ``query``.
            value: pattern projections ``(B, Lk, S)``; default ``key``.
            key_padding_mask: ``(B, Lk)``; bool (True = ignore that stored pattern) or
                float (added to the logits).
            attn_mask: ``(Lq, Lk)`` or ``(B·H, Lq, Lk)``; bool (True = not allowed) or
                float (added to the logits), as in ``nn.MultiheadAttention``.
            need_weights: also return the final association weights ``(B, H, Lq, Lk)``
                (uses the explicit softmax path).

        Returns:
            ``(B, Lq, E)``, or ``(output, weights)`` when ``need_weights``.
            (Sequence-first ``(L, B, ·)`` in and out when ``batch_first=False``.)
        """
        query, key, value = self._check_inputs(query, key, value)
        mask = self._build_mask(key_padding_mask, attn_mask, query, key)
        output, weights = self._retrieve(query, key, value, mask, need_weights)
        if not self.batch_first:
            output = output.transpose(0, 1)
        if need_weights:
            assert weights is not None
            return output, weights
        return output

    def energy(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Energy ``(B, H, Lq)`` of the projected state patterns against the stored ones.

        ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` with ``ξ = W_Q q`` and ``k_μ = W_K y_μ``
        in each head (masked stored patterns excluded). Every state update of
        :meth:`forward` never increases it (CCCP, Ramsauer et al. 2020, Theorem 1).
        With a sparse ``normalizer`` or ``top_k`` it is the matching
        :func:`regularized_max_energy` (also never raised by the updates). A custom
        ``association`` has no known energy: ``ValueError``.
        """
        if self.association is not None:
            raise ValueError("energy() is undefined for a custom association callable")
        query, key, _ = self._check_inputs(query, key, None)
        mask = self._build_mask(key_padding_mask, None, query, key)
        state = split_heads(self.query_proj(self.query_norm(query)), self.num_heads)
        stored = split_heads(self.key_proj(self.key_norm(key)), self.num_heads)
        if self.normalizer == "softmax" and self.top_k is None:
            return lse_energy(state, stored, self.beta, mask)
        return regularized_max_energy(
            state, stored, self.beta, self.normalizer, mask=mask, top_k=self.top_k
        )

    # ------------------------------------------------------------------ validation

    def _check_inputs(
        self, query: torch.Tensor, key: torch.Tensor | None, value: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Validate shapes and dtypes, move to batch-first; key defaults to query, value to key.

        Inputs follow the layer's dtype (:mod:`hopfield.nn.inputs`).
        """
        layout = "(B, L, {})" if self.batch_first else "(L, B, {})"
        dtype = module_dtype(self)
        query = layer_input(query, "query", dtype)
        check_rank(query, "query", 3, layout.format("embed_dim"))
        if query.shape[-1] != self.embed_dim:
            raise ValueError(
                f"query must have last dim embed_dim={self.embed_dim}, "
                f"got shape {tuple(query.shape)}"
            )
        if key is None:
            if self.stored_dim != self.embed_dim:
                raise ValueError(
                    f"key is required when stored_dim ({self.stored_dim}) != embed_dim "
                    f"({self.embed_dim})"
                )
            key = query
        key = self._check_stored(key, "key", query, layout)
        value = key if value is None else self._check_stored(value, "value", query, layout)
        if value.shape[:-1] != key.shape[:-1]:
            raise ValueError(
                f"value must have the same leading dims as key {tuple(key.shape[:-1])}, "
                f"got shape {tuple(value.shape)}"
            )
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if key.shape[1] == 0 and query.shape[1] > 0 and query.shape[0] > 0:
            raise ValueError(
                "key must hold at least one stored pattern per batch element when there are "
                f"queries, got key of shape {tuple(key.shape)}"
            )
        return query, key, value

    def _check_stored(
        self, tensor: object, name: str, query: torch.Tensor, layout: str
    ) -> torch.Tensor:
        stored = layer_input(tensor, name, module_dtype(self) or query.dtype)
        check_rank(stored, name, 3, layout.format("stored_dim"))
        batch_dim = 0 if self.batch_first else 1
        if stored.shape[-1] != self.stored_dim or stored.shape[batch_dim] != query.shape[batch_dim]:
            raise ValueError(
                f"{name} must have batch size {query.shape[batch_dim]} and last dim "
                f"stored_dim={self.stored_dim}, got shape {tuple(stored.shape)}"
            )
        if stored.dtype != query.dtype:
            raise TypeError(
                f"{name} must have the dtype of query ({query.dtype}), got {stored.dtype}"
            )
        return stored

    def _build_mask(
        self,
        key_padding_mask: torch.Tensor | None,
        attn_mask: torch.Tensor | None,
        query: torch.Tensor,
        key: torch.Tensor,
    ) -> torch.Tensor | None:
        """Additive mask broadcastable to ``(B, H, Lq, Lk)`` (batch-first tensors)."""
        shape = (query.shape[0], self.num_heads, query.shape[1], key.shape[1])
        return build_mask(key_padding_mask, attn_mask, shape, query.dtype)

    # ------------------------------------------------------------------ dynamics

    def _retrieve(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None,
        need_weights: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Project, run the state updates, read the values, project back."""
        heads = self.num_heads
        state = split_heads(self.query_proj(self.query_norm(query)), heads)
        stored = split_heads(self.key_proj(self.key_norm(key)), heads)
        values = split_heads(self.value_proj(self.value_norm(value)), heads)
        if stored.shape[0] != state.shape[0]:  # broadcast shared memories (HopfieldLayer)
            stored = stored.expand(state.shape[0], -1, -1, -1)
            values = values.expand(state.shape[0], -1, -1, -1)
        state = self._update_states(state, stored, mask)
        dropout = self.dropout if self.training else 0.0
        retrieved, weights = self._associate(
            state, stored, values, mask, self.beta, dropout, need_weights
        )
        return self.out_proj(merge_heads(retrieved)), weights

    def _update_states(
        self, state: torch.Tensor, stored: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """``update_steps − 1`` CCCP updates ``ξ ← softmax(β ξ Kᵀ + M) K`` (early stop at tol).

        The softmax is the layer's normalisation (sparsemax / entmax / top-k) or the
        custom association, so the updates descend the matching energy.
        """
        for _ in range(self.update_steps - 1):
            new_state, _ = self._associate(state, stored, stored, mask, self.beta, 0.0, False)
            converged = self.tol is not None and bool((new_state - state).abs().amax() <= self.tol)
            state = new_state
            if converged:
                break
        return state

    def _associate(
        self,
        state: torch.Tensor,
        stored: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor | None,
        beta: float | torch.Tensor,
        dropout: float,
        need_weights: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One association step with this layer's normalisation (or custom callable)."""
        if self.association is not None:
            return self.association(state, stored, values, mask, beta, dropout, need_weights)
        if self.normalizer == "softmax" and self.top_k is None:
            return associate(state, stored, values, mask, beta, dropout, need_weights)
        return sparse_associate(
            state, stored, values, mask, beta, dropout, need_weights,
            normalizer=self.normalizer, top_k=self.top_k,
        )  # fmt: skip


def _check_association(value: object, normalizer: str, top_k: int | None) -> Association | None:
    if value is None:
        return None
    if not callable(value):
        raise TypeError(
            "association must be a callable (state, stored, values, mask, beta, dropout, "
            f"need_weights) -> (output, weights), got {type(value).__name__}"
        )
    if normalizer != "softmax" or top_k is not None:
        raise ValueError(
            "association replaces the association step: leave normalizer='softmax' and "
            f"top_k=None, got normalizer={normalizer!r}, top_k={top_k!r}"
        )
    return value
