"""Neurons: shapes, activation/energy delegation, init_state, validation messages."""

from __future__ import annotations

import pytest
import torch

from hopfield.core.lagrangians import EnergyLayerNorm, Identity, LogSumExp, Tanh
from hopfield.core.neurons import Neurons


def test_shape_int_becomes_tuple_and_parameters_are_registered() -> None:
    neurons = Neurons(7, Tanh(beta=2.0, learnable_beta=True))
    assert neurons.shape == (7,)
    assert "lagrangian.log_beta" in dict(neurons.named_parameters())
    layer = Neurons((3, 5), EnergyLayerNorm(5))
    assert set(dict(layer.named_parameters())) == {"lagrangian.gamma", "lagrangian.delta"}


def test_activation_energy_and_lagrangian_delegate_with_batch_shapes() -> None:
    lagrangian = LogSumExp(beta=1.5, dim=1).double()
    neurons = Neurons((3, 5), lagrangian)
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    g = neurons.activation(x)
    assert g.shape == (4, 3, 5)
    torch.testing.assert_close(g, torch.softmax(1.5 * x, dim=1))
    torch.testing.assert_close(neurons(x), g)
    energy = neurons.energy(x)
    assert energy.shape == (4,)
    expected = (x * g).sum(dim=(1, 2)) - torch.logsumexp(1.5 * x, dim=1).sum(dim=1) / 1.5
    torch.testing.assert_close(energy, expected)
    torch.testing.assert_close(neurons.energy(x, g), expected)
    torch.testing.assert_close(neurons.lagrangian_value(x), lagrangian(x))


def test_energy_gradient_wrt_activation_is_state() -> None:
    """``∂E/∂g = x`` (Legendre duality), which the dynamics ``τ dx/dt = −∂E/∂g`` rely on.

    Checked through the chain rule: ``∂E/∂x = H x`` where ``H = ∂g/∂x``.
    """
    neurons = Neurons((6,), Tanh(beta=0.8)).double()
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    (dE_dx,) = torch.autograd.grad(neurons.energy(x).sum(), x)
    hessian_diag = 0.8 * (1 - torch.tanh(0.8 * x.detach()).square())
    torch.testing.assert_close(dE_dx, hessian_diag * x.detach())


def test_init_state_zeros_and_gaussian_with_generator() -> None:
    neurons = Neurons((2, 3), Identity())
    zeros = neurons.init_state(4)
    assert zeros.shape == (4, 2, 3)
    assert zeros.dtype == torch.float32
    assert not bool(zeros.any())
    gen_a = torch.Generator().manual_seed(11)
    gen_b = torch.Generator().manual_seed(11)
    a = neurons.init_state(4, std=0.5, generator=gen_a, dtype=torch.float64)
    b = neurons.init_state(4, std=0.5, generator=gen_b, dtype=torch.float64)
    assert a.dtype == torch.float64
    torch.testing.assert_close(a, b)
    c = neurons.init_state(4, std=0.5, generator=gen_a, dtype=torch.float64)
    assert not torch.equal(a, c)
    big = Neurons((1000,), Identity()).init_state(20, std=0.5, generator=gen_a)
    assert abs(float(big.std()) - 0.5) < 0.02
    assert abs(float(big.mean())) < 0.02


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        ({"batch_size": 0}, "batch_size", ValueError),
        ({"batch_size": 2.0}, "batch_size", TypeError),
        ({"batch_size": 2, "std": -1.0}, "std", ValueError),
        ({"batch_size": 2, "dtype": torch.int32}, "dtype", TypeError),
    ],
)
def test_init_state_validates_arguments(
    kwargs: dict[str, object], match: str, error: type[Exception]
) -> None:
    neurons = Neurons((3,), Identity())
    with pytest.raises(error, match=match):
        neurons.init_state(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "error"),
    [
        ((), ValueError),
        ((0, 3), ValueError),
        ((-1,), ValueError),
        ((2.0,), TypeError),
        ("ab", TypeError),
        (None, TypeError),
        ((True,), TypeError),
    ],
)
def test_bad_shape_raises_naming_shape(shape: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="shape"):
        Neurons(shape, Identity())  # type: ignore[arg-type]


def test_bad_lagrangian_and_tau_raise_naming_them() -> None:
    with pytest.raises(TypeError, match="lagrangian"):
        Neurons((3,), torch.nn.Tanh())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tau"):
        Neurons((3,), Identity(), tau=0.0)
    with pytest.raises(TypeError, match="tau"):
        Neurons((3,), Identity(), tau="1")  # type: ignore[arg-type]
    neurons = Neurons((3,), Identity(), tau=2.0)
    assert neurons.tau == 2.0
    neurons.tau = 0.5
    assert neurons.tau == 0.5
    with pytest.raises(ValueError, match="tau"):
        neurons.tau = -1.0


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.zeros(2, 3), ValueError, r"state must have shape \(B, 3, 5\) \(3 dims\)"),
        (torch.zeros(2, 3, 4), ValueError, r"state must have shape \(B, 3, 5\), got shape"),
        (torch.zeros(2, 5, 3), ValueError, r"state must have shape \(B, 3, 5\)"),
        (torch.zeros(2, 3, 5, dtype=torch.int64), TypeError, "state must have a real floating"),
        (torch.zeros(2, 3, 5, dtype=torch.complex64), TypeError, "state must have a real floating"),
        (torch.full((2, 3, 5), float("nan")), ValueError, "state contains NaN"),
        (torch.full((2, 3, 5), float("inf")), ValueError, "state contains NaN"),
        ([[0.0]], TypeError, r"state must be a torch.Tensor of shape \(B, 3, 5\)"),
    ],
)
def test_check_state_rejects_bad_states_naming_argument_and_shape(
    x: object, error: type[Exception], match: str
) -> None:
    neurons = Neurons((3, 5), Identity())
    with pytest.raises(error, match=match):
        neurons.check_state(x, name="state")


def test_check_state_accepts_valid_state_and_returns_it() -> None:
    neurons = Neurons((3, 5), Identity())
    x = neurons.init_state(2, std=1.0, generator=torch.Generator().manual_seed(0))
    assert neurons.check_state(x) is x
    empty = torch.zeros(0, 3, 5)  # an empty batch is a valid (empty) state
    assert neurons.check_state(empty) is empty


def test_repr_is_readable() -> None:
    text = repr(Neurons((3, 5), LogSumExp(beta=2.0), tau=0.5))
    assert "Neurons(" in text
    assert "shape=(3, 5)" in text
    assert "tau=0.5" in text
    assert "LogSumExp(beta=2" in text
