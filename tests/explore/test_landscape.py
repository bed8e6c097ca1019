"""2-D landscapes: library energies on a grid, their minima, descents."""

from __future__ import annotations

import pytest
import torch

from hopfield.explore.landscape import ENERGIES, EXTENT, build_landscape, grid_minima
from hopfield.models import ModernHopfield

MEMORIES = torch.tensor([[-1.2, -0.4], [1.2, -0.4], [0.0, 1.1]])


def test_lse_landscape_is_the_modern_hopfield_energy() -> None:
    view = build_landscape("lse", MEMORIES, 3.0)
    axis, energies = view.grid()
    model = ModernHopfield(3.0, similarity="euclidean")
    model.store(MEMORIES)
    point = torch.tensor([[float(axis[10]), float(axis[40])]])  # x = axis[10], y = axis[40]
    assert torch.allclose(energies[40, 10], model.energy(point)[0])
    assert axis[0] == -EXTENT and axis[-1] == EXTENT


def test_minima_merge_as_beta_falls() -> None:
    counts = [len(grid_minima(*build_landscape("lse", MEMORIES, b).grid())) for b in (0.3, 10)]
    assert counts == [1, 3]
    minima = grid_minima(*build_landscape("lse", MEMORIES, 10.0).grid())
    for memory in MEMORIES.tolist():  # each minimum within a grid cell of its memory
        assert min(abs(m[0] - memory[0]) + abs(m[1] - memory[1]) for m in minima) < 0.15


def test_grid_minima_ignore_the_border_plateaus_and_infinity() -> None:
    axis = torch.linspace(-1, 1, 5)
    flat = torch.zeros(5, 5)
    assert grid_minima(axis, flat) == []
    bowl = torch.full((5, 5), float("inf"))
    bowl[2, 3] = -1.0
    bowl[1:4, 2:5] = torch.where(bowl[1:4, 2:5].isinf(), 0.0, bowl[1:4, 2:5])
    assert grid_minima(axis, bowl) == [(0.5, 0.0)]
    edge = torch.arange(25.0).reshape(5, 5)  # lowest at the corner: not a minimum
    assert grid_minima(axis, edge) == []


@pytest.mark.parametrize("name", list(ENERGIES))
def test_descent_never_raises_the_energy(name: str) -> None:
    view = build_landscape(name, MEMORIES, 2.0)
    path = view.descend(torch.tensor([0.5, -2.0]), steps=60, step_size=0.2)
    finite = path.energies[torch.isfinite(path.energies)]
    assert (finite.diff() <= 1e-5 * finite[:-1].abs().clamp_min(1)).all()
    assert path.points.shape[1] == 2 and path.points.shape[0] == path.energies.shape[0]


def test_polynomial_descent_reports_rejected_trials_with_a_large_step() -> None:
    view = build_landscape("polynomial", MEMORIES, 1.0)
    path = view.descend(torch.tensor([0.3, -1.5]), steps=80, step_size=2.0)
    assert path.rejections is not None and sum(path.rejections) > 0
