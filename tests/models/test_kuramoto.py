"""Higher-order Kuramoto Dense AM: energy, gradient, fixed points, descent, hysteresis."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.data.generators import random_bipolar
from hopfield.models.kuramoto import KuramotoMemory, patterns_to_phases

F64 = torch.float64


def _memory(n: int, k: int, seed: int = 0, **options: float) -> tuple[KuramotoMemory, torch.Tensor]:
    patterns = random_bipolar(k, n, generator=torch.Generator().manual_seed(seed))
    model = KuramotoMemory(n, seed=seed, **options)  # type: ignore[arg-type]
    model.store(patterns)
    return model, patterns


def _phases(batch: int, n: int, seed: int) -> torch.Tensor:
    return (
        2 * math.pi * torch.rand(batch, n, generator=torch.Generator().manual_seed(seed), dtype=F64)
    )


@pytest.mark.parametrize("harmonic", [1, 2, 3])
def test_energy_equals_explicit_pairwise_and_four_body_sums(harmonic: int) -> None:
    n, k, k2, k4 = 6, 2, 0.7, 1.3
    model, xi = _memory(n, k, pairwise=k2, quartic=k4, harmonic=harmonic)
    theta = _phases(3, n, seed=1)
    x = xi.to(F64)
    hebb = x.T @ x  # J_ij = Σ_μ ξ_i ξ_j
    h = harmonic
    pair = torch.cos(h * (theta[:, :, None] - theta[:, None, :]))
    pairwise = -(k2 / (2 * n)) * (hebb * pair).sum(dim=(1, 2))
    four = torch.einsum("mi,mj,mk,ml->ijkl", x, x, x, x)
    angle = (
        theta[:, :, None, None, None]
        + theta[:, None, :, None, None]
        - theta[:, None, None, :, None]
        - theta[:, None, None, None, :]
    )
    quartic = -(k4 / (4 * n**3)) * (four * torch.cos(h * angle)).sum(dim=(1, 2, 3, 4))
    torch.testing.assert_close(model.energy(theta), pairwise + quartic, rtol=1e-12, atol=1e-12)


def test_gradient_matches_autograd_in_float64() -> None:
    model, _ = _memory(20, 3, pairwise=0.8, quartic=2.0)
    theta = _phases(4, 20, seed=2).requires_grad_(True)
    (expected,) = torch.autograd.grad(model.energy(theta).sum(), theta)
    torch.testing.assert_close(model.energy_grad(theta.detach()), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("harmonic", [1, 2])
def test_stored_patterns_mod_global_phase_are_fixed_points(harmonic: int) -> None:
    model, xi = _memory(50, 4, pairwise=1.0, quartic=2.0, harmonic=harmonic)
    theta = patterns_to_phases(xi, harmonic)
    if harmonic == 1:
        assert set(theta.unique().tolist()) <= {0.0, math.pi}
    shift = torch.tensor([[0.0], [0.3], [1.7], [-2.9]], dtype=F64)
    rotated = theta + shift
    assert float(model.energy_grad(rotated).abs().max()) < 1e-12
    torch.testing.assert_close(model.order_parameters(rotated).diagonal(), torch.ones(4, dtype=F64))
    stepped = model.step(rotated)
    assert (
        float(torch.remainder(stepped - rotated + math.pi, 2 * math.pi).sub(math.pi).abs().max())
        < 1e-12
    )


def test_a_random_state_is_not_a_fixed_point() -> None:
    model, _ = _memory(50, 4, pairwise=1.0, quartic=2.0)
    assert float(model.energy_grad(_phases(2, 50, seed=3)).abs().max()) > 1e-2


@settings(max_examples=20)
@given(
    seed=st.integers(0, 10_000),
    pairwise=st.floats(0.0, 2.0),
    quartic=st.floats(0.0, 2.0),
    harmonic=st.sampled_from([1, 2]),
)
def test_noiseless_energy_never_increases(
    seed: int, pairwise: float, quartic: float, harmonic: int
) -> None:
    model, _ = _memory(
        24, 3, seed=seed, pairwise=pairwise, quartic=quartic, harmonic=harmonic, dt=0.005
    )
    energies = model.run(_phases(3, 24, seed=seed), 150).energies
    assert bool((energies[1:] <= energies[:-1] + 1e-10).all())


def test_noiseless_flow_retrieves_a_corrupted_pattern() -> None:
    model, xi = _memory(64, 3, pairwise=1.0, quartic=1.0, dt=0.02)
    generator = torch.Generator().manual_seed(4)
    start = model.encode(xi[:1]) + 0.4 * torch.randn(1, 64, generator=generator, dtype=F64)
    trajectory = model.run(start, 400, record_every=50)
    assert float(trajectory.order[0, 0, 0]) < 0.9
    assert float(trajectory.order[-1, 0, 0]) > 0.999
    assert trajectory.times[-1] == pytest.approx(400 * 0.02)


def test_noise_is_seeded_and_scales_with_temperature() -> None:
    model_a, xi = _memory(32, 2, noise=0.1)
    model_b, _ = _memory(32, 2, noise=0.1)
    start = model_a.encode(xi[:1]).repeat(2, 1)
    torch.testing.assert_close(model_a.step(start), model_b.step(start))

    def kick(temperature: float) -> float:  # wrapped phase change, std of √(2 T dt) η
        change = model_a.step(start, noise=temperature) - start
        return float(torch.remainder(change + math.pi, 2 * math.pi).sub(math.pi).std())

    spread = [kick(0.01), kick(0.04)]  # doubling √T doubles the kick
    assert spread[1] / spread[0] == pytest.approx(2.0, rel=0.15)


def _hysteresis_area(n: int, pairwise: float, quartic: float, levels: int, steps: int) -> float:
    model, xi = _memory(n, 1, pairwise=pairwise, quartic=quartic, dt=0.02)
    grid = torch.linspace(0.05, 1.0, levels, dtype=F64)
    start = model.encode(xi).repeat(3, 1)
    order, _ = model.sweep_noise(start, torch.cat([grid, grid.flip(0)]), steps_per_level=steps)
    branches = order.mean(dim=1)
    up, down = branches[:levels], branches[levels:].flip(0)
    return float(torch.trapezoid((up - down).abs(), grid))


def test_quartic_coupling_gives_larger_hysteresis_than_pairwise_quick() -> None:
    pairwise_only = _hysteresis_area(64, 1.0, 0.0, levels=8, steps=150)
    quartic = _hysteresis_area(64, 0.2, 3.0, levels=8, steps=150)
    assert quartic > 0.15
    assert quartic > 3 * pairwise_only


@pytest.mark.slow
def test_hysteresis_with_dominant_quartic_and_none_without() -> None:
    pairwise_only = _hysteresis_area(256, 1.0, 0.0, levels=16, steps=400)
    quartic = _hysteresis_area(256, 0.2, 3.0, levels=16, steps=400)
    assert pairwise_only < 0.05
    assert quartic > 0.25


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="quartic"):
        KuramotoMemory(8, quartic=-1.0)
    with pytest.raises(ValueError, match="dt"):
        KuramotoMemory(8, dt=0.0)
    model = KuramotoMemory(8)
    with pytest.raises(ValueError, match="empty"):
        model.energy(torch.zeros(1, 8, dtype=F64))
    model.store(torch.ones(1, 8))
    with pytest.raises(ValueError, match=r"\(B, N\) with N=8"):
        model.energy(torch.zeros(1, 7, dtype=F64))
    with pytest.raises(TypeError, match="floating"):
        model.energy(torch.zeros(1, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="bipolar"):
        model.store(torch.zeros(1, 8))
    with pytest.raises(ValueError, match="noise"):
        model.step(torch.zeros(2, 8, dtype=F64), noise=torch.tensor([0.1, -0.1]))
