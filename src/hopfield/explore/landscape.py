"""2-D energy landscapes of a few memories in the plane, their minima and trajectories.

Each energy of the landscape view is a library model built on the memories ``(M, 2)``:

* ``lse`` — :class:`~hopfield.models.ModernHopfield` (Euclidean similarity),
  ``E = −β⁻¹ log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)``, CCCP update (Ramsauer et al. 2021);
* ``lsr`` — :class:`~hopfield.models.LogSumReLUMemory`,
  ``E = −β⁻¹ log Σ_μ ReLU(1 − (β/2)‖x − ξ_μ‖²)`` (+∞ outside every support; Hoover et
  al. 2025), mean update inside the supports, LSE steps outside;
* ``polynomial`` — a :class:`~hopfield.core.HAM` of two tanh neurons of gain β
  (``g = tanh(βx)``) and a polynomial memory synapse ``−Σ_μ (ξ_μ·g)³`` (Krotov & Hopfield
  2016, 2021), descended by the guarded Euler of :func:`hopfield.core.descend`, which
  reports its rejected trial steps;
* ``random-features`` — :class:`~hopfield.models.RandomFeatureMemory` (1024 trigonometric
  features), the random-feature approximation of ``lse`` (Hoover et al. 2024), guarded
  gradient descent.

Minima are the grid points strictly below their eight neighbours (border excluded):
the count the β slider changes as basins merge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hopfield.core import HAM, DenseMemorySynapse, Neurons, Polynomial, Tanh, descend
from hopfield.models import LogSumReLUMemory, ModernHopfield, RandomFeatureMemory

__all__ = [
    "ENERGIES",
    "EXTENT",
    "GRID_POINTS",
    "Landscape",
    "Trajectory",
    "build_landscape",
]

EXTENT = 2.5
"""The plane shown is ``[−EXTENT, EXTENT]²``."""
GRID_POINTS = 81
"""Grid points per axis of the contour."""
RANDOM_FEATURES = 1024
POLYNOMIAL_DEGREE = 3
_MOVE_TOL = 1e-6


@dataclass
class Trajectory:
    """A descent from one point: ``points`` ``(T + 1, 2)``, ``energies`` ``(T + 1,)`` and,
    where the dynamics report them, the rejected trial steps of each step ``(T,)``."""

    points: torch.Tensor
    energies: torch.Tensor
    rejections: list[int] | None


class Landscape:
    """One energy of the memories ``(M, 2)`` at β: values on points and descents."""

    def __init__(
        self,
        energy: Callable[[torch.Tensor], torch.Tensor],
        step: Callable[[torch.Tensor, float], tuple[torch.Tensor, int | None]],
    ) -> None:
        self._energy = energy
        self._step = step

    @torch.no_grad()
    def energy(self, points: torch.Tensor) -> torch.Tensor:
        """Energies ``(P,)`` of points ``(P, 2)``."""
        return self._energy(points)

    def grid(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(axis (G,), energies (G, G))``, row ``i`` at ``y = axis[i]``, column ``j`` at
        ``x = axis[j]``."""
        axis = torch.linspace(-EXTENT, EXTENT, GRID_POINTS)
        ys, xs = torch.meshgrid(axis, axis, indexing="ij")
        points = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
        return axis, self.energy(points).reshape(GRID_POINTS, GRID_POINTS)

    def descend(self, start: torch.Tensor, *, steps: int, step_size: float) -> Trajectory:
        """Up to ``steps`` updates from ``start`` ``(2,)``; stops once a step moves < 1e-6."""
        x = start.reshape(1, 2).to(torch.float32)
        points, rejections = [x[0]], []
        reported = True
        for _ in range(steps):
            new, rejected = self._step(x, step_size)
            reported = reported and rejected is not None
            rejections.append(rejected or 0)
            moved = float((new - x).abs().max())
            x = new
            points.append(x[0])
            if moved < _MOVE_TOL:
                break
        trace = torch.stack(points)
        return Trajectory(trace, self.energy(trace), rejections if reported else None)


def grid_minima(axis: torch.Tensor, energies: torch.Tensor) -> list[tuple[float, float]]:
    """``(x, y)`` of the interior grid points strictly below their 8 neighbours."""
    padded = F.pad(energies[None, None], (1, 1, 1, 1), value=-math.inf)
    neighbours = F.unfold(padded.nan_to_num(nan=math.inf), 3).reshape(9, *energies.shape)
    centre = neighbours[4]
    others = torch.cat([neighbours[:4], neighbours[5:]])
    lowest = (centre < others).all(dim=0) & torch.isfinite(centre)
    return [(float(axis[j]), float(axis[i])) for i, j in lowest.nonzero().tolist()]


def _dense_model(model: ModernHopfield | LogSumReLUMemory) -> Landscape:
    def step(x: torch.Tensor, step_size: float) -> tuple[torch.Tensor, int | None]:
        return model.step(x), None

    return Landscape(model.energy, step)


def _random_features(memories: torch.Tensor, beta: float) -> Landscape:
    model = RandomFeatureMemory(2, RANDOM_FEATURES, beta=beta, seed=0)
    model.store(memories)

    def step(x: torch.Tensor, step_size: float) -> tuple[torch.Tensor, int | None]:
        return model.step(x, step_size=step_size), None

    return Landscape(model.energy, step)


def _polynomial(memories: torch.Tensor, beta: float) -> Landscape:
    synapse = DenseMemorySynapse.from_memories(
        memories, separation=Polynomial(POLYNOMIAL_DEGREE)
    ).requires_grad_(False)
    ham = HAM({"x": Neurons(2, Tanh(beta))}, {"memory": synapse}, [(("x",), "memory")])

    def energy(points: torch.Tensor) -> torch.Tensor:
        return ham.energy({"x": points})

    def step(x: torch.Tensor, step_size: float) -> tuple[torch.Tensor, int | None]:
        result = descend(ham, {"x": x}, steps=1, step_size=step_size)
        return result.states["x"].detach(), result.rejections

    return Landscape(energy, step)


def _lse(memories: torch.Tensor, beta: float) -> Landscape:
    model = ModernHopfield(beta, similarity="euclidean")
    model.store(memories)
    return _dense_model(model)


def _lsr(memories: torch.Tensor, beta: float) -> Landscape:
    model = LogSumReLUMemory(beta)
    model.store(memories)
    return _dense_model(model)


ENERGIES: dict[str, Callable[[torch.Tensor, float], Landscape]] = {
    "lse": _lse,
    "lsr": _lsr,
    "polynomial": _polynomial,
    "random-features": _random_features,
}
"""Energy name → builder ``(memories (M, 2), β) -> Landscape``."""

STEP_SIZE_ENERGIES: tuple[str, ...] = ("polynomial", "random-features")
"""Energies whose descent takes a step size (the others use their exact update)."""


def build_landscape(name: str, memories: torch.Tensor, beta: float) -> Landscape:
    """The landscape of energy ``name`` for ``memories`` ``(M, 2)`` at ``beta``."""
    return ENERGIES[name](memories.to(torch.float32), beta)
