"""DenseAssociativeMemory: fields, n = 2 ≡ Hopfield, capacity numbers (Krotov & Hopfield 2016;
Demircigil et al. 2017)."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.core.separation import (
    Exponential,
    Polynomial,
    RectifiedPolynomial,
    ReLUSquared,
    Separation,
)
from hopfield.data.generators import random_bipolar
from hopfield.models.classical import ClassicalHopfield
from hopfield.models.dense import (
    DenseAssociativeMemory,
    separation_from_config,
    separation_to_config,
)


def energy_difference_field(model: DenseAssociativeMemory, states: torch.Tensor) -> torch.Tensor:
    """E(σ with σ_i = −1) − E(σ with σ_i = +1) for every i, from the public energy."""
    columns = []
    for i in range(states.shape[1]):
        up, down = states.clone(), states.clone()
        up[:, i], down[:, i] = 1.0, -1.0
        columns.append(model.energy(down.double()) - model.energy(up.double()))
    return torch.stack(columns, dim=1)


def one_step_flip_rate(
    separation: Separation, num_patterns: int, trials: int, num_neurons: int = 64
) -> tuple[float, float]:
    """Mean fraction of flipped bits and of patterns with ≥ 1 flip after one synchronous
    update from each stored pattern."""
    bits, patterns_hit = 0.0, 0.0
    for trial in range(trials):
        patterns = random_bipolar(num_patterns, num_neurons, seed=500 + trial)
        model = DenseAssociativeMemory(num_neurons, separation=separation, update="sync")
        model.store(patterns)
        wrong = model.step(patterns) != patterns
        bits += wrong.double().mean().item()
        patterns_hit += wrong.any(dim=1).double().mean().item()
    return bits / trials, patterns_hit / trials


# --- fields and energy ---------------------------------------------------------------


@pytest.mark.parametrize(
    "separation",
    [Polynomial(2), Polynomial(3), Polynomial(4), RectifiedPolynomial(3), ReLUSquared()],
)
def test_local_field_equals_energy_difference_of_the_two_spin_values(
    separation: Separation,
) -> None:
    model = DenseAssociativeMemory(24, separation=separation)
    model.store(random_bipolar(9, 24, seed=1, dtype=torch.float64))
    states = random_bipolar(5, 24, seed=2, dtype=torch.float64)
    expected = energy_difference_field(model, states)
    torch.testing.assert_close(model.local_field(states), expected.double())


def test_energy_is_minus_sum_of_separation_of_overlaps() -> None:
    model = DenseAssociativeMemory(20, separation=RectifiedPolynomial(3))
    patterns = random_bipolar(7, 20, seed=3, dtype=torch.float64)
    model.store(patterns)
    states = random_bipolar(4, 20, seed=4, dtype=torch.float64)
    overlaps = states @ patterns.T
    expected = -(torch.relu(overlaps) ** 3).sum(dim=1)
    torch.testing.assert_close(model.energy(states), expected)


def test_exponential_field_sign_matches_naive_sum_of_exponentials() -> None:
    model = DenseAssociativeMemory(16, separation=Exponential(beta=0.5))
    patterns = random_bipolar(40, 16, seed=5, dtype=torch.float64)
    model.store(patterns)
    states = random_bipolar(6, 16, seed=6, dtype=torch.float64)
    naive = torch.zeros(6, 16, dtype=torch.float64)
    for i in range(16):
        rest = states @ patterns.T - patterns[:, i] * states[:, i : i + 1]
        naive[:, i] = (
            torch.exp(0.5 * (rest + patterns[:, i])) - torch.exp(0.5 * (rest - patterns[:, i]))
        ).sum(dim=1)
    assert torch.equal(torch.sign(model.local_field(states)), torch.sign(naive))
    log_energy = -torch.logsumexp(0.5 * states @ patterns.T, dim=1) / 0.5
    torch.testing.assert_close(model.energy(states), log_energy)


@pytest.mark.parametrize("beta", [0.05, 3.0, 250.0, 400.0])
def test_exponential_field_sign_equals_log_domain_energy_difference(beta: float) -> None:
    model = DenseAssociativeMemory(14, separation=Exponential(beta=beta))
    model.store(random_bipolar(60, 14, seed=21, dtype=torch.float64))
    states = random_bipolar(8, 14, seed=22, dtype=torch.float64)
    difference = energy_difference_field(model, states)
    decided = difference.abs() > 1e-9
    field = model.local_field(states)
    assert bool(decided.any())
    assert torch.equal(torch.sign(field[decided]), torch.sign(difference[decided]))


@pytest.mark.parametrize(
    "separation",
    [Polynomial(3), RectifiedPolynomial(2), Exponential(0.3), Exponential(2.0), Exponential(500.0)],
)
def test_async_sweep_matches_greedy_energy_descent_reference(separation: Separation) -> None:
    # Reference: visit neurons 0…N−1, give each the value of lower energy (ties keep).
    model = DenseAssociativeMemory(16, separation=separation, order="sweep")
    model.store(random_bipolar(30, 16, seed=23, dtype=torch.float64))
    queries = random_bipolar(6, 16, seed=24, dtype=torch.float64)
    expected = queries.clone()
    for i in range(16):
        up, down = expected.clone(), expected.clone()
        up[:, i], down[:, i] = 1.0, -1.0
        gap = model.energy(down) - model.energy(up)
        decided = gap.abs() > 1e-9 * model.energy(up).abs().clamp(min=1.0)
        expected[:, i] = torch.where(decided, torch.sign(gap), expected[:, i])
    assert torch.equal(model.step(queries), expected)


# --- n = 2 is the classical network ----------------------------------------------------


@pytest.mark.parametrize(
    ("update", "order"), [("async", "random"), ("async", "sweep"), ("sync", "random")]
)
def test_polynomial_degree_two_reproduces_classical_hebbian_dynamics(
    update: str, order: str
) -> None:
    patterns = random_bipolar(12, 64, seed=7)
    generator = torch.Generator().manual_seed(8)
    flips = torch.rand(40, 64, generator=generator) < 0.3
    queries = torch.where(flips, -patterns.repeat(4, 1)[:40], patterns.repeat(4, 1)[:40])
    classical = ClassicalHopfield(64, update=update, order=order, seed=3)
    dense = DenseAssociativeMemory(64, separation=Polynomial(2), update=update, order=order, seed=3)
    classical.store(patterns)
    dense.store(patterns)
    a, b = classical.recall(queries), dense.recall(queries)
    assert torch.equal(a.states, b.states)
    assert a.steps == b.steps
    assert torch.equal(a.converged, b.converged)
    assert torch.equal(a.cycled, b.cycled)
    # E_dense = −Σ_μ (ξ·σ)² = 2N·E_classical − K·N (W = (ΞᵀΞ − K·I)/N)
    torch.testing.assert_close(b.energies.double(), 2 * 64 * a.energies.double() - 12 * 64)


# --- dynamics ------------------------------------------------------------------------


@settings(max_examples=30)
@given(
    num_neurons=st.integers(3, 24),
    num_patterns=st.integers(1, 30),
    seed=st.integers(0, 10_000),
    separation=st.sampled_from(
        [
            Polynomial(2),
            Polynomial(3),
            Polynomial(5),
            RectifiedPolynomial(4),
            Exponential(1.0),
            Exponential(500.0),  # beyond the shifted-sum limit: exact log-sum-exp path
        ]
    ),
)
def test_energy_never_rises_under_async_updates(
    num_neurons: int, num_patterns: int, seed: int, separation: Separation
) -> None:
    generator = torch.Generator().manual_seed(seed)
    patterns = random_bipolar(num_patterns, num_neurons, generator=generator)
    model = DenseAssociativeMemory(num_neurons, separation=separation, seed=seed)
    model.store(patterns)
    result = model.recall(random_bipolar(5, num_neurons, generator=generator), max_steps=30)
    energies = result.energies.double()
    assert bool((energies[1:] <= energies[:-1] + 1e-9 * energies.abs().max()).all())
    assert bool(result.converged.all())


def test_chunked_memories_give_identical_dynamics() -> None:
    patterns = random_bipolar(50, 32, seed=9)
    queries = torch.where(torch.rand(8, 32) < 0.25, -patterns[:8], patterns[:8])
    for separation in (Polynomial(3), Exponential(2.0)):
        whole = DenseAssociativeMemory(32, separation=separation, seed=1)
        chunked = DenseAssociativeMemory(32, separation=separation, seed=1, chunk_size=7)
        whole.store(patterns)
        chunked.store(patterns)
        assert torch.equal(whole.recall(queries).states, chunked.recall(queries).states)
        torch.testing.assert_close(whole.local_field(queries), chunked.local_field(queries))
        torch.testing.assert_close(whole.energy(queries), chunked.energy(queries))


def test_mask_clamps_entries() -> None:
    patterns = random_bipolar(30, 40, seed=10)
    queries = patterns[:4].clone()
    queries[:, :6] *= -1
    mask = torch.zeros_like(queries, dtype=torch.bool)
    mask[:, :6] = True
    model = DenseAssociativeMemory(40)
    model.store(patterns)
    assert torch.equal(model.recall(queries).states, patterns[:4])
    assert torch.equal(model.recall(queries, mask=mask).states, queries)


# --- the papers' numbers (papers.md C2, C3) ---------------------------------------------


def test_polynomial_n3_stores_k50_at_n64_without_a_single_flip() -> None:
    bits, _ = one_step_flip_rate(Polynomial(3), 50, trials=5)
    assert bits == 0.0


def test_polynomial_n3_k100_at_n64_is_essentially_error_free() -> None:
    # papers.md C2 reports 0 flips in one run; the expected per-bit flip probability at
    # K = 100 is ≈1.3e-4 (signal 6N² against crosstalk sd 6·√(3(K−1))·(N−1)), so over
    # 10 trials (64 000 bits) a handful of flips is expected.
    bits, patterns_hit = one_step_flip_rate(Polynomial(3), 100, trials=10)
    assert bits <= 5e-4, bits
    assert patterns_hit <= 0.03, patterns_hit


def test_polynomial_n3_errors_set_in_beyond_the_capacity_estimate() -> None:
    onset, _ = one_step_flip_rate(Polynomial(3), 164, trials=4)
    overloaded, hit = one_step_flip_rate(Polynomial(3), 400, trials=4)
    assert 0.0005 <= onset <= 0.008, onset  # papers.md: 0.36 %
    assert 0.025 <= overloaded <= 0.05, overloaded  # papers.md: 3.7 %
    assert 0.7 <= hit <= 0.95, hit  # papers.md: 84 %


@pytest.mark.slow
def test_polynomial_capacity_onset_table() -> None:
    rows = {  # (degree, K): (lower, upper) band for the bit-flip rate; papers.md C2
        (3, 100): (0.0, 5e-4),
        (3, 164): (0.001, 0.006),
        (3, 400): (0.03, 0.045),
        (4, 1000): (0.0, 1e-4),
        (4, 2100): (0.0008, 0.005),
    }
    for (degree, num_patterns), (low, high) in rows.items():
        bits, _ = one_step_flip_rate(Polynomial(degree), num_patterns, trials=10)
        print(f"polynomial degree {degree}, K={num_patterns}: bit-flip rate {bits:.5f}")
        assert low <= bits <= high, (degree, num_patterns, bits)


def test_exponential_stores_k1000_at_n32() -> None:
    patterns = random_bipolar(1000, 32, seed=11)
    model = DenseAssociativeMemory(32, separation=Exponential())
    model.store(patterns)
    assert torch.equal(model.step(patterns[:50]), patterns[:50])
    assert bool(model.is_fixed_point(patterns[:50]).all())


@pytest.mark.slow
@pytest.mark.parametrize("num_patterns", [10_000, 30_000])
def test_exponential_stores_exponentially_many_patterns_at_n32(num_patterns: int) -> None:
    patterns = random_bipolar(num_patterns, 32, seed=12)
    model = DenseAssociativeMemory(32, separation=Exponential(), update="sync")
    model.store(patterns)
    assert torch.equal(model.step(patterns[:50]), patterns[:50])


@pytest.mark.parametrize("beta", [1.0, 1000.0])
def test_exponential_works_at_n1000_without_overflow(beta: float) -> None:
    patterns = random_bipolar(64, 1000, seed=13)
    generator = torch.Generator().manual_seed(14)
    queries = torch.where(
        torch.rand(4, 1000, generator=generator) < 0.3, -patterns[:4], patterns[:4]
    )
    model = DenseAssociativeMemory(1000, separation=Exponential(beta=beta))
    model.store(patterns)
    result = model.recall(queries)
    assert torch.equal(result.states, patterns[:4])
    assert bool(torch.isfinite(result.energies).all())
    torch.testing.assert_close(result.final_energy, torch.full((4,), -1000.0), atol=1e-3, rtol=0)
    assert bool(torch.isfinite(model.local_field(queries)).all())


# --- persistence and validation --------------------------------------------------------


def test_config_round_trip_restores_separation_and_patterns() -> None:
    model = DenseAssociativeMemory(
        20, separation=Exponential(beta=0.7), update="sync", seed=5, chunk_size=4
    )
    model.store(random_bipolar(11, 20, seed=15))
    config = json.loads(json.dumps(model.get_config()))
    restored = DenseAssociativeMemory(**config)
    restored.load_state_dict(model.state_dict())
    assert repr(restored.separation) == "Exponential(beta=0.7)"
    queries = random_bipolar(3, 20, seed=16)
    assert torch.equal(restored.recall(queries).states, model.recall(queries).states)


@pytest.mark.parametrize(
    "separation", [Polynomial(4), RectifiedPolynomial(2), Exponential(3.0), ReLUSquared()]
)
def test_separation_config_round_trip(separation: Separation) -> None:
    assert repr(separation_from_config(separation_to_config(separation))) == repr(separation)


def test_bad_separations_are_rejected() -> None:
    with pytest.raises(TypeError, match="separation"):
        DenseAssociativeMemory(10, separation=lambda z: z)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="separation name"):
        DenseAssociativeMemory(10, separation={"name": "cubic"})
    with pytest.raises(ValueError, match="beta"):
        DenseAssociativeMemory(10, separation={"name": "exponential", "beta": -1.0})


def test_bad_inputs_are_rejected() -> None:
    model = DenseAssociativeMemory(10)
    with pytest.raises(ValueError, match="empty"):
        model.step(torch.ones(2, 10))
    with pytest.raises(ValueError, match="bipolar"):
        model.store(torch.zeros(3, 10))
    with pytest.raises(ValueError, match="NaN"):
        model.store(torch.full((3, 10), float("nan")))
    model.store(random_bipolar(3, 10, seed=17))
    with pytest.raises(ValueError, match=r"\(B, N\)"):
        model.recall(torch.ones(10))
    with pytest.raises(ValueError, match="chunk_size"):
        DenseAssociativeMemory(10, chunk_size=0)
