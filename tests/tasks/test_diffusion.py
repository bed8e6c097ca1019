"""Diffusion as associative memory: the score identity, the VE SDE, sampler, likelihood."""

from __future__ import annotations

import math

import pytest
import torch

from hopfield.models.modern import ModernHopfield
from hopfield.tasks.diffusion import (
    VESDE,
    EmpiricalScore,
    ScoreNetwork,
    circle_points,
    ode_log_likelihood,
    sample_euler_maruyama,
    smoothed_log_density,
    smoothed_score,
    train_score_network,
)

F64 = torch.float64


def _mixture_log_density(x: torch.Tensor, data: torch.Tensor, sigma: float) -> torch.Tensor:
    """Independent reference: log (1/K) Σ N(x; ξ, σ²I) from the Gaussian formula."""
    dim = data.shape[1]
    sq = (x[:, None, :] - data[None]).square().sum(-1)
    log_normal = -sq / (2 * sigma**2) - 0.5 * dim * math.log(2 * math.pi * sigma**2)
    return torch.logsumexp(log_normal, dim=1) - math.log(data.shape[0])


@pytest.mark.parametrize("sigma", [0.05, 0.3, 2.0])
def test_log_density_matches_gaussian_mixture(sigma: float) -> None:
    gen = torch.Generator().manual_seed(1)
    data = torch.randn(7, 3, generator=gen, dtype=F64)
    x = torch.randn(11, 3, generator=gen, dtype=F64)
    torch.testing.assert_close(
        smoothed_log_density(x, data, sigma), _mixture_log_density(x, data, sigma)
    )


@pytest.mark.parametrize("sigma", [0.1, 0.5, 1.5])
def test_score_equals_autograd_of_log_density_and_minus_beta_grad_energy(sigma: float) -> None:
    gen = torch.Generator().manual_seed(2)
    data = torch.randn(9, 4, generator=gen, dtype=F64)
    x = (torch.randn(6, 4, generator=gen, dtype=F64) * 1.5).requires_grad_(True)
    (autograd,) = torch.autograd.grad(_mixture_log_density(x, data, sigma).sum(), x)
    score = smoothed_score(x.detach(), data, sigma)
    torch.testing.assert_close(score, autograd, rtol=1e-9, atol=1e-9)
    beta = 1.0 / sigma**2
    memory = ModernHopfield(beta, similarity="euclidean")
    memory.store(data)
    torch.testing.assert_close(score, -beta * memory.energy_grad(x.detach()), rtol=1e-9, atol=1e-9)
    # and log p = −β E − log K − (D/2) log 2πσ²
    expected = (
        -beta * memory.energy(x.detach()) - math.log(9) - 2 * math.log(2 * math.pi * sigma**2)
    )
    torch.testing.assert_close(smoothed_log_density(x.detach(), data, sigma), expected)


def test_vesde_g_squared_is_derivative_of_variance_and_beta_is_inverse_variance() -> None:
    sde = VESDE(0.02, 5.0)
    t, h = torch.tensor([0.1, 0.5, 0.9], dtype=F64), 1e-6
    numeric = (sde.sigma(t + h) ** 2 - sde.sigma(t - h) ** 2) / (2 * h)
    torch.testing.assert_close(sde.g_squared(t), numeric, rtol=1e-6, atol=0.0)
    assert sde.sigma(0.0).item() == pytest.approx(0.02)
    assert sde.sigma(1.0).item() == pytest.approx(5.0)
    assert sde.beta(0.5) == pytest.approx(1.0 / float(sde.sigma(0.5)) ** 2)


def test_probability_flow_likelihood_matches_exact_density_and_converges() -> None:
    sde = VESDE(0.2, 2.0)
    data = torch.tensor([[1.0, 0.0], [-0.5, 0.8], [0.0, -1.0]], dtype=F64)
    gen = torch.Generator().manual_seed(3)
    x = torch.cat(
        [
            data + 0.1 * torch.randn(3, 2, generator=gen, dtype=F64),
            torch.randn(3, 2, generator=gen, dtype=F64),
        ]
    )
    exact = smoothed_log_density(x, data, 0.2)

    def prior(z: torch.Tensor) -> torch.Tensor:
        return smoothed_log_density(z, data, 2.0)

    score = EmpiricalScore(data, sde)
    coarse = (ode_log_likelihood(score, sde, x, steps=25, prior_log_prob=prior) - exact).abs().max()
    fine = (ode_log_likelihood(score, sde, x, steps=100, prior_log_prob=prior) - exact).abs().max()
    assert fine < 0.01
    assert coarse / fine > 8  # Heun: second order in the step


def test_empirical_score_sampler_memorises_exactly() -> None:
    sde = VESDE(0.01, 3.0)
    data = circle_points(5, seed=4)
    samples = sample_euler_maruyama(EmpiricalScore(data, sde), sde, 300, 2, steps=200, seed=0)
    nearest = torch.cdist(samples, data).amin(dim=1)
    assert bool((nearest < 0.01).all())
    # every training point is reached by some samples
    assert len(torch.cdist(samples, data).argmin(dim=1).unique()) == 5


def test_score_network_is_denoiser_parametrised() -> None:
    sde = VESDE(0.01, 3.0)
    net = ScoreNetwork(2, sde, hidden=16, depth=2, seed=0).double()
    x = torch.randn(5, 2, dtype=F64)
    t = torch.full((5,), 0.3, dtype=F64)
    sigma = float(sde.sigma(0.3))
    torch.testing.assert_close(net(x, 0.3), (net.denoise(x, t) - x) / sigma**2)


def test_training_is_seeded_and_reduces_the_loss() -> None:
    sde = VESDE(0.01, 3.0)
    data = circle_points(4)
    first = train_score_network(data, sde, steps=60, batch_size=64, hidden=32, seed=3)
    second = train_score_network(data, sde, steps=60, batch_size=64, hidden=32, seed=3)
    assert first.losses == second.losses
    assert sum(first.losses[-10:]) < sum(first.losses[:10])


def _memorised_fraction(count: int) -> tuple[float, torch.Tensor, torch.Tensor]:
    sde = VESDE(0.01, 3.0)
    data = circle_points(count, seed=0)
    model = train_score_network(data, sde, steps=1500, batch_size=256, hidden=128, seed=0).model
    samples = sample_euler_maruyama(model, sde, 500, 2, steps=300, seed=1)
    nearest = torch.cdist(samples, data).amin(dim=1)
    return float((nearest < 0.05).double().mean()), samples, data


def test_trained_network_memorises_two_points() -> None:
    fraction, _, _ = _memorised_fraction(2)
    assert fraction >= 0.95


def test_trained_network_generalises_on_a_dense_circle() -> None:
    _, samples, _ = _memorised_fraction(1000)
    radius = samples.norm(dim=1)
    assert float(((radius - 1).abs() < 0.1).double().mean()) >= 0.9
    angles = torch.atan2(samples[:, 1], samples[:, 0])
    histogram = torch.histc(angles, bins=36, min=-math.pi, max=math.pi)
    assert int((histogram == 0).sum()) == 0


def test_inputs_are_validated() -> None:
    data = torch.randn(4, 2, dtype=F64)
    with pytest.raises(ValueError, match="x must have shape"):
        smoothed_score(torch.randn(3, 3, dtype=F64), data, 0.5)
    with pytest.raises(ValueError, match="sigma"):
        smoothed_score(torch.randn(3, 2, dtype=F64), data, 0.0)
    with pytest.raises(TypeError, match="data"):
        smoothed_log_density(torch.randn(3, 2), torch.ones(4, 2, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="sigma_max"):
        VESDE(1.0, 0.5)
    with pytest.raises(ValueError, match="steps"):
        train_score_network(data, VESDE(), steps=0)
    with pytest.raises(ValueError, match="count"):
        circle_points(0)
