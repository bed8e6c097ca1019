"""The energy core on a CUDA device agrees with the CPU (skipped without CUDA;
``benchmarks/gpu_check.sh`` runs every ``cuda``-marked test on the GPU machine)."""

from __future__ import annotations

import copy

import pytest
import torch

from hopfield.core import (
    HAM,
    DenseMemorySynapse,
    EnergyLayerNorm,
    Identity,
    Neurons,
    Polynomial,
    SphericalNorm,
    Tanh,
    descend,
)

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _ham() -> HAM:
    gen = torch.Generator().manual_seed(0)
    return HAM(
        neurons={"v": Neurons(32, SphericalNorm(32)), "h": Neurons(8, Tanh(beta=2.0))},
        synapses={"m": DenseMemorySynapse(64, 32, beta=10.0, generator=gen)},
        connections=[(("v",), "m")],
    )


@pytest.mark.parametrize("guard", [True, False])
def test_descend_on_cuda_matches_cpu(guard: bool) -> None:
    ham = _ham()
    xs = ham.init_states(16, std=1.0, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cpu = descend(ham, xs, steps=20, step_size=0.5, guard=guard)
        gpu_ham = copy.deepcopy(ham).cuda()
        on_gpu = {k: v.cuda() for k, v in xs.items()}
        gpu = descend(gpu_ham, on_gpu, steps=20, step_size=0.5, guard=guard)
    assert gpu.states["v"].is_cuda
    torch.testing.assert_close(gpu.energies.cpu(), cpu.energies, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gpu.states["v"].cpu(), cpu.states["v"], rtol=1e-4, atol=1e-4)


def test_descend_trains_on_cuda() -> None:
    ham = _ham().cuda()
    xs = {k: v.cuda() for k, v in ham.init_states(4, std=1.0).items()}
    loss = descend(ham, xs, steps=3, step_size=0.2).final_energy.sum()
    loss.backward()
    grad = ham.synapse("m").memories.grad
    assert grad is not None and grad.is_cuda and bool(torch.isfinite(grad).all())


def test_unbounded_energy_is_flagged_on_cuda() -> None:
    synapse = DenseMemorySynapse(2, 3, separation=Polynomial(2), std=10.0)
    ham = HAM({"v": Neurons(3, Identity())}, {"m": synapse}, [(("v",), "m")]).cuda()
    xs = {"v": torch.tensor([[1.0, -0.5, 0.3], [0.0, 0.0, 0.0]], device="cuda")}
    with torch.no_grad():
        result = descend(ham, xs, steps=300, step_size=0.1)
    assert result.unbounded.tolist() == [True, False]
    assert bool(torch.isfinite(result.energies).all())


def test_closed_form_norm_energies_on_cuda_match_float64() -> None:
    norm = EnergyLayerNorm(12, gamma=1.3)
    x = 1e5 * torch.randn(4, 100, 1) * torch.randn(1, 1, 12) + torch.randn(4, 100, 12)
    expected = copy.deepcopy(norm).double().energy(x.double())
    energy = norm.cuda().energy(x.cuda())
    torch.testing.assert_close(energy.cpu().double(), expected, rtol=1e-5, atol=0.0)
