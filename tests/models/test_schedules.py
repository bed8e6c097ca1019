"""Recall schedules (β annealing, step size, Langevin noise) and convergence reports."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.models.base import RecallResult
from hopfield.models.epanechnikov import LogSumReLUMemory
from hopfield.models.modern import ModernHopfield
from hopfield.models.schedules import (
    Schedule,
    as_schedule,
    constant,
    cosine,
    geometric,
    linear,
)


# ----------------------------------------------------------------------------- schedules
def test_schedule_values() -> None:
    assert constant(0.3)(0) == constant(0.3)(1000) == 0.3
    ramp = linear(1.0, 3.0, 4)
    assert [ramp(t) for t in range(6)] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    ladder = geometric(0.01, 1.0, 2)
    assert ladder(0) == pytest.approx(0.01) and ladder(1) == pytest.approx(0.1)
    assert ladder(2) == ladder(7) == 1.0
    wave = cosine(2.0, 0.0, 4)
    assert wave(0) == pytest.approx(2.0) and wave(2) == pytest.approx(1.0)
    assert wave(1) == pytest.approx(1.0 + math.cos(math.pi / 4))
    assert wave(4) == 0.0
    assert not ramp.settled(3) and ramp.settled(4) and constant(1.0).settled(0)
    assert repr(ladder) == "Geometric(start=0.01, end=1.0, steps=2)"


@settings(max_examples=30)
@given(
    start=st.floats(1e-3, 10.0),
    end=st.floats(1e-3, 10.0),
    steps=st.integers(1, 50),
    kind=st.sampled_from([linear, geometric, cosine]),
)
def test_schedules_are_monotone_between_their_endpoints(
    start: float, end: float, steps: int, kind: type[Schedule]
) -> None:
    schedule = kind(start, end, steps)  # type: ignore[call-arg]
    values = [schedule(t) for t in range(steps + 3)]
    low, high = min(start, end), max(start, end)
    assert all(low - 1e-12 <= v <= high + 1e-12 for v in values)
    diffs = [b - a for a, b in itertools.pairwise(values)]
    sign = 1 if end >= start else -1
    assert all(sign * d >= -1e-12 for d in diffs)
    assert values[-1] == end


def test_schedule_validation() -> None:
    with pytest.raises(ValueError, match="steps"):
        linear(0.0, 1.0, 0)
    with pytest.raises(TypeError, match="steps"):
        linear(0.0, 1.0, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="geometric"):
        geometric(0.0, 1.0, 3)
    with pytest.raises(ValueError, match="start must be finite"):
        cosine(float("nan"), 1.0, 3)
    with pytest.raises(TypeError, match="value"):
        constant("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="t must be"):
        linear(0.0, 1.0, 2)(-1)
    with pytest.raises(ValueError, match="beta_schedule must stay > 0"):
        as_schedule(linear(1.0, 0.0, 3), "beta_schedule", positive=True)
    with pytest.raises(ValueError, match="noise_schedule must stay ≥ 0"):
        as_schedule(-0.1, "noise_schedule")
    with pytest.raises(TypeError, match="noise_schedule"):
        as_schedule("0.1", "noise_schedule")  # type: ignore[arg-type]
    model = ModernHopfield()
    model.store(torch.randn(3, 2))
    with pytest.raises(ValueError, match="beta_schedule"):
        model.recall(torch.randn(1, 2), beta_schedule=0.0)
    with pytest.raises(TypeError, match="generator"):
        model.recall(torch.randn(1, 2), noise_schedule=0.1, generator=0)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- β annealing
def test_step_t_uses_beta_t_and_beta_is_restored() -> None:
    patterns = torch.randn(10, 4, dtype=torch.float64)
    queries = torch.randn(3, 4, dtype=torch.float64)
    model = ModernHopfield(2.0)
    model.store(patterns)
    schedule = linear(0.5, 1.5, 2)
    result = model.recall(queries, steps=3, beta_schedule=schedule)
    assert model.beta == 2.0
    x = queries
    for t in range(3):
        reference = ModernHopfield(schedule(t))
        reference.store(patterns)
        torch.testing.assert_close(result.energies[t], reference.energy(x))
        x = reference.step(x)
    torch.testing.assert_close(result.states, x)
    final = ModernHopfield(1.5)
    final.store(patterns)
    torch.testing.assert_close(result.energies[3], final.energy(x))
    torch.testing.assert_close(result.grad_norm, final.energy_grad(x).norm(dim=1))


def test_beta_is_restored_when_the_update_fails() -> None:
    model = ModernHopfield(2.0)
    model.store(torch.randn(4, 3))

    def broken(fraction: float) -> float:
        raise RuntimeError("boom")

    schedule = linear(1.0, 2.0, 3)
    schedule._value = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="boom"):
        model.recall(torch.randn(2, 3), beta_schedule=schedule)
    assert model.beta == 2.0


def test_no_convergence_before_the_schedule_settles() -> None:
    patterns = torch.eye(4, dtype=torch.float64)
    model = ModernHopfield(50.0)
    model.store(patterns)
    result = model.recall(patterns.clone(), beta_schedule=geometric(5.0, 50.0, 6))
    assert result.steps == 7 and bool(result.converged.all())  # fixed points from t = 0
    plain = model.recall(patterns.clone())
    assert plain.steps == 1


# ----------------------------------------------------------------------------- monotonicity
@settings(max_examples=25)
@given(
    beta=st.floats(0.05, 10.0),
    similarity=st.sampled_from(["dot", "euclidean"]),
    seed=st.integers(0, 2**16),
)
def test_fixed_beta_energy_trace_is_monotone(beta: float, similarity: str, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn(12, 5, generator=generator, dtype=torch.float64)
    queries = 3 * torch.randn(4, 5, generator=generator, dtype=torch.float64)
    model = ModernHopfield(beta, similarity=similarity)
    model.store(patterns)
    energies = model.recall(queries, steps=8, beta_schedule=constant(beta)).energies
    assert bool((energies[1:] <= energies[:-1] + 1e-9 * (1 + energies[:-1].abs())).all())


@settings(max_examples=25)
@given(beta=st.floats(0.2, 5.0), seed=st.integers(0, 2**16))
def test_fixed_beta_lsr_energy_trace_is_monotone(beta: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn(12, 3, generator=generator, dtype=torch.float64)
    queries = patterns[:4] + 0.3 * torch.randn(4, 3, generator=generator, dtype=torch.float64)
    model = LogSumReLUMemory(beta, eps=1e-3)
    model.store(patterns)
    energies = model.recall(queries, steps=6).energies
    assert bool((energies[1:] <= energies[:-1] + 1e-9 * (1 + energies[:-1].abs())).all())


# ----------------------------------------------------------------------------- noise
def test_noise_is_reproducible_with_a_seeded_generator() -> None:
    model = ModernHopfield(4.0)
    model.store(torch.randn(8, 6))
    queries = torch.randn(5, 6)
    noise = linear(0.2, 0.0, 5)

    def run(seed: int) -> RecallResult:
        return model.recall(
            queries, steps=8, noise_schedule=noise, generator=torch.Generator().manual_seed(seed)
        )

    first, again, other = run(3), run(3), run(4)
    assert torch.equal(first.states, again.states)
    assert torch.equal(first.energies, again.energies)
    assert not torch.equal(first.energies, other.energies)
    quiet = model.recall(queries, steps=8)
    assert not torch.equal(first.energies[1], quiet.energies[1])  # noise was added


def test_noise_respects_the_mask_and_blocks_convergence() -> None:
    model = ModernHopfield(4.0)
    model.store(torch.randn(8, 6))
    queries = torch.randn(3, 6)
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[:, :2] = True
    result = model.recall(
        queries, mask=mask, noise_schedule=0.1, max_steps=10, generator=torch.Generator()
    )
    assert torch.equal(result.states[:, :2], queries[:, :2])
    assert result.steps == 10 and not bool(result.converged.any())
    assert result.grad_norm is not None
    free_grad = model.energy_grad(result.states)[:, 2:].norm(dim=1)
    torch.testing.assert_close(result.grad_norm, free_grad)


# ----------------------------------------------------------------------------- LSR schedules
def test_lsr_step_size_schedule_is_gradient_descent() -> None:
    patterns = torch.randn(6, 3, dtype=torch.float64)
    queries = patterns[:2] + 0.1 * torch.randn(2, 3, dtype=torch.float64)
    model = LogSumReLUMemory(0.5)  # update="mean" by default
    model.store(patterns)
    schedule = linear(0.05, 0.01, 3)
    result = model.recall(queries, steps=3, step_size_schedule=schedule)
    x = queries
    for t in range(3):
        x = x - schedule(t) * model.energy_grad(x)
    torch.testing.assert_close(result.states, x)
    assert model.update == "mean" and model.step_size == 0.1  # restored
    energies = result.energies
    assert bool((energies[1:] <= energies[:-1]).all())


def test_lsr_recall_reports_gradient_norm_and_converges_at_memories() -> None:
    patterns = 3 * torch.randn(5, 4, dtype=torch.float64)
    model = LogSumReLUMemory(1.0)
    model.store(patterns)
    queries = patterns + 0.05 * torch.randn(5, 4, dtype=torch.float64)
    result = model.recall(queries, beta_schedule=linear(0.5, 1.0, 3))
    assert bool(result.converged.all()) and result.steps >= 4
    assert result.grad_norm is not None
    torch.testing.assert_close(result.grad_norm, torch.zeros(5, dtype=torch.float64))
    torch.testing.assert_close(result.states, patterns)


def test_lsr_langevin_noise_is_reproducible() -> None:
    model = LogSumReLUMemory(0.5, eps=1e-3)
    model.store(torch.randn(6, 3))
    queries = torch.randn(4, 3)
    std = math.sqrt(2 * 0.05 / 0.5)

    def run() -> RecallResult:
        generator = torch.Generator().manual_seed(1)
        return model.recall(
            queries, steps=5, step_size_schedule=0.05, noise_schedule=std, generator=generator
        )

    a, b = run(), run()
    assert torch.equal(a.states, b.states)


# ----------------------------------------------------------------------------- reports
def test_recall_result_is_backward_compatible_and_summarises() -> None:
    states, energies = torch.zeros(2, 3), torch.zeros(4, 2)
    converged = torch.tensor([True, False])
    legacy = RecallResult(states, energies, 3, converged)
    assert legacy.grad_norm is None
    assert str(legacy) == (
        "RecallResult(steps=3, converged=1/2 (50.0%), final_energy_mean=0, grad_norm_max=n/a)"
    )
    cycled = torch.zeros(2, dtype=torch.bool)
    binary = RecallResult(states, energies, 3, converged, extras={"cycled": cycled})
    assert binary.grad_norm is None and binary.converged_fraction == 0.5
    assert binary.cycled is cycled and binary.extras == {"cycled": cycled}
    reported = RecallResult(states, energies, 3, converged, grad_norm=torch.tensor([1e-3, 2.0]))
    assert "grad_norm_max=2" in reported.summary()


def test_modern_recall_fills_grad_norm() -> None:
    patterns = torch.randn(10, 5, dtype=torch.float64)
    model = ModernHopfield(3.0)
    model.store(patterns)
    result = model.recall(torch.randn(4, 5, dtype=torch.float64), max_steps=200)
    assert result.grad_norm is not None and result.grad_norm.shape == (4,)
    torch.testing.assert_close(result.grad_norm, model.energy_grad(result.states).norm(dim=1))
    assert bool(result.converged.all()) and float(result.grad_norm.max()) < 1e-5
