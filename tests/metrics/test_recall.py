"""Recall metrics: bit error, exact recall, overlap, nearest pattern, basin size."""

from __future__ import annotations

import itertools

import pytest
import torch

from hopfield.data.generators import random_bipolar
from hopfield.metrics import (
    basin_size,
    bit_error_rate,
    exact_recall_fraction,
    flip_exactly,
    nearest_pattern_accuracy,
    overlap,
)
from hopfield.models.base import RecallResult
from hopfield.models.classical import ClassicalHopfield


class Identity:
    """A 'memory' that returns its queries unchanged."""

    def recall(self, queries: torch.Tensor, *, max_steps: int = 100) -> RecallResult:
        batch = queries.shape[0]
        return RecallResult(queries, torch.zeros(1, batch), 0, torch.ones(batch, dtype=torch.bool))


class Oracle:
    """A 'memory' that returns the stored pattern nearest (in Hamming distance) to each query."""

    def __init__(self, patterns: torch.Tensor) -> None:
        self.patterns = patterns

    def recall(self, queries: torch.Tensor, *, max_steps: int = 100) -> RecallResult:
        nearest = (queries @ self.patterns.T).argmax(dim=1)
        batch = queries.shape[0]
        states = self.patterns[nearest]
        return RecallResult(states, torch.zeros(1, batch), 1, torch.ones(batch, dtype=torch.bool))


# --- bit errors and exact recall ---------------------------------------------------------


def test_bit_error_rate_counts_sign_disagreements() -> None:
    targets = random_bipolar(4, 50, seed=1)
    recalled = targets.clone()
    recalled[0, :5] *= -1
    recalled[2, :10] *= -1
    recalled[3, 0] = 0.0  # an undecided entry is wrong
    per_sample = bit_error_rate(recalled, targets, reduction="none")
    torch.testing.assert_close(per_sample, torch.tensor([0.1, 0.0, 0.2, 0.02], dtype=torch.float64))
    torch.testing.assert_close(
        bit_error_rate(recalled, targets), torch.tensor(0.08, dtype=torch.float64)
    )


def test_bit_error_rate_flattens_image_batches_and_reads_signs() -> None:
    targets = torch.tensor([[[1.0, -1.0], [1.0, 1.0]]])
    recalled = torch.tensor([[[0.3, -2.0], [-0.1, 5.0]]])
    torch.testing.assert_close(
        bit_error_rate(recalled, targets), torch.tensor(0.25, dtype=torch.float64)
    )


def test_exact_recall_fraction_by_sign_and_by_tolerance() -> None:
    targets = random_bipolar(5, 20, seed=2)
    recalled = 0.9 * targets
    recalled[1, 3] *= -1
    assert exact_recall_fraction(recalled, targets).item() == pytest.approx(0.8)
    assert exact_recall_fraction(recalled, targets, tolerance=0.05).item() == 0.0
    assert exact_recall_fraction(0.99 * targets, targets, tolerance=0.05).item() == 1.0


def test_overlap_relates_to_bit_error_for_bipolar_states() -> None:
    patterns = random_bipolar(6, 40, seed=3)
    states = random_bipolar(9, 40, seed=4)
    m = overlap(states, patterns)
    assert m.shape == (9, 6)
    for k in range(6):
        errors = bit_error_rate(states, patterns[k].expand(9, 40), reduction="none")
        torch.testing.assert_close(m[:, k].double(), 1 - 2 * errors)


def test_nearest_pattern_accuracy_with_ties_counting_as_misses() -> None:
    patterns = torch.tensor(
        [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]]
    )
    recalled = torch.tensor(
        [
            [1.0, 1.0, 1.0, -1.0],  # nearest: 0 (distance 1) vs 1 (distance 1): tie
            [1.0, 1.0, -1.0, -1.0],  # exactly pattern 1
            [-1.0, -1.0, -1.0, 1.0],  # nearest: 2
        ]
    )
    accuracy = nearest_pattern_accuracy(recalled, patterns, torch.tensor([0, 1, 2]))
    assert accuracy.item() == pytest.approx(2 / 3)
    wrong = nearest_pattern_accuracy(recalled, patterns, torch.tensor([1, 0, 2]))
    assert wrong.item() == pytest.approx(1 / 3)


def test_nearest_pattern_accuracy_with_a_single_pattern_is_always_right() -> None:
    pattern = random_bipolar(1, 8, seed=5)
    assert nearest_pattern_accuracy(-pattern, pattern, torch.tensor([0])).item() == 1.0


# --- basins --------------------------------------------------------------------------


def test_flip_exactly_flips_the_requested_number_of_bits_reproducibly() -> None:
    patterns = random_bipolar(7, 30, seed=6)
    first = flip_exactly(patterns, 9, generator=torch.Generator().manual_seed(1))
    again = flip_exactly(patterns, 9, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    assert (first != patterns).sum(dim=1).tolist() == [9] * 7
    assert torch.equal(flip_exactly(patterns, 0), patterns)
    assert torch.equal(flip_exactly(patterns, 30), -patterns)


@pytest.mark.parametrize(("max_error", "radius"), [(0.0, 0), (0.1, 6), (0.25, 15)])
def test_basin_radius_of_identity_memory_is_the_error_allowance(
    max_error: float, radius: int
) -> None:
    patterns = random_bipolar(3, 60, seed=7)
    result = basin_size(Identity(), patterns, trials=2, max_error=max_error)
    assert result.radius == radius
    assert result.fraction == pytest.approx(radius / 60)


def test_basin_radius_of_nearest_pattern_oracle_exceeds_half_the_distance() -> None:
    # d flips leave the query nearer its own pattern unless more than half of the D
    # differing bits are hit, so every d < D/2 succeeds, and the radius lies in [D/2, N/2).
    patterns = random_bipolar(2, 64, seed=8)
    half_distance = int((patterns[0] != patterns[1]).sum()) // 2
    result = basin_size(Oracle(patterns), patterns, trials=8)
    assert half_distance <= result.radius < 32
    rates = list(result.success.values())
    assert all(a >= b for a, b in itertools.pairwise(rates))


def test_basin_of_hopfield_shrinks_with_load_and_is_reproducible() -> None:
    radii = []
    for num_patterns in (3, 10):
        patterns = random_bipolar(num_patterns, 100, seed=9)
        model = ClassicalHopfield(100, seed=1)
        model.store(patterns)
        first = basin_size(model, patterns, trials=3, seed=4)
        model = ClassicalHopfield(100, seed=1)
        model.store(patterns)
        assert basin_size(model, patterns, trials=3, seed=4) == first
        radii.append(first.radius)
    assert 25 <= radii[0] <= 50, radii
    assert radii[1] < radii[0], radii


def test_basin_sweep_stops_at_first_failing_level() -> None:
    patterns = random_bipolar(3, 60, seed=10)
    result = basin_size(Identity(), patterns, flips=[0, 2, 4, 10, 3], max_error=0.06)
    assert result.radius == 3
    assert sorted(result.success) == [0, 2, 3, 4]


# --- validation ----------------------------------------------------------------------


def test_metrics_reject_mismatched_and_invalid_inputs() -> None:
    a = random_bipolar(3, 10, seed=11)
    with pytest.raises(ValueError, match="same shape"):
        bit_error_rate(a, a[:2])
    with pytest.raises(ValueError, match="NaN"):
        bit_error_rate(torch.full((3, 10), float("nan")), a)
    with pytest.raises(ValueError, match="reduction"):
        bit_error_rate(a, a, reduction="sum")
    with pytest.raises(TypeError, match="floating"):
        exact_recall_fraction(a.long(), a)
    with pytest.raises(ValueError, match="patterns"):
        overlap(a, torch.ones(2, 9))
    with pytest.raises(ValueError, match="target_indices"):
        nearest_pattern_accuracy(a, a, torch.tensor([0, 1, 3]))
    with pytest.raises(TypeError, match="target_indices"):
        nearest_pattern_accuracy(a, a, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="flips"):
        flip_exactly(a, 11)
    with pytest.raises(ValueError, match="trials"):
        basin_size(Identity(), a, trials=0)
    with pytest.raises(ValueError, match="threshold"):
        basin_size(Identity(), a, threshold=1.5)
    with pytest.raises(ValueError, match="flips"):
        basin_size(Identity(), a, flips=[])
