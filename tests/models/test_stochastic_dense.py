"""SEDAM: the noiseless limit, the noisy sweep, Q(p) against load (papers.md §11 [R])."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from hopfield.core.separation import Exponential
from hopfield.data.corruptions import flip_bits
from hopfield.data.generators import random_bipolar
from hopfield.experiments.study_sedam import overlap_curve
from hopfield.models.dense import DenseAssociativeMemory
from hopfield.models.stochastic_dense import StochasticExponentialAM, time_averaged_overlap

NOISE = (0.05, 0.1, 0.175, 0.25, 0.3)


def _patterns(k: int, n: int, seed: int = 0) -> torch.Tensor:
    return random_bipolar(k, n, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("noise", ["flip", "glauber"])
def test_zero_noise_sweep_equals_the_exponential_dense_am(noise: str) -> None:
    patterns = _patterns(20, 48)
    queries = flip_bits(patterns[:6], 0.3, generator=torch.Generator().manual_seed(1))
    reference = DenseAssociativeMemory(48, separation=Exponential(1.0), seed=3)
    model = StochasticExponentialAM(48, beta=1.0, noise=noise, intensity=0.0, seed=3)
    reference.store(patterns)
    model.store(patterns)
    expected = queries.clone()
    trajectory = model.simulate(queries, 4)
    for sweep in range(4):
        expected = reference.step(expected)
        torch.testing.assert_close(
            trajectory.overlaps[sweep + 1], expected.double() @ patterns.double().T / 48
        )
    torch.testing.assert_close(trajectory.states, expected)
    energies = reference.energy(torch.cat([queries, trajectory.states]))
    assert bool((energies[6:] <= energies[:6]).all())


def test_trajectory_records_consistent_signals() -> None:
    patterns = _patterns(5, 32)
    model = StochasticExponentialAM(32, intensity=0.1, seed=2)
    model.store(patterns)
    trajectory = model.simulate(patterns[:3], 20)
    assert trajectory.overlaps.shape == (21, 3, 5)
    assert trajectory.activity.shape == (21, 3) and trajectory.changes.shape == (20, 3)
    final = trajectory.states.double()
    torch.testing.assert_close(trajectory.overlaps[-1], final @ patterns.double().T / 32)
    torch.testing.assert_close(trajectory.activity[-1], final.mean(dim=1))
    assert int(trajectory.changes.sum()) > 0
    again = StochasticExponentialAM(32, intensity=0.1, seed=2)
    again.store(patterns)
    torch.testing.assert_close(again.simulate(patterns[:3], 20).overlaps, trajectory.overlaps)


def test_flip_noise_one_flips_every_deterministic_output() -> None:
    """p = 1 from a stored pattern: the deterministic target of each neuron is ξ_i as long
    as the overlap stays positive, and its output is flipped, so one sweep drives the
    overlap from 1 to (near) zero or below."""
    patterns = _patterns(2, 64)
    model = StochasticExponentialAM(64, intensity=1.0, seed=0)
    model.store(patterns)
    trajectory = model.simulate(patterns[:1], 1)
    assert float(trajectory.overlaps[1, 0, 0]) < 0.2 < float(trajectory.overlaps[0, 0, 0])


@pytest.fixture(scope="module")
def curves() -> Iterator[dict[int, torch.Tensor]]:
    """Q(p) for K = 2, 10, 50 at N = 64, β = 1: 4 chains × 300 sweeps per point (one
    thread: the per-neuron ops are tiny, and intra-op threads only add overhead)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {
        k: overlap_curve(64, k, NOISE, chains=4, sweeps=300, seed=k)[0].mean(dim=1)
        for k in (2, 10, 50)
    }
    torch.set_num_threads(previous)


@pytest.mark.parametrize("load", [2, 10])
def test_overlap_is_one_minus_two_p_at_low_noise_and_low_load(
    curves: dict[int, torch.Tensor], load: int
) -> None:
    for index in (0, 1):  # p = 0.05, 0.1
        assert float(curves[load][index]) == pytest.approx(1 - 2 * NOISE[index], abs=0.02)


def test_overlap_collapses_by_p_quarter_at_low_load(curves: dict[int, torch.Tensor]) -> None:
    assert float(curves[10][3]) < 0.15  # p = 0.25
    assert float(curves[10][4]) < 0.1  # p = 0.3
    # K = 2 hops between its two patterns: the overlap with the cued one drops far below 1 − 2p
    assert float(curves[2][4]) < 0.25 < 1 - 2 * 0.3


def test_collapse_comes_at_smaller_noise_for_higher_load(curves: dict[int, torch.Tensor]) -> None:
    # p = 0.175: K = 50 has collapsed while K ≤ 10 still retrieves
    assert float(curves[50][2]) < 0.25
    assert float(curves[50][2]) < float(curves[10][2]) - 0.2
    assert float(curves[2][2]) > 0.4
    assert float(curves[50][1]) == pytest.approx(0.8, abs=0.02)


def test_glauber_temperature_controls_retrieval() -> None:
    patterns = _patterns(10, 64)
    model = StochasticExponentialAM(64, noise="glauber", seed=1)
    model.store(patterns)
    levels = torch.tensor([0.05, 0.05, 20.0, 20.0], dtype=torch.float64)
    trajectory = model.simulate(patterns[:1].repeat(4, 1), 60, intensity=levels)
    q = time_averaged_overlap(trajectory, 0, burn_in=20)
    assert bool((q[:2] > 0.95).all())
    assert bool((q[2:].abs() < 0.3).all())


def test_time_averaged_overlap_per_chain_pattern() -> None:
    patterns = _patterns(3, 32)
    model = StochasticExponentialAM(32, seed=0)
    model.store(patterns)
    trajectory = model.simulate(patterns, 5)  # noiseless: each chain stays on its pattern
    torch.testing.assert_close(
        time_averaged_overlap(trajectory, torch.arange(3)), torch.ones(3, dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="burn_in"):
        time_averaged_overlap(trajectory, 0, burn_in=5)
    with pytest.raises(ValueError, match="pattern"):
        time_averaged_overlap(trajectory, 3)


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="noise"):
        StochasticExponentialAM(8, noise="salt")
    with pytest.raises(ValueError, match="intensity"):
        StochasticExponentialAM(8, intensity=1.5)
    with pytest.raises(ValueError, match="intensity"):
        StochasticExponentialAM(8, noise="glauber", intensity=-1.0)
    with pytest.raises(ValueError, match="beta"):
        StochasticExponentialAM(8, beta=500.0)
    model = StochasticExponentialAM(8)
    with pytest.raises(ValueError, match="empty"):
        model.simulate(torch.ones(1, 8), 1)
    model.store(torch.ones(1, 8))
    with pytest.raises(ValueError, match="intensity"):
        model.simulate(torch.ones(2, 8), 1, intensity=torch.tensor([0.1]))
    with pytest.raises(ValueError, match="bipolar"):
        model.simulate(torch.zeros(1, 8), 1)
