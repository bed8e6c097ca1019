"""What every associative-memory model returns from ``recall``.

Every model in :mod:`hopfield.models` is an ``nn.Module`` with

* ``store(patterns)`` — write patterns ``(K, *pattern_shape)`` into the memory;
* ``energy(states) -> (B,)`` — the model's energy of a batch of states;
* ``step(states) -> states`` — one update of its dynamics (never raises the energy);
* ``recall(queries, steps=None, until_converged=True, ...) -> RecallResult``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RecallResult"]


@dataclass
class RecallResult:
    """Outcome of ``recall``.

    Attributes:
        states: final states, same shape as the queries ``(B, ...)``.
        energies: energy trace ``(T + 1, B)``; row 0 is the energy of the queries.
        steps: number of update steps taken.
        converged: ``(B,)`` bool, whether each state reached a fixed point
            (within the model's tolerance).
    """

    states: torch.Tensor
    energies: torch.Tensor
    steps: int
    converged: torch.Tensor

    @property
    def final_energy(self) -> torch.Tensor:
        return self.energies[-1]
