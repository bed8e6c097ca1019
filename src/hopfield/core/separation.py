"""Separation functions ``F`` of Dense Associative Memory energies ``E = −Σ_μ F(ξ_μ·x)``.

Krotov & Hopfield (2016) "Dense Associative Memory for Pattern Recognition" use
``F(z) = zⁿ`` and its rectified form; Demircigil et al. (2017) "On a model of
associative memory with huge storage capacity" use ``F(z) = exp(z)``. The Energy
Transformer's Hopfield module uses ``F(z) = ½ ReLU(z)²`` (Hoover et al. 2023).
Each separation gives ``F`` (``__call__``) and its derivative ``F'`` (``derivative``),
elementwise, so energies and closed-form gradients share one definition.
"""

from __future__ import annotations

import torch

from hopfield._validation import check_positive

__all__ = ["Exponential", "Polynomial", "ReLUSquared", "RectifiedPolynomial", "Separation"]


class Separation:
    """Elementwise ``F`` and ``F'``; subclasses set ``name`` and implement both."""

    name: str = "separation"

    def __call__(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def derivative(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_degree(degree: int) -> int:
    if isinstance(degree, bool) or not isinstance(degree, int):
        raise TypeError(f"degree must be an int, got {type(degree).__name__}")
    if degree < 1:
        raise ValueError(f"degree must be ≥ 1, got {degree}")
    return degree


class Polynomial(Separation):
    """``F(z) = zⁿ``; ``n = 2`` recovers the classical Hopfield energy (Krotov & Hopfield 2016)."""

    name = "polynomial"

    def __init__(self, degree: int = 3) -> None:
        self.degree = _check_degree(degree)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return z**self.degree

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        return self.degree * z ** (self.degree - 1)

    def __repr__(self) -> str:
        return f"Polynomial(degree={self.degree})"


class RectifiedPolynomial(Separation):
    """``F(z) = ReLU(z)ⁿ`` (Krotov & Hopfield 2016, rectified polynomial energy)."""

    name = "rectified_polynomial"

    def __init__(self, degree: int = 3) -> None:
        self.degree = _check_degree(degree)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z) ** self.degree

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        return self.degree * torch.relu(z) ** (self.degree - 1)

    def __repr__(self) -> str:
        return f"RectifiedPolynomial(degree={self.degree})"


class ReLUSquared(Separation):
    """``F(z) = ½ ReLU(z)²``, ``F'(z) = ReLU(z)``: the Energy Transformer's Hopfield module."""

    name = "relu_squared"

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.relu(z) ** 2

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z)


class Exponential(Separation):
    """``F(z) = exp(β z)`` (Demircigil et al. 2017). Large arguments overflow: models
    using it must work with log-sum-exp differences, never with ``F`` directly."""

    name = "exponential"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = check_positive(beta, "beta")

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.beta * z)

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        return self.beta * torch.exp(self.beta * z)

    def __repr__(self) -> str:
        return f"Exponential(beta={self.beta})"
