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

from hopfield.core.config import Configurable

__all__ = ["Lagrangian", "check_lagrangian_input", "sum_non_batch"]


def sum_non_batch(values: torch.Tensor) -> torch.Tensor:
    """Sum every dimension except the leading (batch) one: ``(B, ...) -> (B,)`` (also for
    empty batches or empty trailing dims)."""
    if values.ndim == 1:
        return values
    return values.sum(dim=tuple(range(1, values.ndim)))


def check_lagrangian_input(x: object, name: str = "x") -> torch.Tensor:
    """Cheap boundary check (no device sync): a floating tensor of rank ≥ 2."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have shape (B, *shape) with at least 2 dims, got shape {tuple(x.shape)}"
        )
    return x


class Lagrangian(Configurable, nn.Module):
    """Base class: subclasses implement :meth:`forward` (``L``) and :meth:`activation`.

    ``forward(x)`` returns ``L(x)`` with shape ``(B,)``; ``activation(x)`` returns
    ``∇_x L`` in closed form with the shape of ``x``; :meth:`energy` is the neuron
    energy ``⟨x, g⟩ − L(x)`` (from :meth:`closed_energy` where the difference would
    cancel). Parameters (β, γ, δ, …) may be ``nn.Parameter``s and
    receive gradients through all three.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def activation(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor | None:
        """``⟨x, g(x)⟩ − L(x)`` in a closed form that does not cancel, or ``None``.

        Subclasses whose generic difference loses precision (large ``x``, overflow)
        return their closed form here; :meth:`energy` uses it.
        """
        return None

    def activation_and_energy(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g(x), E(x))``; classes override it to share work (e.g. a row norm)."""
        g = self.activation(x)
        closed = self.closed_energy(x)
        return g, (self.energy(x, g) if closed is None else closed)

    def energy(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """Neuron energy ``⟨x, g(x)⟩ − L(x)``, shape ``(B,)``; pass ``g`` to reuse it.

        The value comes from :meth:`closed_energy` when the class has one. When ``g``
        is given and autograd is recording, the gradients are those of the Legendre
        form ``⟨x, g⟩ − L(x)`` in ``x``, ``g`` and the parameters (e.g. ``∂E/∂g = x``,
        so autograd of a HAM energy with the activations as leaves yields the HAM's
        ``∂E/∂ĝ``); the value is still the closed form's.
        """
        closed = self.closed_energy(x)
        if closed is not None and (g is None or not torch.is_grad_enabled()):
            return closed  # for g = g(x) the closed form has the same total derivative
        if g is None:
            g = self.activation(x)
        generic = sum_non_batch(x * g) - self(x)
        if closed is None or not generic.requires_grad:
            return generic if closed is None else closed
        return generic + (closed - generic).detach()
