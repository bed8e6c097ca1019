"""Separation functions ``F`` of Dense Associative Memory energies ``E = −Σ_μ F(ξ_μ·x)``.

Krotov & Hopfield (2016) "Dense Associative Memory for Pattern Recognition" use
``F(z) = zⁿ`` and its rectified form; Demircigil et al. (2017) "On a model of
associative memory with huge storage capacity" use ``F(z) = exp(z)``. The Energy
Transformer's Hopfield module uses ``F(z) = ½ ReLU(z)²`` (Hoover et al. 2023).
Each separation gives ``F`` (``__call__``) and its derivative ``F'`` (``derivative``),
elementwise, so energies and closed-form gradients share one definition.

Separations are option objects: equal when their class and settings are, stored by
:mod:`hopfield.io` as ``to_config()`` (``{"name": "polynomial", "degree": 3}``) and
rebuilt by :meth:`Separation.from_config`; :func:`as_separation` also accepts a name
(``"relu_squared"``) as shorthand for the object with default settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from hopfield._validation import check_positive

__all__ = [
    "SEPARATIONS",
    "Exponential",
    "Polynomial",
    "ReLUSquared",
    "RectifiedPolynomial",
    "Separation",
    "as_separation",
]


class Separation:
    """Elementwise ``F`` and ``F'``; subclasses set ``name`` and implement both."""

    name: str = "separation"

    def __call__(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def derivative(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., **settings}``, the form :mod:`hopfield.io` stores (only the
        separations of :data:`SEPARATIONS`; others are a ``TypeError``)."""
        if _CLASSES.get(self.name) is not type(self):
            raise TypeError(
                f"cannot serialise separation {self!r}: only {', '.join(SEPARATIONS)} have a config"
            )
        return {"name": self.name, **vars(self)}

    @staticmethod
    def from_config(config: Mapping[str, Any], argument: str = "separation") -> Separation:
        """The separation :meth:`to_config` described (``ValueError`` for unknown names)."""
        options = dict(config)
        return _class_of(options.pop("name", None), argument)(**options)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({settings})"


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


class RectifiedPolynomial(Separation):
    """``F(z) = ReLU(z)ⁿ`` (Krotov & Hopfield 2016, rectified polynomial energy)."""

    name = "rectified_polynomial"

    def __init__(self, degree: int = 3) -> None:
        self.degree = _check_degree(degree)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z) ** self.degree

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        return self.degree * torch.relu(z) ** (self.degree - 1)


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


_CLASSES: dict[str, type[Separation]] = {
    cls.name: cls for cls in (Polynomial, RectifiedPolynomial, ReLUSquared, Exponential)
}

SEPARATIONS: tuple[str, ...] = tuple(_CLASSES)
"""Names of the separations (the string shorthands of :func:`as_separation`)."""


def _class_of(name: object, argument: str) -> type[Separation]:
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(f"{argument} must be one of {SEPARATIONS}, got {name!r}")
    return _CLASSES[name]


def as_separation(value: object, argument: str = "separation") -> Separation:
    """``value`` as a :class:`Separation`: the object itself, or a name as shorthand
    (``"relu_squared"`` is ``ReLUSquared()``); anything else is a ``ValueError``
    naming ``argument``."""
    if isinstance(value, Separation):
        return value
    return _class_of(value, argument)()
