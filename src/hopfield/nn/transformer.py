"""Drop-in encoder layers for ``nn.TransformerEncoder`` built on Hopfield energies.

* :class:`HopfieldEncoderLayer`: the standard encoder layer (Vaswani et al. 2017)
  whose self-attention is :class:`hopfield.nn.Hopfield` — per head the modern
  Hopfield LSE energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` with the update
  ``ξ ← softmax(β ξ Kᵀ) K`` (Ramsauer et al. 2020). With ``β = 1/√d`` and one update
  it is exactly ``nn.TransformerEncoderLayer`` (SDPA fast path); more updates,
  another ``β``, sparse normalisers or top-k are options.
* :class:`EnergyTransformerEncoderLayer`: the Energy Transformer block (Hoover et al.
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

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hopfield._validation import (
    check_bool,
    check_int,
    check_positive,
    check_probability,
    check_rank,
)
from hopfield.core.separation import ReLUSquared, Separation
from hopfield.models.energy_transformer import EnergyTransformerBlock
from hopfield.nn.hopfield import Hopfield
from hopfield.nn.inputs import layer_input, module_dtype

__all__ = ["EnergyTransformerEncoderLayer", "GELUIntegral", "HopfieldEncoderLayer"]

_ACTIVATIONS = ("relu", "gelu")


class GELUIntegral(Separation):
    """``F(z) = ∫₀^z GELU = ½[(z² − 1)Φ(z) + z φ(z)] + ¼`` with ``F'(z) = z Φ(z) = GELU(z)``.

    Used as the separation function of the Energy Transformer's Hopfield module so
    that its force ``−Ξᵀ F'(Ξĝ)`` is a tied-weight GELU MLP (Hoover et al. 2023 use
    ``F = ½ReLU²``, i.e. a ReLU MLP). ``Φ``/``φ``: standard normal cdf/pdf.
    """

    name = "gelu_integral"

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        return 0.5 * ((z * z - 1.0) * cdf + z * pdf) + 0.25

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        return F.gelu(z)


def _check_activation(value: object) -> str:
    if not isinstance(value, str) or value not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {value!r}")
    return value


def _relu_or_gelu_code(activation: str) -> int:
    """torch's convention: 1 = relu, 2 = gelu."""
    return 1 if activation == "relu" else 2


def _check_src(src: object, d_model: int, batch_first: bool, module: nn.Module) -> torch.Tensor:
    """``src`` of rank 3 and width ``d_model``, in the layer's dtype (hopfield.nn.inputs)."""
    tensor = layer_input(src, "src", module_dtype(module))
    layout = "(B, T, d_model)" if batch_first else "(T, B, d_model)"
    check_rank(tensor, "src", 3, layout)
    if tensor.shape[-1] != d_model:
        raise ValueError(
            f"src must have shape {layout} with d_model={d_model}, got {tuple(tensor.shape)}"
        )
    return tensor


def _causal_bool(length: int, device: torch.device) -> torch.Tensor:
    """``(T, T)`` bool, True above the diagonal (= not allowed), torch's convention."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


# --------------------------------------------------------------------------- Hopfield layer


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
        normalizer: str = "softmax",
        top_k: int | None = None,
    ) -> None:
        super().__init__()
        d_model = check_int(d_model, "d_model")
        dim_feedforward = check_int(dim_feedforward, "dim_feedforward")
        dropout = check_probability(dropout, "dropout")
        self.activation_name = _check_activation(activation)
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
        self.activation_relu_or_gelu = _relu_or_gelu_code(self.activation_name)
        self.activation: Callable[[torch.Tensor], torch.Tensor] = (
            F.relu if self.activation_name == "relu" else F.gelu
        )

    @property
    def batch_first(self) -> bool:
        return self.self_attn.batch_first

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> HopfieldEncoderLayer:
        """A layer with the weights of ``layer`` (β = 1/√head_dim, one update): equal outputs."""
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"layer must be nn.TransformerEncoderLayer, got {type(layer).__name__}")
        attn = layer.self_attn
        code = getattr(layer, "activation_relu_or_gelu", 0)
        if code not in (1, 2):
            raise ValueError("layer must use relu or gelu activation")
        new = cls(
            attn.embed_dim, attn.num_heads, layer.linear1.out_features,
            dropout=layer.dropout.p, activation="relu" if code == 1 else "gelu",
            layer_norm_eps=layer.norm1.eps, batch_first=attn.batch_first,
            norm_first=layer.norm_first, bias=attn.in_proj_bias is not None,
        )  # fmt: skip
        new._copy_from(layer)
        return new

    def _copy_from(self, layer: nn.TransformerEncoderLayer) -> None:
        attn = layer.self_attn
        heads = self.self_attn
        with torch.no_grad():
            for proj, weight in zip(
                (heads.query_proj, heads.key_proj, heads.value_proj),
                attn.in_proj_weight.chunk(3),
                strict=True,
            ):
                proj.weight.copy_(weight)  # type: ignore[operator]
            if attn.in_proj_bias is not None:
                for proj, b in zip(
                    (heads.query_proj, heads.key_proj, heads.value_proj),
                    attn.in_proj_bias.chunk(3),
                    strict=True,
                ):
                    proj.bias.copy_(b)  # type: ignore[operator]
        own = {"self_attn.out_proj": attn.out_proj}
        own.update({n: getattr(layer, n) for n in ("linear1", "linear2", "norm1", "norm2")})
        for name, module in own.items():
            self.get_submodule(name).load_state_dict(module.state_dict())

    def forward(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        src_key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """Encode ``src``; ``is_causal=True`` without ``src_mask`` uses a causal mask."""
        x = _check_src(src, self.self_attn.embed_dim, self.batch_first, self)
        if is_causal and src_mask is None:
            src_mask = _causal_bool(x.shape[1 if self.batch_first else 0], x.device)
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


# --------------------------------------------------------------------------- Energy Transformer


def _allowed_from(mask: torch.Tensor, name: str) -> torch.Tensor:
    """torch mask (bool True = ignore, or float 0 / −∞) → bool True = allowed."""
    if mask.dtype == torch.bool:
        return ~mask
    if not mask.is_floating_point():
        raise TypeError(
            f"{name} must be bool (True = ignore) or float (0 / -inf), got {mask.dtype}"
        )
    # value check skipped under torch.compile (a data-dependent branch), as torch does
    if not torch.compiler.is_compiling() and bool((torch.isfinite(mask) & (mask != 0)).any()):
        raise ValueError(
            f"{name}: the Energy Transformer masks pairs in or out; float masks must "
            "hold only 0 (allowed) and -inf (ignored)"
        )
    return mask == 0


class EnergyTransformerEncoderLayer(nn.Module):
    """Energy Transformer block (Hoover et al. 2023) as an ``nn.TransformerEncoder`` layer.

    Energy of tokens ``x (B, T, D)`` with ``ĝ = LayerNorm(x)``::

        E = E_LN + E_ATT + E_HN,
        E_ATT = −β⁻¹ Σ_h Σ_C log Σ_{B≠C, allowed} exp(β K_{hB}·Q_{hC}),
        E_HN  = −Σ_A Σ_{μ=1}^{M} F(ξ_μ·ĝ_A)

    with ``M = dim_feedforward`` memories and ``F' = ReLU`` (``F = ½ReLU²``) or
    ``F' = GELU`` (:class:`GELUIntegral`) per ``activation``. ``forward`` runs
    ``steps`` Euler steps ``x ← x − α Dropout(∂(E_ATT + E_HN)/∂ĝ)`` (dropout only in
    training; with ``dropout=0`` each step follows the ET energy descent) and returns
    the tokens; with ``norm_first=False`` the result is passed through ``norm2``
    (a LayerNorm, post-norm convention), with ``norm_first=True`` (default) it is
    returned as is (the ET normalises inside the energy: pre-norm).

    Masks (torch's conventions): ``src_mask`` ``(T, T)`` or ``(B, T, T)`` and
    ``src_key_padding_mask`` ``(B, T)``, bool (True = not allowed) or float
    (0 / −∞). Padded tokens leave the attention energy both as keys and as queries
    (in ``E_ATT`` a query also pulls on its keys), so the other tokens' outputs do not
    depend on them; they evolve under ``E_HN`` alone.
    ``is_causal=True`` without ``src_mask`` applies a causal mask. The ET
    attention excludes each token's own key (``exclude_self``), so under a causal
    mask the first token gets no attention force.

    Args:
        d_model: ``D``; nhead: ``H`` (head width ``Y = D/H`` unless ``head_dim``).
        dim_feedforward: number of memories ``M`` of the Hopfield module.
        dropout: dropout on the update direction (training only).
        activation: ``"gelu"`` or ``"relu"`` (``F'`` of the Hopfield module).
        batch_first: ``(B, T, D)`` if True, else ``(T, B, D)``.
        norm_first: see above. steps: Euler steps (≥ 1). alpha: step size ``α > 0``.
        beta: attention inverse temperature (default ``1/√Y``).
        layer_norm_eps: ``ε`` of the energy LayerNorm (and of ``norm2``).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.0,
        activation: str = "gelu",
        batch_first: bool = True,
        norm_first: bool = True,
        *,
        steps: int = 4,
        alpha: float = 0.1,
        beta: float | None = None,
        head_dim: int | None = None,
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.d_model = check_int(d_model, "d_model")
        nhead = check_int(nhead, "nhead")
        if head_dim is None and d_model % nhead:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        width = check_int(head_dim if head_dim is not None else d_model // nhead, "head_dim")
        self.activation_name = _check_activation(activation)
        self.batch_first = check_bool(batch_first, "batch_first")
        self.norm_first = check_bool(norm_first, "norm_first")
        self.steps = check_int(steps, "steps")
        self.alpha = check_positive(alpha, "alpha")
        eps = check_positive(layer_norm_eps, "layer_norm_eps")
        separation = ReLUSquared() if self.activation_name == "relu" else GELUIntegral()
        self.block = EnergyTransformerBlock(
            d_model, nhead, width, check_int(dim_feedforward, "dim_feedforward"),
            beta=beta, separation=separation, eps=eps,
        )  # fmt: skip
        self.dropout = nn.Dropout(check_probability(dropout, "dropout"))
        self.norm2: nn.Module = nn.Identity() if self.norm_first else nn.LayerNorm(d_model, eps=eps)
        self.activation_relu_or_gelu = _relu_or_gelu_code(self.activation_name)
        attention = self.block.attention  # what nn.TransformerEncoder reads, torch's names
        attention.__dict__.update(  # plain attributes; _qkv_same_embed_dim=False: never fused
            batch_first=self.batch_first,
            embed_dim=d_model,
            _qkv_same_embed_dim=False,
            in_proj_weight=None,
            in_proj_bias=None,
        )

    @property
    def self_attn(self) -> nn.Module:
        """The ET attention synapse (:class:`~hopfield.core.synapses.attention.EnergyAttention`)."""
        return self.block.attention

    @property
    def norm1(self) -> nn.Module:
        """The energy LayerNorm whose activation ``ĝ`` the synapses read."""
        return self.block.norm

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        attention = self.block.attention
        return {
            "d_model": self.d_model,
            "nhead": attention.num_heads,
            "dim_feedforward": self.block.hopfield.memories.shape[0],
            "dropout": self.dropout.p,
            "activation": self.activation_name,
            "batch_first": self.batch_first,
            "norm_first": self.norm_first,
            "steps": self.steps,
            "alpha": self.alpha,
            "beta": attention.beta,
            "head_dim": attention.head_dim,
            "layer_norm_eps": self.block.norm.eps,
        }

    def extra_repr(self) -> str:
        return f"steps={self.steps}, alpha={self.alpha}, norm_first={self.norm_first}"

    def allowed_pairs(
        self,
        batch: int,
        length: int,
        device: torch.device,
        src_mask: torch.Tensor | None = None,
        src_key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor | None:
        """Bool ``(T, T)`` or ``(B, T, T)``, True where query ``C`` may attend to key ``B``."""
        allowed: torch.Tensor | None = None
        if src_mask is None and is_causal:
            src_mask = _causal_bool(length, device)
        if src_mask is not None:
            if src_mask.shape not in ((length, length), (batch, length, length)):
                raise ValueError(
                    f"src_mask must have shape (T, T) = {(length, length)} or (B, T, T) = "
                    f"{(batch, length, length)}, got {tuple(src_mask.shape)}"
                )
            allowed = _allowed_from(src_mask, "src_mask")
        if src_key_padding_mask is not None:
            if src_key_padding_mask.shape != (batch, length):
                raise ValueError(
                    f"src_key_padding_mask must have shape (B, T) = {(batch, length)}, "
                    f"got {tuple(src_key_padding_mask.shape)}"
                )
            present = _allowed_from(src_key_padding_mask, "src_key_padding_mask")
            pairs = present[:, :, None] & present[:, None, :]
            allowed = pairs if allowed is None else allowed & pairs
        return allowed

    def forward(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        src_key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """Run ``steps`` energy-descent steps on the tokens and return them."""
        x = _check_src(src, self.d_model, self.batch_first, self)
        if not self.batch_first:
            x = x.transpose(0, 1)
        if x.numel() == 0:  # empty batch or sequence: nothing to descend
            x = self.norm2(x)
            return x if self.batch_first else x.transpose(0, 1)
        allowed = self.allowed_pairs(
            x.shape[0], x.shape[1], x.device, src_mask, src_key_padding_mask, is_causal
        )
        for _ in range(self.steps):
            _, grad = self.block.energy_and_grad(x, mask=allowed)
            x = x - self.alpha * self.dropout(grad)
        x = self.norm2(x)
        return x if self.batch_first else x.transpose(0, 1)
