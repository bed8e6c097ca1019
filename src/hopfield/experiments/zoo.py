"""The model zoo: every associative memory of :mod:`hopfield.models` by name.

``build_memory(name, patterns)`` builds the named model, stores ``patterns`` and
returns it; ``recall_memory(model, queries)`` runs its dynamics and returns a
:class:`~hopfield.models.base.RecallResult` (the one-shot linear memory gets a
one-step trace). The demo, ``hopfield recall`` and ``hopfield capacity`` all build
their models here, so a new model becomes available to every command by adding one
:class:`ZooEntry` to :data:`ZOO`.

States: ``binary`` models store and update ±1 patterns; ``continuous`` ones store
real-valued patterns (images mapped to [−1, 1]) and return real-valued states.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hopfield.models.base import RecallResult

__all__ = [
    "DEFAULT_MODELS",
    "ZOO",
    "ZooEntry",
    "ZooMemory",
    "available_models",
    "build_memory",
    "get_entry",
    "recall_memory",
]

BetaRule = Callable[[torch.Tensor], float]


@dataclass(frozen=True)
class ZooEntry:
    """How to build one model of the zoo.

    Attributes:
        name: registry key (``hopfield recall --model NAME``).
        module: module defining the class (imported lazily).
        class_name: the ``nn.Module`` class.
        binary: True for ±1 state models, False for continuous ones.
        energy: the energy in plain text (for tables and docs).
        paper: the reference.
        options: keyword arguments of the constructor besides ``beta``/``seed``.
        default_beta: β used when none is given: a number, a rule computing it from
            the stored patterns ``(K, D)``, or None when the model has no β.
        positional: the constructor's positional arguments: ``"num_neurons"`` (D),
            ``"beta"`` (β) or ``"dims"`` (D, D: key and value dimension).
    """

    name: str
    module: str
    class_name: str
    binary: bool
    energy: str
    paper: str
    options: tuple[tuple[str, Any], ...] = ()
    default_beta: float | BetaRule | None = None
    positional: str = "num_neurons"

    def load_class(self) -> type[nn.Module]:
        """Import and return the model class (``ImportError`` when not available)."""
        module = importlib.import_module(self.module)
        cls = getattr(module, self.class_name, None)
        if cls is None:
            raise ImportError(f"{self.module} defines no {self.class_name}")
        return cls

    def resolve_beta(self, patterns: torch.Tensor, beta: float | None) -> float | None:
        """β for ``patterns``: ``beta`` if given, else the entry's default (None if unused)."""
        if beta is not None or self.default_beta is None:
            return beta
        if callable(self.default_beta):
            return float(self.default_beta(patterns))
        return float(self.default_beta)


def _separation(kind: str, degree: int = 3) -> Callable[[float | None], Any]:
    def make(beta: float | None) -> Any:
        from hopfield.core import separation

        if kind == "polynomial":
            return separation.Polynomial(degree)
        if kind == "rectified":
            return separation.RectifiedPolynomial(degree)
        return separation.Exponential(1.0 if beta is None else beta)

    return make


def _lsr_beta(patterns: torch.Tensor) -> float:
    """LSR default β = β_max = 2/R_min², R_min = half the minimum pattern distance.

    The largest β of Hoover et al. (2025)'s sweep: the supports (radius
    ``r = √(2/β) = R_min``) are disjoint, so every stored pattern is an exact
    minimum; queries outside every support take log-sum-exp steps until they
    enter one. A single pattern gets β = 1.
    """
    from hopfield.models.epanechnikov import lsr_beta_max

    flat = patterns.reshape(patterns.shape[0], -1)
    return 1.0 if flat.shape[0] < 2 else lsr_beta_max(flat)


_CLASSICAL_PAPER = "Hopfield (1982)"
ZOO: dict[str, ZooEntry] = {
    entry.name: entry
    for entry in (
        ZooEntry(
            "hopfield-hebbian",
            "hopfield.models.classical",
            "ClassicalHopfield",
            True,
            "E = −½ sᵀWs, W = (1/N) Σ ξξᵀ",
            _CLASSICAL_PAPER,
            (("rule", "hebbian"),),
        ),
        ZooEntry(
            "hopfield-storkey",
            "hopfield.models.classical",
            "ClassicalHopfield",
            True,
            "E = −½ sᵀWs, W by Storkey's rule",
            "Storkey (1997)",
            (("rule", "storkey"),),
        ),
        ZooEntry(
            "hopfield-pinv",
            "hopfield.models.classical",
            "ClassicalHopfield",
            True,
            "E = −½ sᵀWs, W = Ξ⁺Ξ (projection)",
            "Personnaz et al. (1985)",
            (("rule", "pseudoinverse"),),
        ),
        ZooEntry(
            "dense-poly3",
            "hopfield.models.dense",
            "DenseAssociativeMemory",
            True,
            "E = −Σ_μ (ξ_μ·s)³",
            "Krotov & Hopfield (2016)",
            (("separation", _separation("polynomial", 3)),),
        ),
        ZooEntry(
            "dense-relu3",
            "hopfield.models.dense",
            "DenseAssociativeMemory",
            True,
            "E = −Σ_μ ReLU(ξ_μ·s)³",
            "Krotov & Hopfield (2016)",
            (("separation", _separation("rectified", 3)),),
        ),
        ZooEntry(
            "dense-exp",
            "hopfield.models.dense",
            "DenseAssociativeMemory",
            True,
            "E = −Σ_μ exp(β ξ_μ·s)",
            "Demircigil et al. (2017)",
            (("separation", _separation("exponential")),),
            default_beta=1.0,
        ),
        ZooEntry(
            "modern-dot",
            "hopfield.models.modern",
            "ModernHopfield",
            False,
            "E = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²",
            "Ramsauer et al. (2021)",
            (("similarity", "dot"),),
            default_beta=1.0,
            positional="beta",
        ),
        ZooEntry(
            "modern-euclidean",
            "hopfield.models.modern",
            "ModernHopfield",
            False,
            "E = −β⁻¹ log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)",
            "Ramsauer et al. (2021)",
            (("similarity", "euclidean"),),
            default_beta=1.0,
            positional="beta",
        ),
        ZooEntry(
            "lsr",
            "hopfield.models.epanechnikov",
            "LogSumReLUMemory",
            False,
            "E = −β⁻¹ log Σ_μ ReLU(1 − (β/2)‖x − ξ_μ‖²)",
            "Hoover et al. (2025)",
            default_beta=_lsr_beta,
            positional="beta",
        ),
        ZooEntry(
            "linear",
            "hopfield.models.linear",
            "LinearAssociativeMemory",
            False,
            "E = −xᵀWφ(x), W = Σ_μ ξ_μ φ(ξ_μ)ᵀ, φ(k) = k/‖k‖",
            "Kohonen (1972); Anderson (1972)",
            (("normalize_keys", True),),
            positional="dims",
        ),
    )
}
"""Registry of model names → :class:`ZooEntry`."""

DEFAULT_MODELS: tuple[str, ...] = (
    "hopfield-hebbian",
    "hopfield-storkey",
    "hopfield-pinv",
    "dense-poly3",
    "dense-exp",
    "modern-dot",
    "modern-euclidean",
    "lsr",
    "linear",
)
"""Models the demo runs by default (every family of the zoo)."""


def get_entry(name: str) -> ZooEntry:
    """The :class:`ZooEntry` called ``name`` (``ValueError`` listing the names otherwise)."""
    if name not in ZOO:
        raise ValueError(f"model must be one of {', '.join(ZOO)}, got {name!r}")
    return ZOO[name]


def available_models(names: Sequence[str] | None = None) -> list[str]:
    """Names (of ``names``, default all) whose model class can be imported now."""
    found = []
    for name in ZOO if names is None else names:
        try:
            get_entry(name).load_class()
        except ImportError:
            continue
        found.append(name)
    return found


def build_memory(
    name: str,
    patterns: torch.Tensor,
    *,
    beta: float | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Build zoo model ``name`` for ``patterns`` ``(K, D)``, store them, return the model.

    ``beta`` overrides the entry's default inverse temperature; ``seed`` seeds the
    update order of the binary models. Binary models need ±1 ``patterns``.
    """
    entry = get_entry(name)
    if not isinstance(patterns, torch.Tensor) or patterns.ndim != 2:
        raise ValueError(
            f"patterns must be a (K, D) tensor, got {getattr(patterns, 'shape', patterns)}"
        )
    cls = entry.load_class()
    resolved_beta = entry.resolve_beta(patterns, beta)
    kwargs: dict[str, Any] = {}
    for key, value in entry.options:
        kwargs[key] = value(resolved_beta) if callable(value) else value
    accepted = inspect.signature(cls.__init__).parameters
    if "seed" in accepted:
        kwargs["seed"] = seed
    dim = patterns.shape[1]
    args = {"num_neurons": (dim,), "beta": (resolved_beta,), "dims": (dim, dim)}[entry.positional]
    model = cls(*args, **kwargs).to(device)
    model.store(patterns.to(device))  # type: ignore[operator]
    return model


def recall_memory(
    model: nn.Module,
    queries: torch.Tensor,
    *,
    steps: int | None = None,
    max_steps: int = 100,
    mask: torch.Tensor | None = None,
) -> RecallResult:
    """Run ``model``'s recall from ``queries`` ``(B, D)`` and return a ``RecallResult``.

    ``mask`` ``(B, D)`` bool clamps the known entries (inpainting) for models whose
    ``recall`` accepts one; the others ignore it and see the filled-in query. A model
    without ``recall`` (the linear memory) is read once: ``states = retrieve(queries)``,
    with its energy trace when it defines ``energy`` and NaN otherwise.
    """
    recall = getattr(model, "recall", None)
    if recall is not None:
        parameters = inspect.signature(recall).parameters
        kwargs: dict[str, Any] = {"steps": steps, "max_steps": max_steps}
        if mask is not None and "mask" in parameters:
            kwargs["mask"] = mask
        return recall(queries, **kwargs)
    states = model.retrieve(queries)  # type: ignore[operator]
    if mask is not None:
        states = torch.where(mask, queries, states)
    energy = getattr(model, "energy", None)
    if energy is not None:
        energies = torch.stack([energy(queries), energy(states)])
    else:
        energies = torch.full((2, queries.shape[0]), float("nan"), dtype=queries.dtype)
    converged = torch.ones(queries.shape[0], dtype=torch.bool, device=queries.device)
    return RecallResult(states=states, energies=energies, steps=1, converged=converged)


class ZooMemory:
    """A zoo model behind the plain ``store`` / ``recall`` interface, built on ``store``.

    ``store(patterns)`` (re)builds model ``name`` for the patterns (so pattern-dependent
    defaults such as the LSR β are resolved then) on ``device``; ``recall`` returns
    states on the queries' device. Used by capacity searches, which need a fresh
    model per trial: ``lambda n, seed: ZooMemory(name, seed=seed)``.
    """

    def __init__(
        self,
        name: str,
        *,
        beta: float | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.entry = get_entry(name)
        self.beta = beta
        self.seed = seed
        self.device = torch.device(device)
        self.model: nn.Module | None = None

    def store(self, patterns: torch.Tensor) -> None:
        """Build the model for ``patterns`` ``(K, D)`` and store them."""
        self.model = build_memory(
            self.entry.name, patterns, beta=self.beta, seed=self.seed, device=self.device
        )

    def recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None = None,
        max_steps: int = 100,
        mask: torch.Tensor | None = None,
    ) -> RecallResult:
        """:func:`recall_memory` of the stored model; results on the queries' device."""
        if self.model is None:
            raise ValueError("the memory is empty: call store(patterns) before recall")
        result = recall_memory(
            self.model,
            queries.to(self.device),
            steps=steps,
            max_steps=max_steps,
            mask=None if mask is None else mask.to(self.device),
        )
        result.states = result.states.to(queries.device)
        return result
