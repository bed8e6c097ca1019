"""Drop-in encoder and decoder layers for torch's transformers, built on Hopfield energies.

* :class:`HopfieldEncoderLayer`: the standard encoder layer (Vaswani et al. 2017)
  whose self-attention is :class:`hopfield.nn.Hopfield` — per head the modern
  Hopfield LSE energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` with the update
  ``ξ ← softmax(β ξ Kᵀ) K`` (Ramsauer et al. 2020). With ``β = 1/√d`` and one update
  it is exactly ``nn.TransformerEncoderLayer`` (SDPA fast path); more updates,
  another ``β``, sparse normalisers or top-k are options.
* :class:`HopfieldDecoderLayer`: ``nn.TransformerDecoderLayer`` whose self- and
  cross-attention are :class:`hopfield.nn.Hopfield` (the cross-attention retrieves
  from the encoder output ``memory`` as stored patterns); equal to torch's layer with
  the same weights at ``β = 1/√d`` and one update (:meth:`HopfieldDecoderLayer.from_torch`).
* :class:`EnergyTransformerEncoderLayer` (in :mod:`hopfield.nn.energy_transformer_layer`,
  re-exported here): the Energy Transformer block (Hoover et al.
  2023) — tokens descend ``E = E_LN + E_ATT + E_HN`` by ``steps`` Euler steps
  ``x ← x − α ∂(E_ATT + E_HN)/∂ĝ`` (see :mod:`hopfield.models.energy_transformer`).

``nn.TransformerEncoder`` inspects its layers: at construction (nested-tensor fast
path, only for ``nn.TransformerEncoderLayer`` instances) and in ``forward``
(``layers[0].self_attn.batch_first``; the fused path again only after the
construction check passed). Neither layer here subclasses
``nn.TransformerEncoderLayer``, so torch's fused kernels — which would ignore our
energies — are never taken; torch then warns once at construction
("enable_nested_tensor is True, but self.use_nested_tensor is False"), which
``nn.TransformerEncoder(..., enable_nested_tensor=False)`` silences. Both layers
expose ``self_attn`` (with ``batch_first``, ``num_heads``, ``embed_dim``,
``_qkv_same_embed_dim = False``, ``in_proj_weight = in_proj_bias = None``),
``norm_first``, ``norm1``/``norm2`` and ``activation_relu_or_gelu``, and accept
``src_mask``, ``src_key_padding_mask`` and ``is_causal`` like torch's layer. The
Energy Transformer has no ``linear1``/``linear2``: its feed-forward counterpart is
the tied-weight Hopfield memory ``block.hopfield`` (torch reads those names only for
``nn.TransformerEncoderLayer`` instances). Static type checkers see
``nn.TransformerEncoder(encoder_layer: TransformerEncoderLayer, …)``; passing these
layers needs a ``# type: ignore[arg-type]`` under mypy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hopfield._validation import check_bool, check_int, check_positive, check_probability
from hopfield.nn.energy_transformer_layer import EnergyTransformerEncoderLayer, GELUIntegral
from hopfield.nn.hopfield import Hopfield
from hopfield.nn.layer_common import (
    causal_mask,
    check_activation,
    check_sequence,
    relu_or_gelu_code,
)
from hopfield.ops.normalizers import Normalizer

__all__ = [
    "EnergyTransformerEncoderLayer",
    "GELUIntegral",
    "HopfieldDecoderLayer",
    "HopfieldEncoderLayer",
]


def copy_attention(hopfield: Hopfield, attention: nn.MultiheadAttention) -> None:
    """Copy the projections of torch's ``attention`` (packed ``in_proj``) into ``hopfield``."""
    projections = (hopfield.query_proj, hopfield.key_proj, hopfield.value_proj)
    with torch.no_grad():
        for proj, weight in zip(projections, attention.in_proj_weight.chunk(3), strict=True):
            proj.weight.copy_(weight)  # type: ignore[operator]
        if attention.in_proj_bias is not None:
            for proj, b in zip(projections, attention.in_proj_bias.chunk(3), strict=True):
                proj.bias.copy_(b)  # type: ignore[operator]
    hopfield.out_proj.load_state_dict(attention.out_proj.state_dict())


def _check_torch_layer(layer: object, kind: type[nn.Module]) -> str:
    """The activation name of a torch encoder/decoder layer (relu or gelu only)."""
    if not isinstance(layer, kind):
        raise TypeError(f"layer must be {kind.__name__}, got {type(layer).__name__}")
    code = getattr(layer, "activation_relu_or_gelu", 0)  # encoder layers only
    activation = getattr(layer, "activation", None)
    if code == 1 or activation is F.relu or isinstance(activation, nn.ReLU):
        return "relu"
    if code == 2 or activation is F.gelu or isinstance(activation, nn.GELU):
        return "gelu"
    raise ValueError("layer must use relu or gelu activation")


# --------------------------------------------------------------------------- Hopfield layer


def _layer_config(layer: HopfieldEncoderLayer | HopfieldDecoderLayer) -> dict[str, Any]:
    """The constructor arguments of an encoder or decoder layer, read back from its parts."""
    attention = layer.self_attn.get_config()
    return {
        "d_model": layer.linear1.in_features,
        "nhead": attention["num_heads"],
        "dim_feedforward": layer.linear1.out_features,
        "dropout": layer.dropout.p,
        "activation": layer.activation_name,
        "layer_norm_eps": layer.norm1.eps,
        "batch_first": layer.batch_first,
        "norm_first": layer.norm_first,
        "bias": layer.linear1.bias is not None,
        "beta": attention["beta"],
        "update_steps": attention["update_steps"],
        "normalizer": attention["normalizer"],
        "top_k": attention["top_k"],
    }


class HopfieldEncoderLayer(nn.Module):
    """``nn.TransformerEncoderLayer`` with :class:`hopfield.nn.Hopfield` self-attention.

    Post-norm (``norm_first=False``)::

        x ← norm1(x + Dropout(Hopfield(x)));  x ← norm2(x + Dropout(W₂ Dropout(σ(W₁ x))))

    pre-norm (``norm_first=True``) as in torch. ``Hopfield(x)`` runs ``update_steps``
    state updates of the LSE energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` per
    head and reads the values (Ramsauer et al. 2020); with ``beta=None``
    (``1/√head_dim``) and ``update_steps=1`` it is scaled dot-product attention (SDPA)
    and the layer equals torch's with the same weights (:meth:`from_torch`).

    Args:
        d_model, nhead, dim_feedforward, dropout, activation ("relu" | "gelu"),
        layer_norm_eps, batch_first, norm_first, bias: as ``nn.TransformerEncoderLayer``.
        beta: Hopfield inverse temperature (default ``1/√(d_model/nhead)``).
        update_steps: Hopfield state updates (1 = attention).
        normalizer, top_k: sparse retrieval options of :class:`~hopfield.nn.Hopfield`.

    Shapes: ``src`` ``(B, T, d_model)`` (``(T, B, d_model)`` if not batch_first);
    ``src_mask`` ``(T, T)`` or ``(B·nhead, T, T)``; ``src_key_padding_mask`` ``(B, T)``
    (bool True = ignore, or float additive).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        beta: float | None = None,
        update_steps: int = 1,
        normalizer: str | Normalizer = "softmax",
        top_k: int | None = None,
    ) -> None:
        super().__init__()
        d_model = check_int(d_model, "d_model")
        dim_feedforward = check_int(dim_feedforward, "dim_feedforward")
        dropout = check_probability(dropout, "dropout")
        self.activation_name = check_activation(activation)
        self.norm_first = check_bool(norm_first, "norm_first")
        eps = check_positive(layer_norm_eps, "layer_norm_eps")
        self.self_attn = Hopfield(
            d_model, num_heads=check_int(nhead, "nhead"), beta=beta,
            update_steps=update_steps, dropout=dropout, batch_first=batch_first,
            bias=bias, normalizer=normalizer, top_k=top_k,
        )  # fmt: skip
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.activation_relu_or_gelu = relu_or_gelu_code(self.activation_name)
        self.activation: Callable[[torch.Tensor], torch.Tensor] = (
            F.relu if self.activation_name == "relu" else F.gelu
        )

    @property
    def batch_first(self) -> bool:
        return self.self_attn.batch_first

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        return _layer_config(self)

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> HopfieldEncoderLayer:
        """A layer with the weights of ``layer`` (β = 1/√head_dim, one update): equal outputs."""
        activation = _check_torch_layer(layer, nn.TransformerEncoderLayer)
        attn = layer.self_attn
        new = cls(
            attn.embed_dim, attn.num_heads, layer.linear1.out_features,
            dropout=layer.dropout.p, activation=activation,
            layer_norm_eps=layer.norm1.eps, batch_first=attn.batch_first,
            norm_first=layer.norm_first, bias=attn.in_proj_bias is not None,
        )  # fmt: skip
        new._copy_from(layer)
        return new

    def _copy_from(self, layer: nn.TransformerEncoderLayer) -> None:
        copy_attention(self.self_attn, layer.self_attn)
        for name in ("linear1", "linear2", "norm1", "norm2"):
            self.get_submodule(name).load_state_dict(getattr(layer, name).state_dict())

    def forward(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        src_key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """Encode ``src``; ``is_causal=True`` without ``src_mask`` uses a causal mask."""
        x = check_sequence(src, "src", self.self_attn.embed_dim, self.batch_first, self)
        if is_causal and src_mask is None:
            src_mask = causal_mask(x.shape[1 if self.batch_first else 0], x.device)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(
        self, x: torch.Tensor, mask: torch.Tensor | None, padding: torch.Tensor | None
    ) -> torch.Tensor:
        out = self.self_attn(x, key_padding_mask=padding, attn_mask=mask)
        return self.dropout1(out)

    def _ff_block(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class HopfieldDecoderLayer(nn.Module):
    """``nn.TransformerDecoderLayer`` with :class:`hopfield.nn.Hopfield` self- and cross-attention.

    Post-norm (``norm_first=False``)::

        x ← norm1(x + Dropout(Hopfield_self(x)))
        x ← norm2(x + Dropout(Hopfield_cross(x, memory)))
        x ← norm3(x + Dropout(W₂ Dropout(σ(W₁ x))))

    pre-norm (``norm_first=True``) as in torch. Each Hopfield block runs
    ``update_steps`` updates of the LSE energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²``
    per head (Ramsauer et al. 2020); in the cross block the stored patterns are the
    encoder output ``memory``. With ``beta=None`` (``1/√head_dim``) and one update it is
    torch's decoder layer (:meth:`from_torch` gives equal outputs).

    Args:
        d_model, nhead, dim_feedforward, dropout, activation ("relu" | "gelu"),
        layer_norm_eps, batch_first, norm_first, bias: as ``nn.TransformerDecoderLayer``.
        beta, update_steps, normalizer, top_k: options of both Hopfield blocks.

    Shapes (batch-first): ``tgt (B, T, d_model)``, ``memory (B, S, d_model)``; masks as
    torch (``tgt_mask (T, T)``, ``memory_mask (T, S)``, key-padding masks ``(B, T)`` and
    ``(B, S)``). Inputs follow the layer's dtype; an empty batch or target gives an
    empty result.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        beta: float | None = None,
        update_steps: int = 1,
        normalizer: str | Normalizer = "softmax",
        top_k: int | None = None,
    ) -> None:
        super().__init__()
        d_model = check_int(d_model, "d_model")
        dropout = check_probability(dropout, "dropout")
        self.activation_name = check_activation(activation)
        self.norm_first = check_bool(norm_first, "norm_first")
        eps = check_positive(layer_norm_eps, "layer_norm_eps")
        options: dict[str, Any] = {
            "num_heads": check_int(nhead, "nhead"), "beta": beta, "update_steps": update_steps,
            "dropout": dropout, "batch_first": check_bool(batch_first, "batch_first"),
            "bias": bias, "normalizer": normalizer, "top_k": top_k,
        }  # fmt: skip
        self.self_attn = Hopfield(d_model, **options)
        self.multihead_attn = Hopfield(d_model, **options)
        self.linear1 = nn.Linear(d_model, check_int(dim_feedforward, "dim_feedforward"), bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(self.linear1.out_features, d_model, bias=bias)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation: Callable[[torch.Tensor], torch.Tensor] = (
            F.relu if self.activation_name == "relu" else F.gelu
        )

    @property
    def batch_first(self) -> bool:
        return self.self_attn.batch_first

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        return _layer_config(self)

    @classmethod
    def from_torch(cls, layer: nn.TransformerDecoderLayer) -> HopfieldDecoderLayer:
        """A layer with the weights of ``layer`` (β = 1/√head_dim, one update): equal outputs."""
        activation = _check_torch_layer(layer, nn.TransformerDecoderLayer)
        attn = layer.self_attn
        new = cls(
            attn.embed_dim, attn.num_heads, layer.linear1.out_features,
            dropout=layer.dropout.p, activation=activation, layer_norm_eps=layer.norm1.eps,
            batch_first=attn.batch_first, norm_first=layer.norm_first,
            bias=attn.in_proj_bias is not None,
        )  # fmt: skip
        copy_attention(new.self_attn, layer.self_attn)
        copy_attention(new.multihead_attn, layer.multihead_attn)
        for name in ("linear1", "linear2", "norm1", "norm2", "norm3"):
            new.get_submodule(name).load_state_dict(getattr(layer, name).state_dict())
        return new

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        tgt_key_padding_mask: torch.Tensor | None = None,
        memory_key_padding_mask: torch.Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> torch.Tensor:
        """Decode ``tgt`` against ``memory``; ``*_is_causal`` without a mask: a causal mask."""
        width = self.self_attn.embed_dim
        x = check_sequence(tgt, "tgt", width, self.batch_first, self)
        memory = check_sequence(memory, "memory", width, self.batch_first, self)
        time_dim = 1 if self.batch_first else 0
        if tgt_is_causal and tgt_mask is None:
            tgt_mask = causal_mask(x.shape[time_dim], x.device)
        if memory_is_causal and memory_mask is None:
            length = x.shape[time_dim]
            memory_mask = causal_mask(max(length, memory.shape[time_dim]), x.device)[
                :length, : memory.shape[time_dim]
            ]
        self_masks = (tgt_mask, tgt_key_padding_mask)
        cross_masks = (memory_mask, memory_key_padding_mask)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), *self_masks)
            x = x + self._mha_block(self.norm2(x), memory, *cross_masks)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, *self_masks))
        x = self.norm2(x + self._mha_block(x, memory, *cross_masks))
        return self.norm3(x + self._ff_block(x))

    def _sa_block(
        self, x: torch.Tensor, mask: torch.Tensor | None, padding: torch.Tensor | None
    ) -> torch.Tensor:
        return self.dropout1(self.self_attn(x, key_padding_mask=padding, attn_mask=mask))

    def _mha_block(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor | None,
        padding: torch.Tensor | None,
    ) -> torch.Tensor:
        out = self.multihead_attn(x, memory, key_padding_mask=padding, attn_mask=mask)
        return self.dropout2(out)

    def _ff_block(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))
