"""Temporal-complexity tools: events, inter-event-time fits, detrended fluctuation analysis."""

from __future__ import annotations

import math

import pytest
import torch

from hopfield.analysis.temporal import (
    detect_events,
    dfa,
    fit_exponential,
    fit_power_law,
    inter_event_times,
)

F64 = torch.float64


def _white(batch: int, length: int, seed: int) -> torch.Tensor:
    return torch.randn(batch, length, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_dfa_white_noise_gives_one_half() -> None:
    result = dfa(_white(8, 8192, seed=1))
    assert result.hurst.shape == (8,)
    assert abs(float(result.hurst.mean()) - 0.5) < 0.05
    assert bool(((result.hurst - 0.5).abs() < 0.1).all())


def test_dfa_brownian_motion_gives_three_halves() -> None:
    result = dfa(_white(8, 8192, seed=2).cumsum(dim=1))
    assert abs(float(result.hurst.mean()) - 1.5) < 0.05
    assert bool(((result.hurst - 1.5).abs() < 0.1).all())


def test_dfa_fluctuation_of_a_pure_line_is_zero_and_f_grows_with_scale() -> None:
    line = torch.linspace(0, 5, 1000, dtype=F64)  # profile is a parabola: DFA-2 removes it
    result = dfa(line, order=2, scales=[10, 20, 50])
    # the profile reaches ~600; the residual is rounding error relative to that size
    assert float(result.fluctuations.max()) < 1e-6
    assert math.isnan(float(dfa(torch.full((400,), 2.0, dtype=F64)).hurst))
    noise = dfa(_white(1, 4096, seed=3)[0])
    assert noise.hurst.shape == ()
    assert bool((noise.fluctuations[1:] > noise.fluctuations[:-1]).all())


def test_dfa_single_series_matches_batched_row() -> None:
    signal = _white(3, 2048, seed=4)
    batched = dfa(signal, scales=[8, 16, 32, 64, 128])
    single = dfa(signal[1], scales=[8, 16, 32, 64, 128])
    torch.testing.assert_close(batched.fluctuations[1], single.fluctuations)
    assert float(batched.hurst[1]) == pytest.approx(float(single.hurst))


def test_dfa_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="too short"):
        dfa(torch.randn(100, dtype=F64))
    with pytest.raises(ValueError, match="scale"):
        dfa(torch.randn(1000, dtype=F64), scales=[8, 900])
    with pytest.raises(ValueError, match=r"\(T,\) or \(B, T\)"):
        dfa(torch.randn(2, 3, 400, dtype=F64))
    with pytest.raises(TypeError, match="signal"):
        dfa([1.0, 2.0])  # type: ignore[arg-type]


def test_detect_events_finds_the_jumps_of_a_step_signal() -> None:
    generator = torch.Generator().manual_seed(5)
    signal = 0.01 * torch.randn(1000, generator=generator, dtype=F64)
    jumps = [100, 250, 600, 601, 900]  # 600 and 601: one event spread over two samples
    for t in jumps:
        signal[t:] += 1.0 if t % 2 == 0 else -1.0
    events = detect_events(signal, threshold=0.5)
    assert events.tolist() == [100, 250, 600, 900]
    assert inter_event_times(events).tolist() == [150, 350, 300]
    # the percentile threshold flags exactly the top 1 % of increments (10 of 999)
    assert detect_events(signal, percentile=99.5).numel() <= 5


def test_inter_event_times_sorts_and_handles_short_lists() -> None:
    assert inter_event_times(torch.tensor([30, 10, 15])).tolist() == [5, 15]
    assert inter_event_times(torch.tensor([7])).numel() == 0


def _pareto(count: int, exponent: float, x_min: float, seed: int) -> torch.Tensor:
    u = torch.rand(count, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return x_min * (1 - u) ** (-1 / (exponent - 1))


def test_power_law_mle_recovers_the_exponent_and_beats_exponential() -> None:
    samples = _pareto(4000, exponent=2.5, x_min=2.0, seed=6)
    power = fit_power_law(samples)
    expo = fit_exponential(samples)
    assert power.exponent == pytest.approx(2.5, abs=4 * power.stderr)
    assert power.num_samples == 4000
    assert power.ks < 0.03 < expo.ks
    assert power.log_likelihood > expo.log_likelihood


def test_exponential_mle_recovers_the_rate_and_beats_power_law() -> None:
    generator = torch.Generator().manual_seed(7)
    samples = 3.0 + torch.empty(4000, dtype=F64).exponential_(0.5, generator=generator)
    expo = fit_exponential(samples)
    power = fit_power_law(samples)
    assert expo.rate == pytest.approx(0.5, abs=4 * expo.stderr)
    assert expo.ks < 0.03 < power.ks
    assert expo.log_likelihood > power.log_likelihood


def test_power_law_log_likelihood_matches_density_sum() -> None:
    samples = _pareto(200, exponent=3.0, x_min=1.5, seed=8)
    fit = fit_power_law(samples, x_min=1.5)
    mu = fit.exponent
    density = (mu - 1) / 1.5 * (samples / 1.5) ** (-mu)
    assert fit.log_likelihood == pytest.approx(float(density.log().sum()), rel=1e-10)


def test_discrete_power_law_uses_continuity_correction() -> None:
    samples = _pareto(5000, exponent=2.2, x_min=5.0, seed=9).floor()
    naive = fit_power_law(samples, x_min=5.0)
    corrected = fit_power_law(samples, x_min=5.0, discrete=True)
    assert abs(corrected.exponent - 2.2) < abs(naive.exponent - 2.2)
    assert math.isfinite(corrected.ks)


def test_fits_reject_invalid_samples() -> None:
    with pytest.raises(ValueError, match="> 0"):
        fit_power_law(torch.tensor([1.0, -2.0, 3.0]))
    with pytest.raises(ValueError, match="at least 2"):
        fit_exponential(torch.tensor([1.0, 2.0, 3.0]), x_min=2.5)
    with pytest.raises(ValueError, match="undefined"):
        fit_power_law(torch.tensor([2.0, 2.0, 2.0]))
