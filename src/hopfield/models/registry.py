"""Every associative memory of :mod:`hopfield.models` by name: the one list of names.

Each memory class declares its entries in a ``registry`` class attribute (a tuple of
:class:`MemorySpec`: name, state kind, energy, paper, default options, how β and the
pattern width reach its constructor); this module collects them from the classes it
imports. :func:`available` lists the names, :func:`spec` describes one,
:func:`build` constructs one from keyword options, :func:`build_memory` builds one
for a pattern matrix and stores it. ``io`` (the loadable classes), the command line's
``--model`` choices, the scikit-learn estimator and ``docs/models.md`` all read this
list (``tests/models/test_registry.py`` checks the document).

State kinds: ``binary`` memories store and update ±1 vectors, ``continuous`` ones
real vectors; the memories of other objects hold ``gaussian`` states (mean and
covariance), ``phase`` states (oscillator angles) or ``constrained`` vectors (integer
patterns satisfying linear constraints). :data:`VECTOR_STATES` are the kinds that
take a plain pattern matrix ``(K, D)``, the ones the command-line tools can run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from hopfield.models.base import STATE_KINDS, VECTOR_STATES, MemorySpec, RecallResult
from hopfield.models.bures_wasserstein import BuresWassersteinMemory
from hopfield.models.classical import ClassicalHopfield
from hopfield.models.dense import DenseAssociativeMemory
from hopfield.models.epanechnikov import LogSumReLUMemory
from hopfield.models.kernelized import KernelizedHopfield
from hopfield.models.kuramoto import KuramotoMemory
from hopfield.models.linear import LinearAssociativeMemory
from hopfield.models.modern import ModernHopfield
from hopfield.models.random_features import RandomFeatureMemory
from hopfield.models.sparse_recovery import SparseRecoveryMemory
from hopfield.models.stochastic_dense import StochasticExponentialAM

__all__ = [
    "STATE_KINDS",
    "VECTOR_STATES",
    "MemorySpec",
    "RebuildingMemory",
    "available",
    "build",
    "build_memory",
    "memory_classes",
    "recall_memory",
    "spec",
]

def memory_classes() -> tuple[type[nn.Module], ...]:
    """The memory classes whose ``registry`` entries make up the registry."""
    return (
        ClassicalHopfield,
        DenseAssociativeMemory,
        StochasticExponentialAM,
        ModernHopfield,
        LogSumReLUMemory,
        LinearAssociativeMemory,
        RandomFeatureMemory,
        KernelizedHopfield,
        BuresWassersteinMemory,
        KuramotoMemory,
        SparseRecoveryMemory,
    )


def _collect(classes: Iterable[type[nn.Module]]) -> dict[str, MemorySpec]:
    specs: dict[str, MemorySpec] = {}
    for cls in classes:
        for entry in cls.__dict__.get("registry", ()):
            if entry.name in specs:
                raise ValueError(f"registry name {entry.name!r} is declared twice")
            specs[entry.name] = replace(entry, cls=cls)
    return specs


_SPECS: dict[str, MemorySpec] = _collect(memory_classes())


def available(states: Iterable[str] | None = None) -> list[str]:
    """Registry names, in declaration order (only those of the given state kinds)."""
    if states is None:
        return list(_SPECS)
    kinds = tuple(states)
    unknown = set(kinds) - set(STATE_KINDS)
    if unknown:
        raise ValueError(f"states must be among {STATE_KINDS}, got {sorted(unknown)}")
    return [name for name, entry in _SPECS.items() if entry.state in kinds]


def spec(name: str) -> MemorySpec:
    """The :class:`MemorySpec` called ``name`` (``ValueError`` listing the names otherwise)."""
    if name not in _SPECS:
        raise ValueError(f"model must be one of {', '.join(_SPECS)}, got {name!r}")
    return _SPECS[name]


def build(name: str, **options: Any) -> nn.Module:
    """Construct memory ``name``: its class with the entry's options, then ``options``."""
    entry = spec(name)
    return entry.memory_class(**{**entry.options, **options})


def build_memory(
    name: str,
    patterns: torch.Tensor,
    *,
    beta: float | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    **options: Any,
) -> nn.Module:
    """Build memory ``name`` for ``patterns`` ``(K, D)``, store them, return the model.

    The width ``D`` goes to the entry's ``size_option``, ``beta`` (default: the
    entry's rule) to its ``beta_option`` and ``seed`` to seeded models; ``options``
    override the rest. Only the vector memories (:data:`VECTOR_STATES`) can be built
    from a pattern matrix alone.
    """
    entry = spec(name)
    if entry.state not in VECTOR_STATES:
        raise ValueError(
            f"{name!r} stores {entry.state} states, not a (K, D) pattern matrix; "
            f"construct it with build({name!r}, ...) and store its own data"
        )
    if not isinstance(patterns, torch.Tensor) or patterns.ndim != 2:
        raise ValueError(
            f"patterns must be a (K, D) tensor, got {getattr(patterns, 'shape', patterns)}"
        )
    kwargs: dict[str, Any] = dict(entry.options)
    if entry.size_option is not None:
        kwargs[entry.size_option] = int(patterns.shape[1])
    resolved = entry.resolve_beta(patterns, beta)
    if resolved is not None and entry.beta_option is not None:
        if isinstance(entry.beta_option, str):
            kwargs[entry.beta_option] = resolved
        else:
            kwargs.update(entry.beta_option(resolved))
    if entry.seeded:
        kwargs["seed"] = seed
    kwargs.update(options)
    model = entry.memory_class(**kwargs).to(device)
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
    """``model.recall(queries, steps=…, max_steps=…, mask=…)``: every memory of the
    registry takes the same arguments, so this is the contract's call."""
    return model.recall(queries, steps=steps, max_steps=max_steps, mask=mask)  # type: ignore[operator]


class RebuildingMemory:
    """A registry memory behind ``store`` / ``recall`` that is (re)built on ``store``.

    ``store(patterns)`` builds memory ``name`` for the patterns (so pattern-dependent
    defaults such as the log-sum-ReLU β are resolved then) on ``device``; ``recall``
    returns states on the queries' device. Capacity searches use it, as they need a
    fresh model per trial: ``lambda n, seed: RebuildingMemory(name, seed=seed)``.
    """

    def __init__(
        self,
        name: str,
        *,
        beta: float | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.entry = spec(name)
        self.beta = beta
        self.seed = seed
        self.device = torch.device(device)
        self.model: nn.Module | None = None

    def store(self, patterns: torch.Tensor) -> None:
        """Build the memory for ``patterns`` ``(K, D)`` and store them."""
        self.model = build_memory(
            self.entry.name, patterns, beta=self.beta, seed=self.seed, device=self.device
        )

    def _stored(self) -> nn.Module:
        if self.model is None:
            raise ValueError("the memory is empty: call store(patterns) before recall")
        return self.model

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """The stored model's energy of ``states``, on the states' device."""
        energy = self._stored().energy(states.to(self.device))  # type: ignore[operator]
        return energy.to(states.device)

    def step(self, states: torch.Tensor, *, mask: torch.Tensor | None = None) -> Any:
        """One update of the stored model (its own ``step``), on the model's device."""
        moved = None if mask is None else mask.to(self.device)
        return self._stored().step(states.to(self.device), mask=moved)  # type: ignore[operator]

    def recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None = None,
        max_steps: int = 100,
        tol: float | None = None,
        mask: torch.Tensor | None = None,
    ) -> RecallResult:
        """The stored model's ``recall`` (its own ``tol`` unless given); results on the
        queries' device."""
        model = self._stored()
        moved = None if mask is None else mask.to(self.device)
        if tol is None:
            result = recall_memory(
                model, queries.to(self.device), steps=steps, max_steps=max_steps, mask=moved
            )
        else:
            result = model.recall(  # type: ignore[operator]
                queries.to(self.device), steps=steps, max_steps=max_steps, tol=tol, mask=moved
            )
        result.states = result.states.to(queries.device)
        return result
