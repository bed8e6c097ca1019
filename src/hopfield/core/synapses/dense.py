"""Dense (bilinear) hypersynapse between two layers: ``E = −Σ_tokens ĝ₁ᵀ W ĝ₂``.

The two-body synapse of the Lagrangian formulation (Krotov & Hopfield 2021, "Large
Associative Memory Problem in Neurobiology and Machine Learning", energy term
``−Σ f_μ ξ_μi g_i``; tutorial ch. HAMUX, "dense synapse").
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hopfield._validation import check_int
from hopfield.core.lagrangian_base import sum_non_batch
from hopfield.core.synapses.base import Synapse

__all__ = ["DenseSynapse"]


def check_count(value: object, name: str) -> int:
    """A positive ``int`` (``bool`` rejected), e.g. a number of features."""
    return check_int(value, name, 1)


def check_activation(
    g: object, name: str, features: int, dtype: torch.dtype, *, min_rank: int = 2
) -> torch.Tensor:
    """Cheap check (no device sync) of an activation ``(B, ..., features)``.

    Raises ``TypeError`` for a non-tensor or a dtype other than the synapse's
    parameters' ``dtype``, ``ValueError`` for a rank below ``min_rank`` or a wrong
    last dim.
    """
    if not isinstance(g, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(g).__name__}")
    if g.dtype != dtype:
        raise TypeError(
            f"{name} must have the dtype of the synapse parameters ({dtype}), got {g.dtype}"
        )
    if g.ndim < min_rank or g.shape[-1] != features:
        raise ValueError(
            f"{name} must have shape (B, ..., {features}) (last dim = {features}), "
            f"got shape {tuple(g.shape)}"
        )
    return g


class DenseSynapse(Synapse):
    """Bilinear synapse ``E(ĝ₁, ĝ₂) = −Σ_tokens Σ_ij ĝ₁ᵢ W_ij ĝ₂ⱼ``.

    Features are the **last** dim: ``ĝ₁`` has shape ``(B, ..., in_features)`` and
    ``ĝ₂`` has shape ``(B, ..., out_features)`` with the same middle ("token")
    dims, and the energy is summed over tokens (so ``(B, T, D)`` token layers
    connect token by token with one shared ``W``). To connect a whole image
    ``(B, H, W)`` densely, give the layer the flat shape ``(H·W,)``.

    Closed-form gradients (the fast path, :meth:`grad`)::

        ∂E/∂ĝ₁ = −ĝ₂ Wᵀ,    ∂E/∂ĝ₂ = −ĝ₁ W;

    :meth:`energy_and_grad` returns ``E`` and both gradients sharing ``ĝ₁ W``.

    Args:
        in_features: size ``D₁`` of the last dim of the first activation.
        out_features: size ``D₂`` of the last dim of the second activation.
        std: initial weights are ``N(0, std²)``; default ``1/√in_features``.
        generator: random generator for the initial weights.

    Attributes:
        weight: ``W``, shape ``(in_features, out_features)``.
    """

    arity = 2

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        std: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_count(in_features, "in_features")
        self.out_features = check_count(out_features, "out_features")
        scale = 1.0 / math.sqrt(in_features) if std is None else float(std)
        weight = torch.randn(in_features, out_features, generator=generator) * scale
        self.weight = nn.Parameter(weight)

    def _check(self, g1: torch.Tensor, g2: torch.Tensor) -> None:
        dtype = self.weight.dtype
        check_activation(g1, "g1", self.in_features, dtype)
        check_activation(g2, "g2", self.out_features, dtype)
        if g1.shape[:-1] != g2.shape[:-1]:
            raise ValueError(
                f"g1 (B, ..., {self.in_features}) and g2 (B, ..., {self.out_features}) must "
                f"share their leading dims, got shapes {tuple(g1.shape)} and {tuple(g2.shape)}"
            )

    def energy(self, *activations: torch.Tensor) -> torch.Tensor:
        """``E = −Σ_tokens ĝ₁ᵀ W ĝ₂``, shape ``(B,)``."""
        g1, g2 = unpack_pair(activations)
        self._check(g1, g2)
        return -sum_non_batch((g1 @ self.weight) * g2)

    def grad(self, *activations: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(∂E/∂ĝ₁, ∂E/∂ĝ₂) = (−ĝ₂ Wᵀ, −ĝ₁ W)``."""
        g1, g2 = unpack_pair(activations)
        self._check(g1, g2)
        return -(g2 @ self.weight.T), -(g1 @ self.weight)

    def energy_and_grad(
        self, *activations: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """``(E, (∂E/∂ĝ₁, ∂E/∂ĝ₂))`` sharing the product ``ĝ₁ W``."""
        g1, g2 = unpack_pair(activations)
        self._check(g1, g2)
        h = g1 @ self.weight
        return -sum_non_batch(h * g2), (-(g2 @ self.weight.T), -h)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def unpack_pair(activations: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The two activations of a synapse that joins two layers."""
    if len(activations) != 2:
        raise ValueError(f"this synapse joins 2 layers, got {len(activations)} activations")
    return activations[0], activations[1]
