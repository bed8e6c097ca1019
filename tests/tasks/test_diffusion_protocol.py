"""The tutorial's diffusion protocol: the plain VE SDE, EMA, the configuration."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hopfield.tasks.diffusion import ema_update, sample_euler_maruyama
from hopfield.tasks.diffusion_protocol import TUTORIAL_PROTOCOL, BrownianVESDE


def test_tutorial_protocol_is_the_chapters_configuration() -> None:
    assert TUTORIAL_PROTOCOL.steps == 50_000
    assert TUTORIAL_PROTOCOL.lr == 1e-4
    assert TUTORIAL_PROTOCOL.ema_decay == 0.9999
    assert TUTORIAL_PROTOCOL.sigma == 1.0
    assert TUTORIAL_PROTOCOL.num_samples == 1500
    assert TUTORIAL_PROTOCOL.sampler_steps == 1000
    assert TUTORIAL_PROTOCOL.cosine_decay is False


def test_ema_update_is_the_exponential_average_of_the_weights() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    average = copy.deepcopy(model)
    start = [p.detach().clone() for p in average.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema_update(average, model, 0.9)
    for new, old, current in zip(average.parameters(), start, model.parameters(), strict=True):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * current)
    # repeated updates converge geometrically to the fixed weights
    for _ in range(200):
        ema_update(average, model, 0.9)
    for new, current in zip(average.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(new, current)


def test_brownian_sde_variance_is_sigma_squared_t() -> None:
    sde = BrownianVESDE(2.0, t_min=1e-3)
    t = torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64)
    torch.testing.assert_close(sde.sigma(t) ** 2, 4.0 * t)
    torch.testing.assert_close(sde.g_squared(t), torch.full_like(t, 4.0))  # d σ²/dt
    assert sde.sigma_max == 2.0 and sde.t_min == 1e-3
    assert sde.beta(0.25) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="t_min"):
        BrownianVESDE(1.0, t_min=0.0)


def test_exact_score_under_the_brownian_sde_memorises() -> None:
    from hopfield.tasks.diffusion import EmpiricalScore, circle_points

    data = circle_points(3, seed=1, dtype=torch.float64)
    sde = BrownianVESDE(1.0)
    samples = sample_euler_maruyama(
        EmpiricalScore(data, sde), sde, 200, 2, steps=300, seed=0, dtype=torch.float64
    )
    assert torch.cdist(samples, data).amin(dim=1).max() < 0.05
