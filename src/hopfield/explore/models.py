"""The memories of the recall view, by name: the one adapter to the model registry.

:func:`build_memory` is the only place that turns a model name into a model, through
:mod:`hopfield.models.registry` (the names ``hopfield recall --model`` accepts: the
memories stored as a pattern matrix). :func:`recall_step` runs the model's own
``recall`` for one update, so the page shows exactly the dynamics the CLI runs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hopfield.metrics.recall import overlap
from hopfield.models import registry

__all__ = ["MemoryInfo", "StepResult", "build_memory", "memory_catalogue", "recall_step"]


@dataclass(frozen=True)
class MemoryInfo:
    """What the page needs to know about one memory before building it."""

    name: str
    binary: bool
    energy: str
    paper: str
    has_beta: bool
    default_beta: float | None
    has_step_size: bool


def memory_catalogue() -> list[MemoryInfo]:
    """Every memory that can be built now, in registry order."""
    infos = []
    for name in registry.available(registry.VECTOR_STATES):
        entry = registry.spec(name)
        fixed = entry.default_beta if isinstance(entry.default_beta, float) else None
        has_beta = entry.beta_option is not None
        recall = getattr(entry.memory_class, "recall", None)
        has_step = recall is not None and "step_size" in inspect.signature(recall).parameters
        infos.append(
            MemoryInfo(name, entry.binary, entry.energy, entry.paper, has_beta, fixed, has_step)
        )
    return infos


def build_memory(name: str, patterns: torch.Tensor, *, beta: float | None) -> nn.Module:
    """Model ``name`` holding ``patterns`` ``(K, D)`` (``ValueError`` for an unknown name)."""
    return registry.build_memory(name, patterns, beta=beta)


def is_binary(name: str) -> bool:
    """True when memory ``name`` updates ±1 states."""
    return registry.spec(name).binary


def accepts_step_size(model: nn.Module) -> bool:
    """True when the model's ``recall`` takes a ``step_size`` (gradient-descent memories)."""
    recall = getattr(model, "recall", None)
    return recall is not None and "step_size" in inspect.signature(recall).parameters


@dataclass
class StepResult:
    """One or more updates of a recall, as the page shows them."""

    state: torch.Tensor
    energies: list[float]
    rejections: list[int] | None
    converged: bool


def _rejections(result: Any) -> int | None:
    """Rejected trial steps reported by a recall result (``None`` when not reported)."""
    for source in (result, getattr(result, "extras", None) or {}):
        if isinstance(source, dict):
            value = source.get("rejections")
        else:
            value = getattr(source, "rejections", None)
        if value is not None:
            return int(torch.as_tensor(value).sum())
    return None


def recall_step(
    model: nn.Module, state: torch.Tensor, *, step_size: float | None = None
) -> StepResult:
    """One update of ``model``'s recall from ``state`` ``(D,)`` (its own ``recall``, 1 step)."""
    options: dict[str, Any] = {}
    if step_size is not None and accepts_step_size(model):
        options["step_size"] = step_size
    queries = state.unsqueeze(0)
    if options:
        result = model.recall(queries, steps=1, **options)  # type: ignore[operator]
    else:
        result = registry.recall_memory(model, queries, steps=1)
    rejected = _rejections(result)
    return StepResult(
        state=result.states[0].detach(),
        energies=[float(result.energies[-1, 0])],
        rejections=None if rejected is None else [rejected],
        converged=bool(result.converged[0]),
    )


def initial_energy(model: nn.Module, state: torch.Tensor) -> float:
    """The model's energy of ``state`` ``(D,)``."""
    with torch.no_grad():
        return float(model.energy(state.unsqueeze(0))[0])  # type: ignore[operator]


def nearest_pattern(state: torch.Tensor, patterns: torch.Tensor) -> tuple[int, float]:
    """Index of the stored pattern with the largest overlap ``(1/N) ξ·x`` and that overlap."""
    m = overlap(state.unsqueeze(0).to(patterns.dtype), patterns)[0]
    index = int(torch.argmax(m))
    return index, float(m[index])
