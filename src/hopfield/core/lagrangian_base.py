"""The contract every Lagrangian satisfies.

A neuron layer with internal state ``x`` (shape ``(B, *shape)``) is described by a
convex scalar function ``L(x)`` (one value per batch element). Its activation is
``g = ∇_x L(x)`` and its energy is the Legendre transform ``E = Σ x·g − L(x)``
(Krotov & Hopfield 2021, "Large Associative Memory Problem in Neurobiology and
Machine Learning"; tutorial ch. HAMUX).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Lagrangian", "sum_non_batch"]


def sum_non_batch(values: torch.Tensor) -> torch.Tensor:
    """Sum every dimension except the leading (batch) one: ``(B, ...) -> (B,)``."""
    return values.reshape(values.shape[0], -1).sum(dim=1)


class Lagrangian(nn.Module):
    """Base class: subclasses implement :meth:`forward` (``L``) and :meth:`activation`.

    ``forward(x)`` returns ``L(x)`` with shape ``(B,)``; ``activation(x)`` returns
    ``∇_x L`` in closed form with the shape of ``x``; :meth:`energy` is the neuron
    energy ``⟨x, g⟩ − L(x)``. Parameters (β, γ, δ, …) may be ``nn.Parameter``s and
    receive gradients through all three.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def activation(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def energy(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """Neuron energy ``⟨x, g(x)⟩ − L(x)``, shape ``(B,)``; pass ``g`` to reuse it."""
        if g is None:
            g = self.activation(x)
        return sum_non_batch(x * g) - self(x)
