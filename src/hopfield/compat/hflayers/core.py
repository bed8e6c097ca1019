"""The association of hopfield-layers' ``Hopfield`` on :mod:`hopfield.nn`'s retrieval step.

hopfield-layers (Ramsauer et al. 2020, "Hopfield Networks is All You Need",
``hflayers``) documents its layer as, per head ``h``,

* projections: state ``Q_h = ξ W_Q^h + b``, stored ``K_h = Y W_K^h + b``, pattern
  projection ``V_h = Y_v W_V^h + b``; a pattern declared *static* is not projected and
  every head sees it as given; *connected* pattern projections pass through the stored
  patterns' projection first (``V_h = (Y_v W_K + b_K) W_V^h + b``);
* optional layer norm of ``Q_h`` and ``K_h`` in the Hopfield space (one shared affine);
* optional extra stored pattern / pattern projection (``concat_bias_pattern``, learned)
  and an all-zero one (``add_zero_association``), never masked;
* association ``ξ_h = softmax(β_h Q_h K_hᵀ + M)``; updates ``Q_h ← ξ_h K_h`` repeated
  while ``t < update_steps_max_h`` and ``max_batch ‖ξ_h(t) − ξ_h(t−1)‖_F >
  update_steps_eps_h`` (each head stops on its own);
* output ``W_O concat_h(Dropout(ξ_h) V_h)``.

Each step is :func:`hopfield.nn.association.associate` (the library's CCCP update of the
LSE energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²``), masks are built by
:func:`hopfield.nn.association.build_mask`; no code is taken from hopfield-layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hopfield.nn.association import associate, build_mask, merge_heads

__all__ = ["AssociationCore", "CoreShape", "iterate_association"]

UNBOUNDED_STEP_LIMIT = 10_000
"""``update_steps_max=None`` (hopfield-layers: no limit) stops with an error after this
many updates without convergence instead of looping for ever."""


@dataclass(frozen=True)
class CoreShape:
    """Resolved widths of the association (``None``: taken from the data)."""

    num_heads: int
    head_dim: int | None
    pattern_dim: int | None
    state_width: int | None
    stored_width: int | None
    projection_width: int | None
    output_width: int | None
    static: tuple[bool, bool, bool]  # state, stored, projection
    connected: bool


def _linear(fan_in: int, fan_out: int, bias: bool) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out, bias=bias)
    nn.init.normal_(layer.weight, mean=0.0, std=0.02)  # hopfield-layers' initialisation
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class AssociationCore(nn.Module):
    """Projections, Hopfield-space norm, extra patterns and read-out of one ``Hopfield``."""

    def __init__(
        self,
        shape: CoreShape,
        *,
        bias: bool,
        space_norm: tuple[bool, bool, float],
        concat_bias_pattern: bool,
        add_zero_association: bool,
        project_output: bool,
    ) -> None:
        super().__init__()
        self.shape = shape
        heads, static = shape.num_heads, shape.static
        inner = heads * (shape.head_dim or 0)
        self.state_proj = None if static[0] else _linear(shape.state_width or 0, inner, bias)
        self.stored_proj = None if static[1] else _linear(shape.stored_width or 0, inner, bias)
        self.projection_proj: nn.Linear | None = None
        if not static[2]:
            fan_in = inner if shape.connected and not static[1] else shape.projection_width
            self.projection_proj = _linear(fan_in or 0, heads * (shape.pattern_dim or 0), bias)
        self.space_norm, affine, self.space_norm_eps = space_norm
        self.space_norm_weight = nn.Parameter(torch.ones(shape.head_dim or 0)) if affine else None
        self.space_norm_bias = nn.Parameter(torch.zeros(shape.head_dim or 0)) if affine else None
        self.bias_stored = self.bias_projection = None
        if concat_bias_pattern:
            self.bias_stored = nn.Parameter(torch.randn(1, heads, 1, shape.head_dim or 0) * 0.02)
            self.bias_projection = nn.Parameter(
                torch.randn(1, heads, 1, shape.pattern_dim or 0) * 0.02
            )
        self.add_zero_association = add_zero_association
        self.out_proj = None
        if project_output:
            self.out_proj = _linear(heads * (shape.pattern_dim or 0), shape.output_width or 0, bias)

    # ------------------------------------------------------------------ patterns

    def _heads(self, x: torch.Tensor, proj: nn.Linear | None) -> torch.Tensor:
        """``(B, L, ·)`` → ``(B, H, L, d)``: projected per head, or the same for every head."""
        heads = self.shape.num_heads
        if proj is None:
            return x.unsqueeze(1).expand(-1, heads, -1, -1)
        out = proj(x)
        return out.unflatten(-1, (heads, out.shape[-1] // heads)).transpose(1, 2)

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        if not self.space_norm:
            return x
        return F.layer_norm(
            x, (x.shape[-1],), self.space_norm_weight, self.space_norm_bias, self.space_norm_eps
        )

    def patterns(
        self, state: torch.Tensor, stored: torch.Tensor, projection: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Head-space state ``(B, H, Lq, d)``, stored ``(B, H, Lk', d)``, values ``(B, H, Lk', p)``.

        ``Lk' = Lk`` plus one per extra pattern (learned bias pattern, zero pattern).
        """
        q = self._norm(self._heads(state, self.state_proj))
        k = self._norm(self._heads(stored, self.stored_proj))
        if self.shape.connected and self.stored_proj is not None:
            projection = self.stored_proj(projection)
            v = self._heads(projection, self.projection_proj)
            if self.projection_proj is None:  # static: the stored projection per head
                v = projection.unflatten(-1, (self.shape.num_heads, -1)).transpose(1, 2)
        else:
            v = self._heads(projection, self.projection_proj)
        batch = q.shape[0]
        if self.bias_stored is not None and self.bias_projection is not None:
            k = torch.cat([k, self.bias_stored.to(k.dtype).expand(batch, -1, -1, -1)], dim=2)
            v = torch.cat([v, self.bias_projection.to(v.dtype).expand(batch, -1, -1, -1)], dim=2)
        if self.add_zero_association:
            k = torch.cat([k, k.new_zeros(*k.shape[:2], 1, k.shape[3])], dim=2)
            v = torch.cat([v, v.new_zeros(*v.shape[:2], 1, v.shape[3])], dim=2)
        return q, k, v

    @property
    def extra_patterns(self) -> int:
        """Number of stored patterns appended to every input set."""
        return int(self.bias_stored is not None) + int(self.add_zero_association)

    def mask(
        self,
        padding: torch.Tensor | None,
        association: torch.Tensor | None,
        shape: tuple[int, int, int, int],
        dtype: torch.dtype,
    ) -> torch.Tensor | None:
        """Additive ``(B, H, Lq, Lk')`` mask; the appended patterns are never masked."""
        extra = self.extra_patterns
        if extra:
            if padding is not None:
                padding = F.pad(padding, (0, extra))
            if association is not None:
                association = F.pad(association, (0, extra))
        names = ("stored_pattern_padding_mask", "association_mask")
        return build_mask(padding, association, shape, dtype, names=names)

    def read_out(self, weights: torch.Tensor, values: torch.Tensor, dropout: float) -> torch.Tensor:
        """``W_O concat_h(Dropout(ξ_h) V_h)`` ``(B, Lq, out)``."""
        dropped = F.dropout(weights, dropout) if dropout > 0 else weights
        merged = merge_heads(dropped @ values)
        return merged if self.out_proj is None else self.out_proj(merged)


def iterate_association(
    state: torch.Tensor,
    stored: torch.Tensor,
    mask: torch.Tensor | None,
    beta: float | torch.Tensor,
    max_steps: torch.Tensor,
    eps: torch.Tensor,
) -> torch.Tensor:
    """Association weights ``ξ (B, H, Lq, Lk)`` after hopfield-layers' update iteration.

    ``ξ = softmax(β Q Kᵀ + M)``; then, per head ``h`` while it is active,
    ``Q ← ξ K`` and ``ξ`` recomputed. Head ``h`` is active at step ``t`` while
    ``t < max_steps[h]`` (``< 0``: no limit) and ``max_batch ‖ξ(t) − ξ(t−1)‖_F >
    eps[h]``; a stopped head keeps its ``ξ``.
    """
    _, weights = associate(state, stored, stored, mask, beta, 0.0, True)
    assert weights is not None
    unbounded = max_steps < 0
    active = unbounded | (max_steps > 0)
    step = 0
    while weights.numel() and bool(active.any()):
        _, new_weights = associate(weights @ stored, stored, stored, mask, beta, 0.0, True)
        assert new_weights is not None
        change = (new_weights - weights).flatten(2).norm(dim=-1).amax(0)
        weights = torch.where(active.view(1, -1, 1, 1), new_weights, weights)
        step += 1
        active = active & (unbounded | (step < max_steps)) & (change > eps)
        if step >= UNBOUNDED_STEP_LIMIT and bool(active.any()):
            raise RuntimeError(
                f"update_steps_max=None: the association did not converge to "
                f"update_steps_eps within {UNBOUNDED_STEP_LIMIT} updates"
            )
    return weights


def default_scaling(head_dim: int | None) -> float:
    """hopfield-layers' default β: ``1/√head_dim``, or 1 when every pattern is static."""
    return 1.0 if head_dim is None else 1.0 / math.sqrt(head_dim)
