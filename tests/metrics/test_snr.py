"""Retrieval SNR of the linear memory: SNR⁻¹ ≈ N/d for random Gaussian keys."""

from __future__ import annotations

import pytest
import torch

from hopfield.metrics.snr import inverse_retrieval_snr, retrieval_snr
from hopfield.models.linear import LinearAssociativeMemory


def _monte_carlo_inverse_snr(
    count: int, dim: int, trials: int, *, normalize_keys: bool, seed: int = 0
) -> float:
    gen = torch.Generator().manual_seed(seed)
    crosstalk = signal = 0.0
    for _ in range(trials):
        keys = torch.randn(count, dim, generator=gen, dtype=torch.float64)
        values = torch.randn(count, dim, generator=gen, dtype=torch.float64)
        memory = LinearAssociativeMemory(dim, normalize_keys=normalize_keys).double()
        memory.store(keys, values=values)
        inverse = inverse_retrieval_snr(memory, keys, values)
        scale = memory.signal_scale(keys)
        item_signal = float((scale.square() * values.square().sum(1)).sum())
        crosstalk += inverse * item_signal
        signal += item_signal
    return crosstalk / signal


@pytest.mark.parametrize("count", [16, 64, 256])
def test_inverse_snr_within_10_percent_of_load_for_gaussian_keys(count: int) -> None:
    dim = 64
    trials = max(16, 2048 // count)
    measured = _monte_carlo_inverse_snr(count, dim, trials, normalize_keys=True)
    load = count / dim
    assert abs(measured - load) <= 0.10 * load
    # finite-size value (N − 1)/d for unit-norm keys, tighter band
    assert abs(measured - (count - 1) / dim) <= 0.05 * (count - 1) / dim


def test_unnormalised_gaussian_keys_follow_finite_size_formula() -> None:
    measured = _monte_carlo_inverse_snr(64, 64, 64, normalize_keys=False, seed=1)
    assert abs(measured - 63 / 66) <= 0.05 * 63 / 66


def test_orthonormal_keys_have_no_crosstalk() -> None:
    memory = LinearAssociativeMemory(8)
    keys, values = torch.eye(8)[:5], torch.randn(5, 8)
    memory.store(keys, values=values)
    assert inverse_retrieval_snr(memory, keys, values) == pytest.approx(0.0, abs=1e-12)
    assert retrieval_snr(memory, keys, values) == float("inf")


def test_snr_is_reciprocal_and_generic_memory_uses_projection() -> None:
    gen = torch.Generator().manual_seed(2)
    keys = torch.randn(20, 16, generator=gen, dtype=torch.float64)
    values = torch.randn(20, 16, generator=gen, dtype=torch.float64)
    memory = LinearAssociativeMemory(16).double()
    memory.store(keys, values=values)
    inverse = inverse_retrieval_snr(memory, keys, values)
    assert retrieval_snr(memory, keys, values) == pytest.approx(1.0 / inverse)

    class Scaled:
        def retrieve(self, queries: torch.Tensor) -> torch.Tensor:
            return 3.0 * values + 0.0 * queries[:, :1]

    assert inverse_retrieval_snr(Scaled(), keys, values) == pytest.approx(0.0, abs=1e-12)
    assert inverse_retrieval_snr(Scaled(), keys, values, signal_scale=1.0) == pytest.approx(4.0)


def test_bad_inputs() -> None:
    memory = LinearAssociativeMemory(4)
    with pytest.raises(ValueError, match="share N"):
        inverse_retrieval_snr(memory, torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"keys must have shape \(N, d_k\)"):
        inverse_retrieval_snr(memory, torch.randn(4), torch.randn(4))


@pytest.mark.slow
@pytest.mark.parametrize("count", [16, 64, 256])
def test_inverse_snr_finite_size_formula_tight_band(count: int) -> None:
    measured = _monte_carlo_inverse_snr(count, 64, 16384 // count, normalize_keys=True, seed=5)
    assert abs(measured - (count - 1) / 64) <= 0.02 * (count - 1) / 64
