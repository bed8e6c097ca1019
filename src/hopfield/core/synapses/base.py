"""The contract every hypersynapse satisfies.

A hypersynapse is an energy function ``E(ĝ₁, …, ĝ_k)`` of the activations of the
layers it joins (any arity), returning one value per batch element, shape ``(B,)``.
The signal it sends to layer ``i`` is ``−∂E/∂ĝ_i`` (tutorial ch. HAMUX, Fig. 4).
"""

from __future__ import annotations

import torch
from torch import nn

from hopfield.core.config import Configurable

__all__ = ["Synapse"]


class Synapse(Configurable, nn.Module):
    """Base class: implement :meth:`energy`; override :meth:`grad` with a closed form.

    ``energy(*activations) -> (B,)``. ``grad(*activations)`` returns the tuple
    ``(∂E/∂ĝ₁, …, ∂E/∂ĝ_k)`` with the shapes of the inputs. The default uses
    autograd (kept in the graph, so it is differentiable wrt the synapse's
    parameters); subclasses with a known closed form override it (the fast path)
    and their tests compare it to this default in float64.
    """

    def energy(self, *activations: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, *activations: torch.Tensor) -> torch.Tensor:
        return self.energy(*activations)

    def grad(self, *activations: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.autograd_grad(*activations)

    def autograd_grad(self, *activations: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``∂E/∂ĝ`` by autograd; the reference that closed forms are tested against."""
        with torch.enable_grad():
            inputs = [
                g if g.requires_grad else g.detach().requires_grad_(True) for g in activations
            ]
            total = self.energy(*inputs).sum()
            grads = torch.autograd.grad(total, inputs, create_graph=torch.is_grad_enabled())
        return tuple(grads)
