"""sparsemax / entmax-1.5: exact thresholds vs bisection, simplex output, gradients."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hopfield.ops.sparse_normalizers import entmax15, sparsemax, tsallis_entropy


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    """These tests run many small-matrix ops, for which intra-op threads only add
    synchronisation (and thrash on a loaded 2-core machine): run them on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _bisection(z: np.ndarray, power: float, scale: float) -> np.ndarray:
    """p_i = [scale·z_i − τ]₊^power with Σ p = 1, τ found by 200 bisection steps."""
    u = scale * z
    low, high = u.max() - 1.0, u.max()
    for _ in range(200):
        tau = 0.5 * (low + high)
        total = (np.clip(u - tau, 0, None) ** power).sum()
        low, high = (tau, high) if total > 1 else (low, tau)
    return np.clip(u - 0.5 * (low + high), 0, None) ** power


def _reference(name: str, z: np.ndarray) -> np.ndarray:
    rows = z.reshape(-1, z.shape[-1])
    power, scale = (1.0, 1.0) if name == "sparsemax" else (2.0, 0.5)
    return np.stack([_bisection(r, power, scale) for r in rows]).reshape(z.shape)


NORMALIZERS = {"sparsemax": sparsemax, "entmax15": entmax15}


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_matches_bisection_reference(name: str) -> None:
    generator = torch.Generator().manual_seed(1)
    z = 3 * torch.randn(64, 17, generator=generator, dtype=torch.float64)
    p = NORMALIZERS[name](z)
    np.testing.assert_allclose(p.numpy(), _reference(name, z.numpy()), atol=1e-10)


@given(
    arrays(
        np.float64,
        st.integers(1, 12),
        elements=st.floats(-20, 20, allow_nan=False, allow_infinity=False),
    )
)
def test_property_simplex_exact_zeros_and_reference(values: np.ndarray) -> None:
    z = torch.from_numpy(values)
    for name, function in NORMALIZERS.items():
        p = function(z)
        assert float(p.min()) >= 0.0
        assert abs(float(p.sum()) - 1.0) < 1e-10
        np.testing.assert_allclose(p.numpy(), _reference(name, values), atol=1e-9)
        # order preserving; the largest score always has positive mass
        assert float(p[int(z.argmax())]) > 0


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_any_dim_equals_last_dim_after_transpose(name: str) -> None:
    z = torch.randn(3, 9, 5, dtype=torch.float64)
    out = NORMALIZERS[name](z, dim=1)
    expected = NORMALIZERS[name](z.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out.sum(1), torch.ones(3, 5, dtype=torch.float64))


def test_sparse_outputs_have_exact_zeros_and_softmax_does_not() -> None:
    z = torch.tensor([3.0, 1.0, 0.2, -2.0], dtype=torch.float64)
    assert (sparsemax(z) == 0).sum() == 3  # gap 2 > 1 ⇒ one-hot
    assert (entmax15(z) == 0).sum() >= 1
    assert (torch.softmax(z, 0) == 0).sum() == 0


def test_shift_invariance_and_large_scores() -> None:
    z = torch.randn(5, 7, dtype=torch.float64)
    for function in NORMALIZERS.values():
        torch.testing.assert_close(function(z + 1e6), function(z), atol=1e-8, rtol=0)


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_gradcheck_float64(name: str) -> None:
    generator = torch.Generator().manual_seed(3)
    z = torch.randn(4, 6, generator=generator, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: NORMALIZERS[name](t, dim=-1), (z,))
    zt = torch.randn(6, 4, generator=generator, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: NORMALIZERS[name](t, dim=0), (zt,))


def test_gradient_is_gradient_of_regularised_max() -> None:
    """∇_z max_Ω(z) = p, with max_Ω(z) = ⟨p, z⟩ + H_α(p) at p = α-entmax(z)."""
    z = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    for function, alpha in ((sparsemax, 2.0), (entmax15, 1.5)):
        p = function(z)
        value = (p * z).sum(-1) + tsallis_entropy(p, alpha)
        (grad,) = torch.autograd.grad(value.sum(), z)
        torch.testing.assert_close(grad, p.detach(), atol=1e-10, rtol=0)


def test_tsallis_shannon_limit() -> None:
    p = torch.softmax(torch.randn(4, 6, dtype=torch.float64), -1)
    near = tsallis_entropy(p, 1.0 + 1e-7)
    torch.testing.assert_close(near, tsallis_entropy(p, 1.0), atol=1e-5, rtol=0)


def test_validation_errors() -> None:
    with pytest.raises(TypeError, match="z"):
        sparsemax(torch.ones(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="z"):
        entmax15([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dim"):
        sparsemax(torch.ones(3), dim=2)
    with pytest.raises(ValueError, match="alpha"):
        tsallis_entropy(torch.ones(3) / 3, 0.5)
