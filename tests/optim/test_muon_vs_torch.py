"""hopfield.optim.Muon against torch.optim.Muon: same update rule, different precision.

PyTorch's Muon keeps an EMA momentum buffer ``(1−μ)·Σ μ^k G`` where ours keeps the sum
``Σ μ^k G``; the two differ by the factor ``1−μ``, which the Newton–Schulz step's
Frobenius normalisation removes, so the updates agree up to PyTorch's bfloat16
arithmetic. What differs: PyTorch runs Newton–Schulz in bfloat16 and accepts only 2-D
parameters; ours runs it in float32/float64 and flattens convolution kernels.
"""

from __future__ import annotations

import pytest
import torch

from hopfield.optim import Muon

OPTIONS = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}


def _displacement(optimizer_class: type[torch.optim.Optimizer], dtype: torch.dtype) -> torch.Tensor:
    """``W_3 − W_0`` after three steps on fixed random gradients, in float64."""
    g = torch.Generator().manual_seed(0)
    start = torch.randn(24, 16, generator=g, dtype=torch.float64)
    grads = torch.randn(3, 24, 16, generator=g, dtype=torch.float64)
    weight = torch.nn.Parameter(start.to(dtype, copy=True))
    optimizer = optimizer_class([weight], **OPTIONS)
    for grad in grads:
        weight.grad = grad.to(dtype)
        optimizer.step()
    return weight.detach().double() - start.to(dtype).double()


def test_same_update_as_torch_muon_up_to_bfloat16() -> None:
    ours = _displacement(Muon, torch.float64)
    theirs = _displacement(torch.optim.Muon, torch.float64)
    relative = (ours - theirs).norm() / ours.norm()
    assert float(relative) < 2e-2  # bfloat16 has an 8-bit mantissa (≈ 4·10⁻³ per rounding)


def test_ours_is_more_precise_than_torch_muon() -> None:
    """The reason we keep our own: float64 Newton–Schulz vs PyTorch's bfloat16 one."""
    ours = _displacement(Muon, torch.float64)
    theirs = _displacement(torch.optim.Muon, torch.float64)
    # our float32 run agrees with our float64 one to float32 precision, far closer
    # than PyTorch's bfloat16 Newton–Schulz does
    ours32 = _displacement(Muon, torch.float32)
    error32 = float((ours32 - ours).norm() / ours.norm())
    error_bf16 = float((theirs - ours).norm() / ours.norm())
    assert error32 < 1e-5 < 1e-3 < error_bf16


def test_torch_muon_rejects_conv_kernels_ours_flattens_them() -> None:
    kernel = torch.nn.Parameter(torch.randn(8, 3, 3, 3))
    with pytest.raises(ValueError, match="2D"):
        torch.optim.Muon([kernel])
    Muon([kernel])
