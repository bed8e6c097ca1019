"""Recall schedules: β annealing, step sizes and Langevin noise over recall steps.

A schedule is a callable ``t ↦ v_t`` on the step index ``t = 0, 1, 2, …`` that is
constant from its horizon ``steps`` on (``v_t = end`` for ``t ≥ steps``):

* :func:`constant` ``(v)``: ``v_t = v`` (horizon 0);
* :func:`linear` ``(start, end, steps)``: ``v_t = start + (end − start)·t/steps``;
* :func:`geometric` ``(start, end, steps)``: ``v_t = start·(end/start)^{t/steps}``
  (log-linear; ``start, end > 0``), the usual β-annealing ladder;
* :func:`cosine` ``(start, end, steps)``:
  ``v_t = end + ½(start − end)(1 + cos(π t/steps))`` (zero slope at both ends).

Uses in :meth:`hopfield.models.ModernHopfield.recall` and
:meth:`hopfield.models.LogSumReLUMemory.recall` (any
:class:`~hopfield.models.modern.DenseMemory`):

* ``beta_schedule``: step ``t`` updates with ``β_t`` — deterministic annealing
  (Rose 1998; for modern Hopfield networks the temperature controls which
  metastable states exist, Ramsauer et al. 2020, Sec. 3). The energy reported at
  step ``t`` is ``E_{β_t}(x_t)``: the trace is monotone only for a fixed β.
* ``step_size_schedule`` (log-sum-ReLU): gradient descent ``x ← x − α_t ∇E(x)``.
* ``noise_schedule``: after each update ``x ← x + σ_t ε``, ``ε ~ N(0, I)`` drawn from
  the ``generator`` (reproducible). With the gradient update and
  ``σ_t = √(2 α_t / β_t)`` this is the unadjusted Langevin algorithm for the Gibbs
  density ``∝ exp(−β E)``.

A recall only counts a state as a fixed point once every schedule has reached its
horizon and the noise is 0.

When annealing pays: :mod:`hopfield.experiments.schedule_speedup` measures a case
where a β schedule reaches the fixed point in fewer steps than the fixed target β.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

from hopfield._deprecated import moved_attribute

__all__ = [
    "Constant",
    "Cosine",
    "Geometric",
    "Linear",
    "Schedule",
    "as_schedule",
    "constant",
    "cosine",
    "geometric",
    "linear",
]


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _horizon(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    return steps


class Schedule(ABC):
    """A value per recall step: ``schedule(t)`` for ``t ≥ 0``, equal to :attr:`end`
    for every ``t ≥`` :attr:`steps` (the horizon)."""

    start: float
    end: float
    steps: int

    def __call__(self, t: int) -> float:
        if isinstance(t, bool) or not isinstance(t, int):
            raise TypeError(f"t must be an int step index, got {type(t).__name__}")
        if t < 0:
            raise ValueError(f"t must be ≥ 0, got {t}")
        if t >= self.steps:
            return self.end
        return self._value(t / self.steps)

    @abstractmethod
    def _value(self, fraction: float) -> float:
        """Value at ``fraction = t / steps ∈ [0, 1)``."""

    def settled(self, t: int) -> bool:
        """Whether ``t`` is at or past the horizon (the value no longer changes)."""
        return t >= self.steps

    def minimum(self) -> float:
        """Smallest value taken (schedules here are monotone)."""
        return min(self.start, self.end)

    def get_config(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "steps": self.steps}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """``v_t = value`` for every ``t`` (horizon 0)."""

    def __init__(self, value: float) -> None:
        self.start = self.end = _real(value, "value")
        self.steps = 0

    def _value(self, fraction: float) -> float:  # pragma: no cover - horizon 0
        return self.end

    def get_config(self) -> dict[str, Any]:
        return {"value": self.end}


class Linear(Schedule):
    """``v_t = start + (end − start)·min(t, steps)/steps``."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start, self.end = _real(start, "start"), _real(end, "end")
        self.steps = _horizon(steps)

    def _value(self, fraction: float) -> float:
        return self.start + (self.end - self.start) * fraction


class Geometric(Schedule):
    """``v_t = start·(end/start)^{min(t, steps)/steps}`` (``start, end > 0``)."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start, self.end = _real(start, "start"), _real(end, "end")
        if self.start <= 0 or self.end <= 0:
            raise ValueError(
                f"start and end must be > 0 for a geometric schedule, got {self.start}, {self.end}"
            )
        self.steps = _horizon(steps)

    def _value(self, fraction: float) -> float:
        return self.start * (self.end / self.start) ** fraction


class Cosine(Schedule):
    """``v_t = end + ½(start − end)(1 + cos(π·min(t, steps)/steps))``."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start, self.end = _real(start, "start"), _real(end, "end")
        self.steps = _horizon(steps)

    def _value(self, fraction: float) -> float:
        return self.end + 0.5 * (self.start - self.end) * (1.0 + math.cos(math.pi * fraction))


def constant(value: float) -> Constant:
    """Constant schedule ``v_t = value``."""
    return Constant(value)


def linear(start: float, end: float, steps: int) -> Linear:
    """Linear ramp from ``start`` (t = 0) to ``end`` (t ≥ steps)."""
    return Linear(start, end, steps)


def geometric(start: float, end: float, steps: int) -> Geometric:
    """Geometric (log-linear) ramp from ``start`` to ``end``, both > 0."""
    return Geometric(start, end, steps)


def cosine(start: float, end: float, steps: int) -> Cosine:
    """Cosine ramp from ``start`` to ``end`` (zero slope at both ends)."""
    return Cosine(start, end, steps)


def as_schedule(
    value: Schedule | float | None, name: str, *, positive: bool = False
) -> Schedule | None:
    """``None`` stays ``None``; a number becomes :func:`constant`; a :class:`Schedule`
    is checked to stay ``> 0`` (``positive``) or ``≥ 0`` over its range."""
    if value is None:
        return None
    schedule = value if isinstance(value, Schedule) else None
    if schedule is None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(
                f"{name} must be a Schedule, a real number or None, got {type(value).__name__}"
            )
        schedule = Constant(value)
    low = schedule.minimum()
    if (positive and low <= 0) or low < 0:
        bound = "> 0" if positive else "≥ 0"
        raise ValueError(f"{name} must stay {bound} over its range, got minimum {low}")
    return schedule


def __getattr__(name: str) -> Any:
    """``schedule_speedup_case`` moved to :mod:`hopfield.experiments.schedule_speedup`."""
    return moved_attribute(__name__, name)
