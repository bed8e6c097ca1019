"""capacity_search: bisection correctness, reproducibility, the classical 0.138 N."""

from __future__ import annotations

import json

import pytest
import torch

from hopfield.metrics import CapacityResult, capacity_search
from hopfield.models.base import RecallResult
from hopfield.models.classical import ClassicalHopfield


class LoadNoise:
    """A fake memory whose recall flips exactly ``K`` bits of each query (bit error K/N)."""

    def __init__(self, num_neurons: int, seed: int) -> None:
        self.num_neurons = num_neurons
        self.num_patterns = 0
        self.seed = seed

    def store(self, patterns: torch.Tensor) -> None:
        self.num_patterns = patterns.shape[0]

    def recall(self, queries: torch.Tensor, *, max_steps: int = 100) -> RecallResult:
        states = queries.clone()
        states[:, : min(self.num_patterns, self.num_neurons)] *= -1
        batch = queries.shape[0]
        return RecallResult(states, torch.zeros(1, batch), 1, torch.ones(batch, dtype=torch.bool))


def classical(num_neurons: int, seed: int) -> ClassicalHopfield:
    return ClassicalHopfield(num_neurons, seed=seed)


def check_consistent(result: CapacityResult) -> None:
    low, high = result.bracket
    assert high == low + 1
    assert result.capacity == low
    for point in result.points:
        assert point.passed == (point.num_patterns <= low)
        assert point.passed == (point.mean_error <= result.max_error)
        assert point.ci_low <= point.mean_error <= point.ci_high
    ks = [p.num_patterns for p in result.points]
    assert ks == sorted(set(ks))


@pytest.mark.parametrize(("max_error", "expected"), [(0.0, 0), (0.1, 10), (0.37, 37), (0.99, 99)])
def test_search_finds_the_exact_threshold_of_a_known_error_curve(
    max_error: float, expected: int
) -> None:
    result = capacity_search(LoadNoise, 100, max_error=max_error, trials=2)
    assert result.capacity == expected
    check_consistent(result)


def test_search_respects_k_range() -> None:
    capped = capacity_search(LoadNoise, 100, max_error=0.5, k_min=3, k_max=20, trials=1)
    assert capped.bracket == (20, 21)
    too_strict = capacity_search(LoadNoise, 100, max_error=0.02, k_min=5, k_max=20, trials=1)
    assert too_strict.bracket == (4, 5)
    assert too_strict.capacity == 4
    exact = capacity_search(LoadNoise, 100, max_error=0.13, k_min=3, k_max=20, trials=1)
    assert exact.bracket == (13, 14)


def test_classical_capacity_search_is_reproducible_and_consistent() -> None:
    first = capacity_search(classical, 60, max_error=0.015, trials=4, seed=3)
    second = capacity_search(classical, 60, max_error=0.015, trials=4, seed=3)
    assert first == second
    check_consistent(first)
    assert 4 <= first.capacity <= 14, first.capacity  # ≈ 0.14·N with finite-size spread
    payload = json.loads(json.dumps(first.to_dict()))
    assert payload["capacity"] == first.capacity
    assert payload["bracket"] == list(first.bracket)


def test_stricter_criterion_never_increases_capacity() -> None:
    loose = capacity_search(classical, 60, max_error=0.03, trials=3, seed=1)
    strict = capacity_search(
        classical, 60, max_error=0.03, criterion="exact_recall", trials=3, seed=1
    )
    assert strict.capacity <= loose.capacity


def test_corrupted_queries_lower_capacity() -> None:
    clean = capacity_search(classical, 60, max_error=0.02, trials=3, seed=2)
    noisy = capacity_search(classical, 60, max_error=0.02, trials=3, seed=2, flip_probability=0.15)
    assert noisy.capacity <= clean.capacity


def test_confidence_flags_points_far_from_the_criterion() -> None:
    seen: list[int] = []
    result = capacity_search(
        LoadNoise, 100, max_error=0.1, trials=3, progress=lambda p: seen.append(p.num_patterns)
    )
    assert sorted(seen) == [p.num_patterns for p in result.points]
    # The fake memory's error is deterministic: zero spread, every verdict confident.
    assert all(p.stderr == 0.0 and p.confident for p in result.points)


@pytest.mark.slow
def test_classical_capacity_is_about_0138_n_at_n200() -> None:
    # Amit–Gutfreund–Sompolinsky: at α_c ≈ 0.138 retrieval states carry ≈1.5 % wrong bits.
    result = capacity_search(classical, 200, max_error=0.015, trials=20, seed=0)
    print(f"classical capacity at N=200: K={result.capacity}, load K/N={result.load:.4f}")
    assert 0.11 <= result.load <= 0.17, result.load
    check_consistent(result)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_error": 1.0}, ValueError, "max_error"),
        ({"criterion": "psnr"}, ValueError, "criterion"),
        ({"trials": 0}, ValueError, "trials"),
        ({"k_min": 0}, ValueError, "k_min"),
        ({"k_min": 5, "k_max": 4}, ValueError, "k_max"),
        ({"confidence": 1.0}, ValueError, "confidence"),
        ({"seed": -1}, ValueError, "seed"),
        ({"flip_probability": 1.5}, ValueError, "flip_probability"),
        ({"trials": 2.0}, TypeError, "trials"),
    ],
)
def test_capacity_search_rejects_bad_arguments(
    kwargs: dict[str, object], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        capacity_search(LoadNoise, 50, **kwargs)  # type: ignore[arg-type]
