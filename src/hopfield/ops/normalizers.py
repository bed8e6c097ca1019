"""Retrieval normalisers as option objects: ``Softmax()``, ``Sparsemax()``, ``Entmax15()``.

A retrieval turns the scores ``s_μ = β k_μ·ξ`` of the stored patterns into weights
``p ∈ Δ`` and reads ``Σ_μ p_μ v_μ``. The weights maximise ``⟨p, s⟩ + H(p)`` for an
entropy ``H`` (Peters, Niculae & Martins 2019): the Shannon entropy gives softmax and
the log-sum-exp energy of Ramsauer et al. (2020); the Tsallis α-entropy
``H_α(p) = (1 − Σ p^α)/(α(α − 1))`` gives sparsemax (α = 2, Martins & Astudillo 2016)
and 1.5-entmax (α = 1.5), the sparse Hopfield energies of Hu et al. (2023).

Each object may restrict the retrieval to the ``top_k`` largest scores per query
(``None``: all). The objects are small frozen values: equal when their settings are,
printed as they are written, and stored by :mod:`hopfield.io` as ``to_config()``
(``{"name": ..., "top_k": ...}``). :func:`as_normalizer` accepts an object or a
name (``"softmax"``, ``"sparsemax"``, ``"entmax15"``) as shorthand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

__all__ = [
    "NORMALIZERS",
    "TSALLIS_ALPHA",
    "Entmax15",
    "Normalizer",
    "Softmax",
    "Sparsemax",
    "as_normalizer",
    "with_top_k",
]

NORMALIZERS: tuple[str, ...] = ("softmax", "sparsemax", "entmax15")
"""Names of the retrieval normalisers (the string shorthands of :func:`as_normalizer`)."""

TSALLIS_ALPHA: dict[str, float] = {"sparsemax": 2.0, "entmax15": 1.5}
"""α of the Tsallis entropy of each sparse normaliser."""


def _check_top_k(top_k: object) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise TypeError(f"top_k must be an int or None, got {type(top_k).__name__}")
    if top_k < 1:
        raise ValueError(f"top_k must be ≥ 1, got {top_k}")
    return top_k


@dataclass(frozen=True)
class Normalizer:
    """Base of the retrieval normalisers: ``name`` and an optional ``top_k``."""

    top_k: int | None = None
    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _check_top_k(self.top_k)

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., "top_k": ...}``, the form :mod:`hopfield.io` stores."""
        return {"name": self.name, "top_k": self.top_k}

    @staticmethod
    def from_config(config: Mapping[str, Any], argument: str = "normalizer") -> Normalizer:
        """The normaliser :meth:`to_config` described (``ValueError`` for unknown names)."""
        options = dict(config)
        name = options.pop("name", None)
        return _class_of(name, argument)(**options)


@dataclass(frozen=True)
class Softmax(Normalizer):
    """``p = softmax(s)``: Shannon-regularised max, the log-sum-exp energy
    ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` (Ramsauer et al. 2020)."""

    name: ClassVar[str] = "softmax"


@dataclass(frozen=True)
class Sparsemax(Normalizer):
    """``p = [s − τ]₊`` with ``Σ p = 1``: the Euclidean projection onto the simplex
    (Martins & Astudillo 2016), Tsallis α = 2; the sparse Hopfield energy of Hu et al.
    (2023) with exact zeros in the weights."""

    name: ClassVar[str] = "sparsemax"


@dataclass(frozen=True)
class Entmax15(Normalizer):
    """``p = [s/2 − τ]₊²`` with ``Σ p = 1``: 1.5-entmax (Peters et al. 2019), Tsallis
    α = 1.5; sparse weights between softmax and sparsemax (Hu et al. 2023)."""

    name: ClassVar[str] = "entmax15"


_CLASSES: dict[str, type[Normalizer]] = {cls.name: cls for cls in (Softmax, Sparsemax, Entmax15)}


def _class_of(name: object, argument: str) -> type[Normalizer]:
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(f"{argument} must be one of {NORMALIZERS}, got {name!r}")
    return _CLASSES[name]


def as_normalizer(value: object, argument: str = "normalizer") -> Normalizer:
    """``value`` as a :class:`Normalizer`: the object itself, or a name as shorthand
    (``"sparsemax"`` is ``Sparsemax()``); anything else is a ``ValueError`` naming
    ``argument``."""
    if isinstance(value, Normalizer):
        return value
    return _class_of(value, argument)()


def with_top_k(value: object, top_k: int | None, argument: str = "normalizer") -> Normalizer:
    """:func:`as_normalizer` of ``value`` restricted to ``top_k`` (``None``: its own);
    a ``top_k`` that contradicts the object's is a ``ValueError``."""
    retrieval = as_normalizer(value, argument)
    if top_k is None or top_k == retrieval.top_k:
        return retrieval
    if retrieval.top_k is not None:
        raise ValueError(f"top_k={top_k} contradicts {argument}={retrieval!r}")
    return replace(retrieval, top_k=top_k)
