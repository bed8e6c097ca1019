"""What every associative-memory model returns from ``recall``.

Every model in :mod:`hopfield.models` is an ``nn.Module`` with

* ``store(patterns)`` — write patterns ``(K, *pattern_shape)`` into the memory;
* ``energy(states) -> (B,)`` — the model's energy of a batch of states;
* ``step(states) -> states`` — one update of its dynamics (never raises the energy);
* ``recall(queries, steps=None, until_converged=True, ...) -> RecallResult``.

Convergence report: :class:`RecallResult` carries the steps taken, the per-sample
fixed-point flag and (where the model has a closed-form gradient) the final
gradient norm ``‖∂E/∂x‖``; ``str(result)`` / :meth:`RecallResult.summary` print them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

__all__ = ["AssociativeMemory", "RecallResult"]


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
            when clamped), or ``None`` for models that do not report it. Keyword-only
            with a default, so positional constructors of subclasses still work.
    """

    states: torch.Tensor
    energies: torch.Tensor
    steps: int
    converged: torch.Tensor
    grad_norm: torch.Tensor | None = field(default=None, kw_only=True)

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
    """What every associative memory offers: ``store`` patterns, ``recall`` from queries."""

    def store(self, patterns: torch.Tensor) -> None: ...

    def recall(self, queries: torch.Tensor, *, max_steps: int = ...) -> RecallResult: ...
