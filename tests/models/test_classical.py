"""ClassicalHopfield: learning rules, energy, async/sync dynamics, recall (Hopfield 1982)."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.data.generators import random_bipolar
from hopfield.models.base import RecallResult
from hopfield.models.classical import (
    ClassicalHopfield,
    hebbian_weights,
    pseudoinverse_weights,
    storkey_weights,
)

# --- independent references -------------------------------------------------------------


def reference_storkey(patterns: torch.Tensor) -> torch.Tensor:
    """Storkey (1997) written element by element: h_ij = Σ_{k≠i,j} w_ik ξ_k."""
    dim = patterns.shape[1]
    w = torch.zeros(dim, dim, dtype=torch.float64)
    for xi in patterns.to(torch.float64):
        h = torch.zeros(dim, dim, dtype=torch.float64)
        for i in range(dim):
            for j in range(dim):
                h[i, j] = sum(w[i, k] * xi[k] for k in range(dim) if k not in (i, j))
        new = w.clone()
        for i in range(dim):
            for j in range(dim):
                if i != j:
                    new[i, j] = w[i, j] + (xi[i] * xi[j] - xi[i] * h[j, i] - h[i, j] * xi[j]) / dim
        w = new
    return w


def reference_async_sweep(
    weights: torch.Tensor, threshold: torch.Tensor, state: torch.Tensor
) -> torch.Tensor:
    """One in-order sweep s_i ← sgn(Σ_j W_ij s_j − θ_i), recomputing each field."""
    s = state.clone().to(torch.float64)
    for i in range(s.shape[0]):
        field = float(weights[i].to(torch.float64) @ s - threshold[i])
        if field != 0:
            s[i] = 1.0 if field > 0 else -1.0
    return s


def mean_bit_error(num_patterns: int, trials: int, num_neurons: int = 100) -> float:
    errors = []
    for trial in range(trials):
        patterns = random_bipolar(num_patterns, num_neurons, seed=10_000 + trial)
        model = ClassicalHopfield(num_neurons, seed=trial)
        model.store(patterns)
        recalled = model.recall(patterns).states
        errors.append((recalled != patterns).double().mean().item())
    return sum(errors) / trials


# --- learning rules -------------------------------------------------------------------


def test_hebbian_weights_are_scaled_outer_products_with_zero_diagonal() -> None:
    patterns = random_bipolar(5, 12, seed=1, dtype=torch.float64)
    expected = sum(torch.outer(p, p) for p in patterns) / 12
    expected.fill_diagonal_(0)
    torch.testing.assert_close(hebbian_weights(patterns), expected)


def test_storkey_weights_match_elementwise_definition() -> None:
    patterns = random_bipolar(4, 7, seed=2, dtype=torch.float64)
    torch.testing.assert_close(storkey_weights(patterns), reference_storkey(patterns))


def test_pseudoinverse_weights_reproduce_patterns_up_to_diagonal() -> None:
    patterns = random_bipolar(6, 20, seed=3, dtype=torch.float64)
    weights = pseudoinverse_weights(patterns)
    projector = patterns.T @ torch.linalg.solve(patterns @ patterns.T, patterns)
    torch.testing.assert_close(weights, weights.T)
    torch.testing.assert_close(weights + torch.diag(projector.diagonal()), projector)
    torch.testing.assert_close(patterns @ projector, patterns)


@pytest.mark.parametrize(
    ("rule", "learn"),
    [
        ("hebbian", hebbian_weights),
        ("storkey", storkey_weights),
        ("pseudoinverse", pseudoinverse_weights),
    ],
)
def test_store_writes_the_rule_weights(rule: str, learn: object) -> None:
    patterns = random_bipolar(8, 30, seed=20)
    model = ClassicalHopfield(30, rule=rule)
    model.store(patterns)
    expected = learn(patterns.double())  # type: ignore[operator]
    torch.testing.assert_close(model.weights.double(), expected, rtol=1e-5, atol=1e-6)


# --- energy and single steps ------------------------------------------------------------


def test_energy_matches_quadratic_form_with_threshold() -> None:
    threshold = torch.linspace(-0.2, 0.3, 10).tolist()
    model = ClassicalHopfield(10, rule="storkey", threshold=threshold)
    model.store(random_bipolar(3, 10, seed=4))
    states = random_bipolar(6, 10, seed=5)
    w = model.weights.double()
    s = states.double()
    theta = torch.tensor(threshold, dtype=torch.float64)
    expected = torch.stack([-0.5 * x @ w @ x + theta @ x for x in s])
    torch.testing.assert_close(model.energy(states).double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rule", ["hebbian", "storkey", "pseudoinverse"])
def test_sweep_order_matches_reference_loop(rule: str) -> None:
    threshold = (0.05 * torch.randn(30)).tolist()
    model = ClassicalHopfield(30, rule=rule, order="sweep", threshold=threshold)
    model.store(random_bipolar(6, 30, seed=6))
    queries = random_bipolar(8, 30, seed=7)
    stepped = model.step(queries)
    weights, threshold = model.weights, model.threshold
    if rule == "hebbian":  # N·W is an integer matrix: compare fields exactly (ties sgn(0))
        xi = model.patterns.double()
        weights = xi.T @ xi - xi.shape[0] * torch.eye(30, dtype=torch.float64)
        threshold = 30 * threshold.double()
    for query, got in zip(queries, stepped, strict=True):
        expected = reference_async_sweep(weights, threshold, query)
        torch.testing.assert_close(got.double(), expected)


def test_sync_step_updates_all_neurons_from_the_old_state() -> None:
    model = ClassicalHopfield(40, update="sync")
    model.store(random_bipolar(8, 40, seed=8))
    queries = random_bipolar(5, 40, seed=9)
    xi = model.patterns.double()
    field = queries.double() @ (xi.T @ xi - 8 * torch.eye(40, dtype=torch.float64))  # N·h, exact
    expected = torch.where(field > 0, 1.0, torch.where(field < 0, -1.0, queries.double()))
    torch.testing.assert_close(model.step(queries).double(), expected)


# --- dynamics -------------------------------------------------------------------------


@settings(max_examples=40)
@given(
    num_neurons=st.integers(4, 40),
    num_patterns=st.integers(1, 10),
    seed=st.integers(0, 10_000),
    rule=st.sampled_from(["hebbian", "storkey", "pseudoinverse"]),
    order=st.sampled_from(["random", "sweep"]),
    with_threshold=st.booleans(),
)
def test_energy_never_rises_under_async_updates(
    num_neurons: int, num_patterns: int, seed: int, rule: str, order: str, with_threshold: bool
) -> None:
    generator = torch.Generator().manual_seed(seed)
    patterns = random_bipolar(num_patterns, num_neurons, generator=generator)
    threshold = (0.1 * torch.randn(num_neurons, generator=generator)).tolist()
    model = ClassicalHopfield(
        num_neurons,
        rule=rule,
        order=order,
        seed=seed,
        threshold=threshold if with_threshold else None,
    )
    model.store(patterns)
    queries = random_bipolar(6, num_neurons, generator=generator)
    result = model.recall(queries, max_steps=50)
    energies = result.energies.double()
    assert bool((energies[1:] <= energies[:-1] + 1e-6).all())
    assert bool(result.converged.all())
    assert bool(model.is_fixed_point(result.states).all())


def test_sync_detects_two_cycle() -> None:
    # W = ½[[0, 1], [1, 0]]: (+1, −1) → (−1, +1) → (+1, −1) under synchronous updates.
    model = ClassicalHopfield(2, update="sync")
    model.store(torch.tensor([[1.0, 1.0]]))
    queries = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
    result = model.recall(queries, max_steps=50)
    assert isinstance(result, RecallResult) and "cycled" in result.extras
    assert result.cycled.tolist() == [True, False]
    assert result.converged.tolist() == [False, True]
    assert result.steps == 2  # stopped as soon as the cycle closed, not at max_steps


def test_async_escapes_the_sync_two_cycle() -> None:
    model = ClassicalHopfield(2, update="async", order="sweep")
    model.store(torch.tensor([[1.0, 1.0]]))
    result = model.recall(torch.tensor([[1.0, -1.0]]))
    assert not bool(result.cycled.any())
    assert bool(result.converged.all())
    assert torch.equal(result.states.abs().sum(1), torch.tensor([2.0]))
    assert result.states[0, 0] == result.states[0, 1]


def test_recall_with_fixed_steps_runs_exactly_that_many() -> None:
    model = ClassicalHopfield(50)
    model.store(random_bipolar(3, 50, seed=10))
    result = model.recall(random_bipolar(4, 50, seed=11), steps=5)
    assert result.steps == 5
    assert result.energies.shape == (6, 4)


def test_batched_recall_equals_one_query_at_a_time() -> None:
    patterns = random_bipolar(12, 60, seed=12)
    queries = torch.where(torch.rand(6, 60) < 0.25, -patterns[:6], patterns[:6])
    batched = ClassicalHopfield(60, seed=3)
    batched.store(patterns)
    together = batched.recall(queries).states
    for row, query in enumerate(queries):
        single = ClassicalHopfield(60, seed=3)
        single.store(patterns)
        assert torch.equal(single.recall(query.unsqueeze(0)).states[0], together[row])


def test_same_seed_reproduces_random_order_recall() -> None:
    patterns = random_bipolar(16, 80, seed=13)
    queries = torch.where(torch.rand(16, 80) < 0.2, -patterns, patterns)
    runs = []
    for _ in range(2):
        model = ClassicalHopfield(80, seed=7)
        model.store(patterns)
        runs.append(model.recall(queries))
    assert torch.equal(runs[0].states, runs[1].states)
    assert torch.equal(runs[0].energies, runs[1].energies)


def test_mask_holds_clamped_entries_at_query_values() -> None:
    pattern = random_bipolar(1, 40, seed=14)
    queries = pattern.clone()
    queries[0, :5] *= -1  # five wrong bits that the dynamics would repair
    mask = torch.zeros_like(queries, dtype=torch.bool)
    mask[0, :5] = True
    for update in ("async", "sync"):
        model = ClassicalHopfield(40, update=update)
        model.store(pattern)
        assert torch.equal(model.recall(queries).states, pattern)
        clamped = model.recall(queries, mask=mask)
        assert torch.equal(clamped.states, queries)
        assert bool(clamped.converged.all())


# --- the paper's numbers (papers.md C1) -----------------------------------------------


def test_bit_error_at_k14_n100_is_about_one_percent() -> None:
    error = mean_bit_error(14, trials=40)
    assert 0.003 <= error <= 0.025, error


def test_bit_error_at_k10_n100_is_below_point_two_percent() -> None:
    error = mean_bit_error(10, trials=100)
    assert error < 0.002, error


def test_five_patterns_are_exact_fixed_points_at_n100() -> None:
    for trial in range(10):
        patterns = random_bipolar(5, 100, seed=trial)
        model = ClassicalHopfield(100)
        model.store(patterns)
        assert bool(model.is_fixed_point(patterns).all())


def fixed_point_fraction(rule: str, num_patterns: int, num_neurons: int = 100) -> float:
    fractions = []
    for trial in range(5):
        model = ClassicalHopfield(num_neurons, rule=rule)
        patterns = random_bipolar(num_patterns, num_neurons, seed=100 + trial)
        model.store(patterns)
        fractions.append(model.is_fixed_point(patterns).double().mean().item())
    return sum(fractions) / len(fractions)


def test_pseudoinverse_stores_half_n_where_hebbian_fails() -> None:
    assert fixed_point_fraction("pseudoinverse", 50) == 1.0
    assert fixed_point_fraction("hebbian", 50) < 0.05


def test_storkey_stores_patterns_hebbian_loses() -> None:
    storkey = fixed_point_fraction("storkey", 20)
    hebbian = fixed_point_fraction("hebbian", 20)
    assert storkey >= 0.95, storkey
    assert hebbian <= 0.5, hebbian


# --- persistence ---------------------------------------------------------------------


def test_config_and_state_dict_round_trip_with_resized_patterns() -> None:
    model = ClassicalHopfield(30, rule="storkey", update="sync", threshold=0.1, seed=4)
    model.store(random_bipolar(7, 30, seed=15))
    config = json.loads(json.dumps(model.get_config()))
    restored = ClassicalHopfield(**config)
    restored.load_state_dict(model.state_dict())
    assert restored.num_patterns == 7
    queries = random_bipolar(5, 30, seed=16)
    assert torch.equal(restored.recall(queries).states, model.recall(queries).states)
    torch.testing.assert_close(restored.energy(queries), model.energy(queries))


def test_load_rejects_a_different_number_of_neurons() -> None:
    model = ClassicalHopfield(30)
    model.store(random_bipolar(3, 30, seed=17))
    with pytest.raises(RuntimeError, match="size mismatch"):
        ClassicalHopfield(20).load_state_dict(model.state_dict())


# --- validation ----------------------------------------------------------------------


def test_recall_before_store_raises() -> None:
    with pytest.raises(ValueError, match="empty"):
        ClassicalHopfield(10).recall(torch.ones(1, 10))


@pytest.mark.parametrize(
    ("patterns", "error", "match"),
    [
        (torch.full((2, 10), 0.5), ValueError, "bipolar"),
        (torch.ones(2, 9), ValueError, "N=10"),
        (torch.ones(10), ValueError, r"\(K, N\)"),
        (torch.ones(0, 10), ValueError, "K ≥ 1"),
        (torch.ones(2, 10, dtype=torch.int64), TypeError, "floating"),
        (torch.full((2, 10), float("nan")), ValueError, "NaN"),
        ([[1.0] * 10], TypeError, "torch.Tensor"),
    ],
)
def test_store_rejects_bad_patterns(patterns: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ClassicalHopfield(10).store(patterns)  # type: ignore[arg-type]


def test_recall_rejects_bad_queries_and_options() -> None:
    model = ClassicalHopfield(10)
    model.store(random_bipolar(2, 10, seed=18))
    with pytest.raises(ValueError, match="bipolar"):
        model.recall(torch.zeros(1, 10))
    with pytest.raises(ValueError, match="steps"):
        model.recall(torch.ones(1, 10), steps=-1)
    with pytest.raises(ValueError, match="max_steps"):
        model.recall(torch.ones(1, 10), max_steps=0)
    with pytest.raises(ValueError, match="mask"):
        model.recall(torch.ones(1, 10), mask=torch.ones(2, 10, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        model.recall(torch.ones(1, 10), mask=torch.ones(1, 10))


@pytest.mark.parametrize(
    "kwargs",
    [{"rule": "hebb"}, {"update": "parallel"}, {"order": "shuffle"}, {"threshold": [0.0] * 3}],
)
def test_constructor_rejects_unknown_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ClassicalHopfield(10, **kwargs)  # type: ignore[arg-type]


def test_constructor_rejects_bad_num_neurons() -> None:
    with pytest.raises(ValueError, match="num_neurons"):
        ClassicalHopfield(0)
    with pytest.raises(TypeError, match="num_neurons"):
        ClassicalHopfield(10.0)  # type: ignore[arg-type]
