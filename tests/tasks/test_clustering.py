"""ClAM: prototypes as modern Hopfield memories, attractor assignment, unrolled training."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hopfield.tasks.clustering import ClAM, kmeans_plus_plus

F64 = torch.float64


def test_step_is_gradient_descent_on_the_energy() -> None:
    gen = torch.Generator().manual_seed(0)
    model = ClAM(torch.randn(5, 3, generator=gen, dtype=F64), beta=1.7, steps=3, step_size=0.4)
    x = torch.randn(7, 3, generator=gen, dtype=F64).requires_grad_(True)
    (grad,) = torch.autograd.grad(model.energy(x).sum(), x)
    torch.testing.assert_close(model.step(x.detach()), x.detach() - 0.4 * grad)


@given(
    seed=st.integers(0, 10_000),
    beta=st.floats(0.05, 20.0),
    step_size=st.floats(0.05, 1.0),
)
def test_energy_never_increases_along_the_dynamics(
    seed: int, beta: float, step_size: float
) -> None:
    gen = torch.Generator().manual_seed(seed)
    model = ClAM(torch.randn(6, 4, generator=gen, dtype=F64) * 2, beta=beta, step_size=step_size)
    x = torch.randn(10, 4, generator=gen, dtype=F64) * 3
    with torch.no_grad():
        energies = [model.energy(x)]
        for _ in range(8):
            x = model.step(x)
            energies.append(model.energy(x))
    trace = torch.stack(energies)
    assert bool((trace[1:] <= trace[:-1] + 1e-10 * (1 + trace[:-1].abs())).all())


def test_assignment_is_the_prototype_nearest_the_attractor() -> None:
    centres = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]], dtype=F64)
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(3, (60,), generator=gen)
    points = centres[labels] + 0.3 * torch.randn(60, 2, generator=gen, dtype=F64)
    model = ClAM(centres, beta=2.0, steps=5)
    assert torch.equal(model.assign(points), labels)


def test_training_moves_prototypes_to_the_clusters_and_lowers_the_loss() -> None:
    centres = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]], dtype=F64)
    gen = torch.Generator().manual_seed(2)
    labels = torch.randint(3, (150,), generator=gen)
    points = centres[labels] + 0.4 * torch.randn(150, 2, generator=gen, dtype=F64)
    start = centres + torch.tensor([[1.0, 1.0], [-1.0, 0.8], [0.7, -1.2]], dtype=F64)
    model = ClAM(start, beta=1.0, steps=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    before = float(model.loss(points).detach())
    for _ in range(150):
        loss = model.loss(points)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(model.loss(points).detach()) < 0.5 * before
    error = torch.cdist(model.prototypes.detach(), centres).amin(dim=1)
    assert float(error.max()) < 0.3


def test_kmeans_plus_plus_is_seeded_and_picks_distinct_points() -> None:
    points = torch.randn(50, 3, generator=torch.Generator().manual_seed(3))
    first = kmeans_plus_plus(points, 6, torch.Generator().manual_seed(4))
    second = kmeans_plus_plus(points, 6, torch.Generator().manual_seed(4))
    assert torch.equal(first, second)
    assert len(torch.unique(first, dim=0)) == 6
    with pytest.raises(ValueError, match="count"):
        kmeans_plus_plus(points, 51, torch.Generator())


def test_options_and_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="step_size"):
        ClAM(torch.randn(3, 2), step_size=1.5)
    with pytest.raises(ValueError, match="steps"):
        ClAM(torch.randn(3, 2), steps=-1)
    with pytest.raises(ValueError, match="prototypes"):
        ClAM(torch.randn(3))
    with pytest.raises(ValueError, match=r"points must have shape \(B, 2\)"):
        ClAM(torch.randn(3, 2)).step(torch.randn(4, 3))


def test_masked_completion_moves_only_hidden_coordinates_and_vanishes_at_the_prototype() -> None:
    gen = torch.Generator().manual_seed(3)
    centre = torch.tensor([[2.0, -1.0, 0.5, 3.0]], dtype=F64)
    model = ClAM(torch.cat([centre, -centre * 5]), beta=4.0, steps=6)
    # a point equal to its prototype is completed exactly: the loss is ≈ 0
    assert float(model.masked_completion_loss(centre, 0.5, gen).detach()) < 1e-8
    far = ClAM(torch.cat([centre + 3.0, -centre * 5]), beta=4.0, steps=6)
    loss = far.masked_completion_loss(centre.repeat(50, 1), 0.5, gen)
    assert float(loss.detach()) > 1.0  # hidden coordinates completed from the wrong prototype
    loss.backward()
    assert far.prototypes.grad is not None and far.prototypes.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="mask_fraction"):
        model.masked_completion_loss(centre, 1.0)
