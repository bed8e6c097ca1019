"""The Energy Transformer on a CUDA device agrees with the CPU (skipped without CUDA)."""

from __future__ import annotations

import copy

import pytest
import torch

from hopfield.models.energy_transformer import EnergyTransformer, EnergyTransformerBlock

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("guarded", [False, True])
def test_block_descent_on_cuda_matches_cpu(guarded: bool) -> None:
    torch.manual_seed(0)
    block = EnergyTransformerBlock(12, 2, 6, 24, attention_init_std=0.5)
    x = torch.randn(3, 50, 12)
    with torch.no_grad():
        cpu = block.descend(x, steps=30, alpha=0.5, guarded=guarded)
        gpu = copy.deepcopy(block).cuda().descend(x.cuda(), steps=30, alpha=0.5, guarded=guarded)
    torch.testing.assert_close(gpu.energies.cpu(), cpu.energies, rtol=1e-4, atol=1e-3)


def test_model_on_cuda_follows_its_dtype_and_trains() -> None:
    torch.manual_seed(0)
    model = EnergyTransformer(8, 2, 1, 16, 2, 4, 32, steps=3, alpha=0.5).cuda()
    images = torch.rand(2, 1, 8, 8, device="cuda", dtype=torch.bfloat16)
    out = model(images)
    assert out.patches.dtype == torch.float32 and out.patches.is_cuda
    out.patches.square().mean().backward()
    assert all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in model.parameters())
