"""The contract every associative memory follows, and the one result of ``recall``.

Every memory in :mod:`hopfield.models` is an ``nn.Module`` with (:class:`AssociativeMemory`)

* ``store(patterns) -> None`` — write patterns ``(K, *pattern_shape)`` into the memory;
* ``energy(states) -> (B,)`` — the model's energy of a batch of states;
* ``energy_grad(states)`` — ``∂E/∂states``, where the energy is differentiable;
* ``step(states, *, mask=None) -> states`` — one update of its dynamics, which never
  raises the energy (``mask`` ``(B, …)`` bool: True entries are held fixed);
* ``recall(queries, *, steps=None, max_steps=…, tol=…, mask=None) -> RecallResult`` —
  ``steps=None`` runs until every state is a fixed point (within ``tol``) or
  ``max_steps`` updates were made, an integer runs exactly that many.

Memories of other objects (Gaussians, oscillator phases, constrained vectors) take
their domain-specific arguments as keywords after the shared ones (e.g.
``BuresWassersteinMemory.store(means, covariances=…)``). Every public method
validates its input after casting it to the memory's dtype: NaN/inf, complex values
or a wrong rank raise ``ValueError``/``TypeError`` naming the argument, and an empty
batch gives an empty result. Each memory class declares its registry entries
(:class:`~hopfield.models.registry.MemorySpec`) in its ``registry`` class attribute;
``tests/models/test_contract.py`` checks every entry of
:func:`hopfield.models.registry.available` against this contract.

Convergence report: :class:`RecallResult` carries the steps taken, the per-sample
fixed-point flag and (where the model has a closed-form gradient) the final
gradient norm ``‖∂E/∂x‖``; ``str(result)`` / :meth:`RecallResult.summary` print them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

__all__ = [
    "STATE_KINDS",
    "VECTOR_STATES",
    "AssociativeMemory",
    "MemorySpec",
    "RecallResult",
    "check_mask",
    "iterate_recall",
    "legacy_recall_steps",
]


@dataclass
class RecallResult:
    """Outcome of ``recall``.

    Attributes:
        states: final states, same shape as the queries ``(B, ...)``.
        energies: energy trace ``(T + 1, B)``; row 0 is the energy of the queries.
        steps: number of update steps taken.
        converged: ``(B,)`` bool, whether each state reached a fixed point
            (within the model's tolerance).
        grad_norm: ``(B,)`` final ``‖∂E/∂x‖`` per sample (over the free coordinates
            when clamped), or ``None`` for models that do not report it.
        extras: what a model reports beyond the shared fields, by name; each entry is
            also readable as an attribute (``result.cycled``). The library's keys:
            ``cycled`` ``(B,)`` bool — binary memories, the synchronous dynamics
            stopped in a 2-cycle; ``covariances`` ``(B, d, d)`` — Gaussian states of
            :class:`~hopfield.models.bures_wasserstein.BuresWassersteinMemory`;
            ``errors`` ``(B, n)``, ``residual`` ``(B,)``, ``support_size`` ``(B,)``,
            ``decoded`` ``(B,)`` bool — the decoded sparse errors of
            :class:`~hopfield.models.sparse_recovery.SparseRecoveryMemory`;
            ``rejections`` ``(B,)`` int64 — trial steps a guarded gradient memory
            rejected (energy would rise) and halved, summed over the recall.
    """

    states: torch.Tensor
    energies: torch.Tensor
    steps: int
    converged: torch.Tensor
    grad_norm: torch.Tensor | None = field(default=None, kw_only=True)
    extras: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def __getattr__(self, name: str) -> Any:
        extras = self.__dict__.get("extras")
        if extras is not None and name in extras:
            return extras[name]
        raise AttributeError(f"{type(self).__name__} has no field or extra {name!r}")

    @property
    def final_energy(self) -> torch.Tensor:
        return self.energies[-1]

    @property
    def converged_fraction(self) -> float:
        """Fraction of the batch that reached a fixed point (0.0 for an empty batch)."""
        if self.converged.numel() == 0:
            return 0.0
        return float(self.converged.float().mean())

    def summary(self) -> str:
        """One line: steps taken, converged fraction, final energy and gradient norm
        (max over the batch; ``n/a`` when not reported)."""
        batch = int(self.converged.numel())
        done = int(self.converged.sum())
        parts = [
            f"steps={self.steps}",
            f"converged={done}/{batch} ({100.0 * self.converged_fraction:.1f}%)",
        ]
        if self.energies.numel():
            parts.append(f"final_energy_mean={float(self.final_energy.float().mean()):.6g}")
        if self.grad_norm is None or self.grad_norm.numel() == 0:
            parts.append("grad_norm_max=n/a")
        else:
            parts.append(f"grad_norm_max={float(self.grad_norm.float().max()):.3g}")
        return f"{type(self).__name__}(" + ", ".join(parts) + ")"

    def __str__(self) -> str:
        return self.summary()


@runtime_checkable
class AssociativeMemory(Protocol):
    """The memory contract (see the module docstring); ``isinstance`` checks the methods.

    ``energy_grad`` is part of the contract only where the energy is differentiable
    (the binary memories have none), so it is not listed here.
    """

    def store(self, patterns: torch.Tensor) -> None: ...

    def energy(self, states: torch.Tensor) -> torch.Tensor: ...

    def step(self, states: torch.Tensor, *, mask: torch.Tensor | None = None) -> Any: ...

    def recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None = None,
        max_steps: int = ...,
        tol: float = ...,
        mask: torch.Tensor | None = None,
    ) -> RecallResult: ...


STATE_KINDS: tuple[str, ...] = ("binary", "continuous", "gaussian", "phase", "constrained")
"""What a memory's states are (see the module docstring)."""

VECTOR_STATES: tuple[str, ...] = ("binary", "continuous")
"""State kinds stored as a plain pattern matrix ``(K, D)``."""

BetaRule = Callable[[torch.Tensor], float]
BetaOption = str | Callable[[float], Mapping[str, Any]] | None


@dataclass(frozen=True)
class MemorySpec:
    """One registry entry, declared by the memory class in its ``registry`` attribute.

    Attributes:
        name: registry key (``hopfield recall --model NAME``, ``build(NAME)``).
        state: state kind, one of :data:`STATE_KINDS`.
        energy: the energy in plain text.
        paper: the reference.
        options: constructor keyword arguments this entry fixes (``build`` merges
            the caller's options over them).
        size_option: the constructor keyword that receives the pattern width ``D``
            in :func:`build_memory` (``None``: the model takes no width).
        beta_option: how :func:`build_memory` passes β: the constructor keyword's
            name, a function ``β -> options`` (when β lives inside an option
            object), or ``None`` when the model has no β.
        default_beta: β when none is given: a number, a rule computing it from the
            stored patterns ``(K, D)``, or ``None`` (the constructor's default).
        seeded: the constructor takes ``seed`` (update order, random features).
        cls: the memory class (filled in when the class declares the entry).
    """

    name: str
    state: str
    energy: str
    paper: str
    options: Mapping[str, Any] = field(default_factory=dict)
    size_option: str | None = None
    beta_option: BetaOption = "beta"
    default_beta: float | BetaRule | None = None
    seeded: bool = False
    cls: type[nn.Module] | None = None

    def __post_init__(self) -> None:
        if self.state not in STATE_KINDS:
            raise ValueError(f"state must be one of {STATE_KINDS}, got {self.state!r}")

    @property
    def binary(self) -> bool:
        """True for ±1 state memories."""
        return self.state == "binary"

    @property
    def memory_class(self) -> type[nn.Module]:
        if self.cls is None:
            raise ValueError(f"registry entry {self.name!r} belongs to no class")
        return self.cls

    def load_class(self) -> type[nn.Module]:
        """The memory class (kept for code written against the former zoo entries)."""
        return self.memory_class

    def resolve_beta(self, patterns: torch.Tensor, beta: float | None) -> float | None:
        """β for ``patterns``: ``beta`` if given, else the entry's default (None if unused)."""
        if beta is not None or self.default_beta is None:
            return beta
        if callable(self.default_beta):
            return float(self.default_beta(patterns))
        return float(self.default_beta)


def check_mask(mask: object, like: torch.Tensor) -> torch.Tensor | None:
    """``None`` or a bool tensor of the shape of ``like`` (``mask`` named in errors)."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.dtype != torch.bool or mask.shape != like.shape:
        raise ValueError(
            f"mask must be a bool tensor of shape {tuple(like.shape)}, "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )
    return mask.to(like.device)


def iterate_recall(
    step: Callable[[torch.Tensor], torch.Tensor],
    energy: Callable[[torch.Tensor], torch.Tensor],
    states: torch.Tensor,
    *,
    steps: int | None,
    max_steps: int,
    tol: float,
    mask: torch.Tensor | None,
) -> RecallResult:
    """The shared recall loop of the continuous memories.

    Applies ``step`` (entries where ``mask`` is True keep their value) exactly ``steps``
    times, or with ``steps=None`` until every state moved by at most ``tol`` (max-norm)
    in one update or ``max_steps`` updates were made; records ``energy`` after each.
    """
    x = states
    energies = [energy(x)]
    converged = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    limit = max_steps if steps is None else steps
    taken = 0
    for _ in range(limit):
        new = step(x)
        if mask is not None:
            new = torch.where(mask, x, new)
        moved = (new - x).abs().flatten(1)
        converged = moved.amax(dim=1) <= tol if moved.shape[1] else torch.ones_like(converged)
        x, taken = new, taken + 1
        energies.append(energy(x))
        if steps is None and bool(converged.all()):
            break
    return RecallResult(x, torch.stack(energies), taken, converged)


def legacy_recall_steps(
    legacy: tuple[Any, ...],
    steps: int | None,
    max_steps: int | None,
    until_converged: bool | None,
) -> tuple[int | None, int | None]:
    """``(steps, max_steps)`` of a call in the former form ``recall(x, steps, until_converged)``
    (``steps`` an upper bound unless ``until_converged=False``), with a warning."""
    if len(legacy) > 2:
        raise TypeError(f"recall() got {len(legacy)} extra positional arguments, at most 2")
    warnings.warn(
        "recall(states, steps, until_converged) is deprecated and will be removed in the next "
        "release; use recall(queries, steps=…) (exactly that many) or max_steps=…",
        DeprecationWarning,
        stacklevel=3,
    )
    if legacy:
        steps = legacy[0]
    if len(legacy) == 2:
        until_converged = legacy[1]
    if until_converged is None or until_converged:
        return None, max_steps if steps is None else steps
    return steps, max_steps
