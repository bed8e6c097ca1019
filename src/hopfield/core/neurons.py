"""A neuron layer: a Lagrangian, a per-sample shape and a time constant.

The layer's state ``x`` has shape ``(B, *shape)``. Its activation is ``g = ∇_x L(x)``,
its energy the Legendre transform ``E = ⟨x, g⟩ − L(x)``, and its dynamics
``τ dx/dt = −∂E_total/∂g`` (Krotov & Hopfield 2021, "Large Associative Memory
Problem in Neurobiology and Machine Learning"; tutorial ch. HAMUX).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hopfield._validation import check_positive
from hopfield.core.config import Configurable
from hopfield.core.lagrangian_base import Lagrangian

__all__ = ["Neurons"]


def _check_shape(shape: object) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or isinstance(shape, str):
        raise TypeError(f"shape must be a tuple of ints, got {type(shape).__name__}")
    dims = tuple(shape)
    if not dims:
        raise ValueError("shape must have at least one dim, got ()")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"shape must be a tuple of ints, got {dims!r}")
        if d < 1:
            raise ValueError(f"shape entries must be ≥ 1, got {dims!r}")
    return dims


class Neurons(Configurable, nn.Module):
    """A layer of neurons described by a Lagrangian (Krotov & Hopfield 2021).

    State ``x: (B, *shape)``; activation ``g = ∇L(x)`` (:meth:`activation`, also
    :meth:`forward`); energy ``E = ⟨x, g⟩ − L(x)`` of shape ``(B,)`` (:meth:`energy`);
    dynamics ``τ dx/dt = −∂E_total/∂g`` with time constant :attr:`tau` > 0. The
    Lagrangian is a submodule, so its parameters (β, γ, δ) are registered here.

    Args:
        shape: per-sample shape (an int or a tuple of positive ints).
        lagrangian: a :class:`~hopfield.core.lagrangian_base.Lagrangian`.
        tau: time constant τ > 0.
    """

    def __init__(
        self, shape: int | Sequence[int], lagrangian: Lagrangian, tau: float = 1.0
    ) -> None:
        super().__init__()
        self.shape = _check_shape(shape)
        if not isinstance(lagrangian, Lagrangian):
            raise TypeError(
                f"lagrangian must be a hopfield Lagrangian, got {type(lagrangian).__name__}"
            )
        self.lagrangian = lagrangian
        self.tau = tau

    @property
    def tau(self) -> float:
        """Time constant τ > 0 of ``τ dx/dt = −∂E/∂g``."""
        return self._tau

    @tau.setter
    def tau(self, value: float) -> None:
        self._tau = check_positive(value, "tau")

    @property
    def expected_shape(self) -> str:
        """The expected state layout, e.g. ``(B, 3, 5)``."""
        return "(B, " + ", ".join(map(str, self.shape)) + ")"

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """``g = ∇_x L(x)``, same shape as ``x``."""
        return self.lagrangian.activation(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`activation`."""
        return self.activation(x)

    def lagrangian_value(self, x: torch.Tensor) -> torch.Tensor:
        """``L(x)``, shape ``(B,)``."""
        return self.lagrangian(x)

    def activation_and_energy(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g, E)`` at ``x``, sharing work where the Lagrangian can."""
        return self.lagrangian.activation_and_energy(x)

    def energy(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """``E = ⟨x, g⟩ − L(x)``, shape ``(B,)``; pass ``g`` to reuse an activation."""
        return self.lagrangian.energy(x, g)

    def init_state(
        self,
        batch_size: int,
        *,
        std: float = 0.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """A state ``(batch_size, *shape)``: zeros, or ``N(0, std²)`` when ``std > 0``."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        std = check_positive(std, "std", allow_zero=True)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        size = (batch_size, *self.shape)
        if std == 0.0:
            return torch.zeros(size, dtype=dtype, device=device)
        noise = torch.randn(size, generator=generator, dtype=dtype, device=device)
        return noise * std

    def check_state(self, x: object, name: str = "x") -> torch.Tensor:
        """Validate a state: a finite real floating tensor of shape ``(B, *shape)`` (``B ≥ 0``);
        return it."""
        expected = self.expected_shape
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}"
            )
        if not x.is_floating_point():
            raise TypeError(f"{name} must have a real floating-point dtype, got {x.dtype}")
        if x.ndim != len(self.shape) + 1:
            raise ValueError(
                f"{name} must have shape {expected} ({len(self.shape) + 1} dims), "
                f"got shape {tuple(x.shape)}"
            )
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"{name} must have shape {expected}, got shape {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains NaN or inf values")
        return x

    def extra_repr(self) -> str:
        return f"shape={self.shape}, tau={self.tau:g}"
