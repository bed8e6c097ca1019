"""Log-sum-ReLU (Epanechnikov) memory: Theorem 1 exactness, exact minima for β > β_max/4,
emergent minima, monotone mean-of-active update, gradients, outside-support handling."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.models.epanechnikov import (
    LogSumReLUMemory,
    enumerate_stationary_points,
    lsr_beta_max,
)
from hopfield.models.modern import ModernHopfield


def _uniform(count: int, dim: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(count, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _min_distance(patterns: torch.Tensor) -> float:
    distances = torch.cdist(patterns.double(), patterns.double())
    distances.fill_diagonal_(float("inf"))
    return float(distances.min())


def _points_within(centres: torch.Tensor, radius: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(centres.shape, generator=gen, dtype=centres.dtype)
    direction = direction / direction.norm(dim=1, keepdim=True)
    length = radius * torch.rand(centres.shape[0], 1, generator=gen, dtype=centres.dtype)
    return centres + length * direction


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("update", ["mean", "gradient_theorem"])
def test_theorem1_one_step_exact_retrieval_inside_support(dtype: torch.dtype, update: str) -> None:
    patterns = _uniform(30, 8, seed=0, dtype=dtype)
    r_min = _min_distance(patterns)
    delta = 0.4 * r_min
    beta = 2.0 / (r_min - delta) ** 2
    queries = _points_within(patterns, 0.999 * delta, seed=1)
    model = LogSumReLUMemory(beta=beta, chunk_size=7)
    model.store(patterns)
    assert torch.equal(model.active_count(queries), torch.ones(30, dtype=dtype))
    if update == "mean":
        retrieved = model.step(queries)
    else:  # the paper's gradient step with η = 1 − (β/2)‖x − ξ_μ‖²
        eta = 1.0 - 0.5 * beta * (queries - patterns).square().sum(dim=1, keepdim=True)
        retrieved = queries - eta * model.energy_grad(queries)
    error = float((retrieved - patterns).abs().max())
    # the mean of a single active memory is that memory bit for bit; the gradient
    # form rounds in (x − ξ)·η/S.
    assert error == 0.0 if update == "mean" else error <= 64 * torch.finfo(dtype).eps


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.3, 0.26])
def test_stored_patterns_are_exact_minima_while_beta_above_quarter_beta_max(
    fraction: float,
) -> None:
    patterns = _uniform(12, 4, seed=2)
    beta = fraction * lsr_beta_max(patterns)
    model = LogSumReLUMemory(beta=beta)
    model.store(patterns)
    assert torch.equal(model.step(patterns), patterns)
    assert torch.equal(model.energy_grad(patterns), torch.zeros_like(patterns))
    gen = torch.Generator().manual_seed(3)
    nudged = patterns + 1e-3 * torch.randn(patterns.shape, generator=gen, dtype=torch.float64)
    assert bool((model.energy(nudged) > model.energy(patterns)).all())


def test_closest_pair_merges_below_quarter_beta_max() -> None:
    patterns = _uniform(12, 4, seed=2)
    model = LogSumReLUMemory(beta=0.2 * lsr_beta_max(patterns))
    model.store(patterns)
    moved = (model.step(patterns) - patterns).abs().amax(dim=1) > 0
    assert int(moved.sum()) >= 2


def test_lse_memories_are_not_exact_fixed_points_at_finite_beta() -> None:
    patterns = _uniform(12, 4, seed=2)
    lse = ModernHopfield(beta=lsr_beta_max(patterns), similarity="euclidean")
    lse.store(patterns)
    assert float((lse.step(patterns) - patterns).abs().max()) > 1e-8


@pytest.mark.parametrize("seed", range(4))
def test_emergent_minima_appear_as_beta_falls_and_originals_survive(seed: int) -> None:
    patterns = _uniform(8, 4, seed=seed)
    beta_max = lsr_beta_max(patterns)
    counts = [enumerate_stationary_points(patterns, f * beta_max) for f in (1.0, 0.5, 0.3, 0.26)]
    assert [original for original, _ in counts] == [8, 8, 8, 8]
    emergent = [count for _, count in counts]
    assert emergent[0] == 0
    assert emergent == sorted(emergent) and emergent[-1] > 0
    original, _ = enumerate_stationary_points(patterns, 0.2 * beta_max)
    assert original < 8


def test_dynamics_only_reach_enumerated_minima() -> None:
    patterns = _uniform(8, 4, seed=0)
    beta = 0.3 * lsr_beta_max(patterns)
    original, emergent = enumerate_stationary_points(patterns, beta)
    model = LogSumReLUMemory(beta=beta, outside="stay")
    model.store(patterns)
    starts = _uniform(3000, 4, seed=9)
    inside = model.active_count(starts) > 0
    finals = model.mean_shift_retrieve(starts[inside])
    distinct = torch.unique(finals.round(decimals=9), dim=0)
    assert 8 <= distinct.shape[0] <= original + emergent


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**16),
    count=st.integers(1, 30),
    dim=st.integers(1, 6),
    fraction=st.sampled_from([0.05, 0.3, 1.0, 3.0]),
    eps=st.sampled_from([0.0, 1e-3]),
    clamp=st.booleans(),
)
def test_mean_update_never_increases_energy(
    seed: int, count: int, dim: int, fraction: float, eps: float, clamp: bool
) -> None:
    patterns = _uniform(count, dim, seed=seed)
    beta = fraction * (lsr_beta_max(patterns) if count > 1 else 10.0)
    model = LogSumReLUMemory(beta=beta, eps=eps, chunk_size=5)
    model.store(patterns)
    gen = torch.Generator().manual_seed(seed + 1)
    queries = patterns[torch.randint(0, count, (6,), generator=gen)]
    queries = queries + 0.3 * torch.randn(6, dim, generator=gen, dtype=torch.float64)
    mask = torch.rand(6, dim, generator=gen) < 0.3 if clamp else None
    result = model.recall(queries, steps=5, mask=mask)
    energies = result.energies
    assert bool((energies[1:] <= energies[:-1] + 1e-9 * (1 + energies[:-1].abs())).all())


def test_energy_gradient_matches_autograd_in_float64() -> None:
    patterns = _uniform(20, 5, seed=4)
    model = LogSumReLUMemory(beta=4.0, chunk_size=6)
    model.store(patterns)
    x = (patterns[:6] + 0.05).requires_grad_(True)
    assert bool((model.active_count(x.detach()) > 0).all())
    (grad,) = torch.autograd.grad(model.energy(x).sum(), x)
    torch.testing.assert_close(model.energy_grad(x.detach()), grad)


def test_energy_matches_closed_form_and_is_infinite_outside_support() -> None:
    patterns = _uniform(10, 3, seed=5)
    model = LogSumReLUMemory(beta=30.0)
    model.store(patterns)
    x = torch.cat([patterns[:3] + 0.02, torch.full((1, 3), 10.0, dtype=torch.float64)])
    kernel = torch.relu(1 - 15.0 * torch.cdist(x, patterns).square())
    expected = -kernel.sum(1).log() / 30.0
    torch.testing.assert_close(model.energy(x), expected)
    assert model.energy(x)[-1] == float("inf")


def test_outside_support_lse_fallback_moves_states_into_a_support() -> None:
    patterns = _uniform(10, 3, seed=6)
    far = torch.full((2, 3), 3.0, dtype=torch.float64)
    lse = LogSumReLUMemory(beta=50.0)
    lse.store(patterns)
    result = lse.recall(far, max_steps=20)
    assert result.energies[0].isinf().all() and torch.isfinite(result.energies[-1]).all()
    stay = LogSumReLUMemory(beta=50.0, outside="stay")
    stay.store(patterns)
    kept = stay.recall(far, steps=2)
    assert torch.equal(kept.states, far) and kept.energies[-1].isinf().all()


def test_gradient_update_descends_towards_memory() -> None:
    patterns = _uniform(10, 3, seed=7)
    model = LogSumReLUMemory(beta=2 * lsr_beta_max(patterns), update="gradient", step_size=0.1)
    model.store(patterns)
    queries = _points_within(patterns, 0.3 * model.radius, seed=8)
    result = model.recall(queries, max_steps=300, tol=1e-10)
    torch.testing.assert_close(result.states, patterns, atol=1e-6, rtol=0)


def test_persistence_round_trip_and_bad_inputs() -> None:
    model = LogSumReLUMemory(beta=3.0, eps=0.1, outside="stay", chunk_size=4)
    model.store(torch.rand(6, 2))
    clone = type(model)(**json.loads(json.dumps(model.get_config())))
    clone.load_state_dict(model.state_dict())
    x = torch.rand(3, 2)
    torch.testing.assert_close(clone.energy(x), model.energy(x))
    with pytest.raises(ValueError, match="beta"):
        LogSumReLUMemory(beta=0.0)
    with pytest.raises(ValueError, match="eps"):
        LogSumReLUMemory(eps=-1.0)
    with pytest.raises(ValueError, match="update"):
        LogSumReLUMemory(update="newton")
    with pytest.raises(ValueError, match="outside"):
        LogSumReLUMemory(outside="teleport")
    with pytest.raises(ValueError, match="memory is empty"):
        LogSumReLUMemory().energy(torch.rand(2, 2))
    with pytest.raises(ValueError, match=r"states must have shape \(B, 2\)"):
        model.energy(torch.rand(2, 3))


@pytest.mark.slow
def test_emergent_minima_table_shape_over_many_draws() -> None:
    """papers.md §8 (M = 8 uniform in [0,1]⁴): 8 originals at every β > β_max/4 and
    emergent minima growing from 0 at β_max; averaged over 30 draws."""
    fractions = (1.0, 0.5, 0.3, 0.26)
    totals = [0, 0, 0, 0]
    for seed in range(30):
        patterns = _uniform(8, 4, seed=100 + seed)
        beta_max = lsr_beta_max(patterns)
        for index, fraction in enumerate(fractions):
            original, emergent = enumerate_stationary_points(patterns, fraction * beta_max)
            assert original == 8
            totals[index] += emergent
    for fraction, total in zip(fractions, totals, strict=True):
        print(f"beta/beta_max={fraction}: {total / 30:.2f} emergent minima per draw (30 draws)")
    assert totals[0] == 0
    assert totals[0] < totals[1] < totals[2] <= totals[3]
