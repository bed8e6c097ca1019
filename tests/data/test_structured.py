"""Pattern sets with a minimum Hamming distance and with a controlled correlation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.data.structured import (
    correlated_bipolar,
    hamming_distances,
    hamming_separated,
    mean_pairwise_overlap,
    plotkin_bound,
)


def _min_offdiagonal(distances: torch.Tensor) -> int:
    masked = distances.clone()
    masked.fill_diagonal_(distances.max() + 1)
    return int(masked.min())


@settings(max_examples=30)
@given(
    count=st.integers(2, 30),
    dim=st.integers(16, 96),
    fraction=st.floats(0.0, 0.3),
    seed=st.integers(0, 2**16),
)
def test_hamming_separated_reaches_the_minimum_distance(
    count: int, dim: int, fraction: float, seed: int
) -> None:
    min_distance = int(fraction * dim)
    patterns = hamming_separated(count, dim, min_distance, seed=seed)
    assert patterns.shape == (count, dim)
    assert set(torch.unique(patterns).tolist()) <= {-1.0, 1.0}
    assert _min_offdiagonal(hamming_distances(patterns)) >= min_distance


def test_hamming_separated_is_seeded() -> None:
    a = hamming_separated(20, 64, 24, seed=3)
    assert torch.equal(a, hamming_separated(20, 64, 24, seed=3))
    assert not torch.equal(a, hamming_separated(20, 64, 24, seed=4))


def test_hamming_distance_matches_direct_count() -> None:
    patterns = torch.tensor([[1.0, -1, 1, 1], [1, 1, -1, 1], [-1, 1, -1, -1]])
    direct = (patterns[:, None, :] != patterns[None, :, :]).sum(-1)
    assert torch.equal(hamming_distances(patterns), direct)


def test_infeasible_separation_raises_clear_errors() -> None:
    assert plotkin_bound(16, 10) == 5 and plotkin_bound(16, 8) is None
    with pytest.raises(ValueError, match="Plotkin"):
        hamming_separated(20, 16, 10, seed=0)
    with pytest.raises(ValueError, match="min_distance"):
        hamming_separated(2, 8, 9, seed=0)
    # below the Plotkin bound but far beyond what random draws reach in the budget
    with pytest.raises(ValueError, match="max_candidates"):
        hamming_separated(60, 64, 28, seed=0, max_candidates=2000)


@pytest.mark.parametrize("correlation", [0.0, 0.1, 0.3, 0.6, 0.9])
def test_correlated_patterns_have_the_requested_mean_overlap(correlation: float) -> None:
    patterns = correlated_bipolar(60, 2000, correlation, seed=11)
    assert set(torch.unique(patterns).tolist()) <= {-1.0, 1.0}
    # each pair overlap has std ≈ 1/√N; averaging 1770 pairs sharing one latent leaves
    # the latent-sharing fluctuation of order q²·√(2/N) ≈ 0.03 at most
    assert mean_pairwise_overlap(patterns) == pytest.approx(correlation, abs=0.03)


@pytest.mark.parametrize("correlation", [0.0, 0.25, 0.7])
def test_feature_correlation_mode_correlates_columns(correlation: float) -> None:
    patterns = correlated_bipolar(3000, 40, correlation, among="features", seed=5)
    features = patterns.T.contiguous()
    assert mean_pairwise_overlap(features) == pytest.approx(correlation, abs=0.03)
    # features stay unbiased: each is ±1 with probability ½
    assert float(patterns.mean(0).abs().max()) < 0.1


def test_correlation_is_monotone_and_validated() -> None:
    overlaps = [
        mean_pairwise_overlap(correlated_bipolar(30, 800, c, seed=2)) for c in (0, 0.4, 0.8)
    ]
    assert overlaps[0] < overlaps[1] < overlaps[2]
    with pytest.raises(ValueError, match="correlation"):
        correlated_bipolar(3, 8, 1.5, seed=0)
    with pytest.raises(ValueError, match="among"):
        correlated_bipolar(3, 8, 0.5, seed=0, among="rows")
    with pytest.raises(ValueError, match="seed"):
        correlated_bipolar(3, 8, 0.5, seed=0, generator=torch.Generator())
