"""The Energy Transformer block (Hoover et al. 2023) as an ``nn.TransformerEncoder`` layer.

Tokens descend ``E = E_LN + E_ATT + E_HN`` by ``steps`` Euler steps
``x ← x − α ∂(E_ATT + E_HN)/∂ĝ`` (see :mod:`hopfield.models.energy_transformer`);
:class:`GELUIntegral` makes the Hopfield module's force a tied-weight GELU MLP. How
``nn.TransformerEncoder`` treats this layer is described in :mod:`hopfield.nn.transformer`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hopfield._validation import check_bool, check_int, check_positive, check_probability
from hopfield.core.separation import ReLUSquared, Separation
from hopfield.models.energy_transformer import EnergyTransformerBlock
from hopfield.nn.layer_common import (
    causal_mask,
    check_activation,
    check_sequence,
    relu_or_gelu_code,
)

__all__ = ["EnergyTransformerEncoderLayer", "GELUIntegral"]


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
        self.activation_name = check_activation(activation)
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
        self.activation_relu_or_gelu = relu_or_gelu_code(self.activation_name)
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
            src_mask = causal_mask(length, device)
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
        x = check_sequence(src, "src", self.d_model, self.batch_first, self)
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
