"""Lagrangians: closed-form activations, convexity, Legendre energies, range, parameters."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.core.lagrangian_base import Lagrangian
from hopfield.core.lagrangians import (
    EXP_SAFE_BETA_X,
    EnergyLayerNorm,
    Exp,
    Ghostmax,
    Identity,
    LogSumExp,
    RectifiedPower,
    RExp,
    Sigmoid,
    Softmax,
    SphericalNorm,
    Tanh,
)

Factory = Callable[[int], Lagrangian]

# name -> factory(num_features) with non-default β/γ so the tests see them.
CASES: dict[str, Factory] = {
    "identity": lambda d: Identity(),
    "relu": lambda d: RectifiedPower(2),
    "rectified_power3": lambda d: RectifiedPower(3),
    "rectified_power2.5": lambda d: RectifiedPower(2.5),
    "exp": lambda d: Exp(beta=0.7),
    "rexp": lambda d: RExp(beta=1.3),
    "tanh": lambda d: Tanh(beta=2.0),
    "tanh_learnable": lambda d: Tanh(beta=0.6, learnable_beta=True),
    "sigmoid": lambda d: Sigmoid(beta=0.5),
    "logsumexp": lambda d: LogSumExp(beta=1.5),
    "logsumexp_dim1": lambda d: LogSumExp(beta=0.8, dim=1, learnable_beta=True),
    "softmax": lambda d: Softmax(beta=2.0),
    "ghostmax": lambda d: Ghostmax(beta=1.2),
    "ghostmax_dim1": lambda d: Ghostmax(beta=0.9, dim=1),
    "layernorm": lambda d: EnergyLayerNorm(d, gamma=1.3),
    "layernorm_nobias": lambda d: EnergyLayerNorm(d, gamma=0.7, bias=False, learnable=False),
    "spherical": lambda d: SphericalNorm(d, gamma=0.8),
    "spherical_fixed": lambda d: SphericalNorm(d, gamma=1.1, learnable=False),
}
EXP_LIKE = {"exp", "rexp"}
SHAPES = [(4, 7), (4, 3, 5), (3, 2, 3, 4)]


def make(name: str, num_features: int, dtype: torch.dtype = torch.float64) -> Lagrangian:
    """Build a case and give the norms a non-zero bias δ so it is exercised."""
    lagrangian = CASES[name](num_features).to(dtype)
    delta = getattr(lagrangian, "delta", None)
    if delta is not None:
        with torch.no_grad():
            delta.copy_(0.3 * torch.randn(num_features, dtype=dtype))
    return lagrangian


def autograd_activation(lagrangian: Lagrangian, x: torch.Tensor) -> torch.Tensor:
    xr = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(lagrangian(xr).sum(), xr)
    return grad


def quadratic_form(lagrangian: Lagrangian, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``vᵀ ∇²L(x) v`` per batch element, by double backward through ``L``."""
    xr = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(lagrangian(xr).sum(), xr, create_graph=True)
    (hv,) = torch.autograd.grad((grad * v).sum(), xr)
    return (v * hv).reshape(x.shape[0], -1).sum(dim=1)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_activation_equals_autograd_of_lagrangian(name: str, shape: tuple[int, ...]) -> None:
    lagrangian = make(name, shape[-1])
    x = 2.0 * torch.randn(shape, dtype=torch.float64)
    g = lagrangian.activation(x)
    assert g.shape == x.shape
    assert lagrangian(x).shape == (shape[0],)
    torch.testing.assert_close(g, autograd_activation(lagrangian, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES[1:], ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_lagrangian_is_convex_hessian_quadratic_form_nonnegative(
    name: str, shape: tuple[int, ...]
) -> None:
    lagrangian = make(name, shape[-1])
    for _ in range(3):
        x = 2.0 * torch.randn(shape, dtype=torch.float64)
        v = torch.randn(shape, dtype=torch.float64)
        assert bool((quadratic_form(lagrangian, x, v) >= -1e-10).all())


def test_convexity_check_can_fail_for_a_concave_lagrangian() -> None:
    """Guard: the Hessian check above detects concavity (γ < 0 makes the norm concave)."""
    lagrangian = SphericalNorm(5, learnable=False).double()
    lagrangian.gamma.fill_(-1.0)
    x, v = torch.randn(3, 2, 5, dtype=torch.float64), torch.randn(3, 2, 5, dtype=torch.float64)
    assert bool((quadratic_form(lagrangian, x, v) < -1e-6).any())


@pytest.mark.parametrize("name", list(CASES))
def test_energy_is_legendre_term_x_dot_g_minus_lagrangian(name: str) -> None:
    lagrangian = make(name, 5)
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    g = lagrangian.activation(x)
    expected = (x * g).sum(dim=(1, 2)) - lagrangian(x)
    torch.testing.assert_close(lagrangian.energy(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lagrangian.energy(x, g), expected, rtol=1e-12, atol=1e-12)


def _beta(lagrangian: Lagrangian) -> torch.Tensor:
    return lagrangian.beta  # type: ignore[no-any-return]


def _negentropy(g: torch.Tensor) -> torch.Tensor:
    return torch.xlogy(g, g)


def conjugate_energy(name: str, lagrangian: Lagrangian, x: torch.Tensor) -> torch.Tensor:
    """Energy written independently as the convex conjugate ``L*(g)`` (or a closed form)."""
    g = lagrangian.activation(x)
    rows = x.shape[-1]
    if name == "identity":
        per = 0.5 * g.square()
    elif name.startswith("relu") or name.startswith("rectified_power"):
        n = lagrangian.degree  # type: ignore[attr-defined]
        per = (1 - 1 / n) * g.pow(n / (n - 1))
    elif name == "exp":
        per = (_negentropy(g) - g) / _beta(lagrangian)
    elif name == "rexp":
        per = (torch.xlogy(1 + g, 1 + g) - g) / _beta(lagrangian)
    elif name.startswith("tanh"):
        per = (g * torch.atanh(g) + 0.5 * torch.log1p(-g.square())) / _beta(lagrangian)
    elif name == "sigmoid":
        per = (_negentropy(g) + _negentropy(1 - g)) / _beta(lagrangian)
    elif name.startswith("logsumexp") or name == "softmax":
        per = _negentropy(g) / _beta(lagrangian)
    elif name.startswith("ghostmax"):
        dim = lagrangian.dim  # type: ignore[attr-defined]
        ghost = 1 - g.sum(dim=dim)
        total = _negentropy(g).sum(dim=tuple(range(1, g.ndim)))
        total = total + _negentropy(ghost).reshape(x.shape[0], -1).sum(dim=1)
        return total / _beta(lagrangian)
    elif name.startswith("layernorm"):
        var = x.var(dim=-1, unbiased=False)
        gamma, eps = lagrangian.gamma, lagrangian.eps  # type: ignore[attr-defined]
        per = -rows * gamma * eps / torch.sqrt(var + eps)
    elif name.startswith("spherical"):
        gamma, eps = lagrangian.gamma, lagrangian.eps  # type: ignore[attr-defined]
        per = -gamma * eps / torch.sqrt(x.square().sum(dim=-1) + eps)
    else:  # pragma: no cover - every case has a conjugate
        raise AssertionError(name)
    return per.reshape(x.shape[0], -1).sum(dim=1)


@pytest.mark.parametrize("name", list(CASES))
def test_energy_equals_convex_conjugate_of_activation(name: str) -> None:
    lagrangian = make(name, 5)
    x = 1.5 * torch.randn(3, 4, 5, dtype=torch.float64)
    expected = conjugate_energy(name, lagrangian, x)
    torch.testing.assert_close(lagrangian.energy(x), expected, rtol=1e-9, atol=1e-9)


def _extreme_input(shape: tuple[int, ...], high: float) -> torch.Tensor:
    x = 1e4 * (2 * torch.rand(shape) - 1)
    x[:, 0] = -1e4
    x[:, -1] = 1e4
    return x.clamp(max=high)


@pytest.mark.parametrize("name", list(CASES))
def test_lagrangian_and_energy_finite_at_extreme_inputs_float32(name: str) -> None:
    lagrangian = make(name, 5, torch.float32)
    high = 1e4
    if name in EXP_LIKE:
        high = EXP_SAFE_BETA_X / float(_beta(lagrangian))
    x = _extreme_input((2, 3, 5), high)
    for value in (lagrangian(x), lagrangian.energy(x), lagrangian.activation(x)):
        assert value.dtype == torch.float32
        assert bool(torch.isfinite(value).all()), name


@pytest.mark.parametrize("name", sorted(EXP_LIKE))
def test_exponential_lagrangians_finite_over_documented_range(name: str) -> None:
    lagrangian = make(name, 5, torch.float32)
    beta = float(_beta(lagrangian))
    x = torch.linspace(-1e4, EXP_SAFE_BETA_X / beta, 1000).reshape(1, 10, 100)
    assert bool(torch.isfinite(lagrangian.energy(x)).all())
    # Beyond the documented range float32 overflows, as stated in the docstring.
    assert not bool(torch.isfinite(lagrangian(torch.full((1, 2), 100.0 / beta))).all())


@pytest.mark.parametrize("beta", [0.01, 1.0, 5.0])
@pytest.mark.parametrize("cls", [Exp, RExp])
def test_exponential_energy_finite_at_range_edge_for_any_beta(cls: type[Exp], beta: float) -> None:
    lagrangian = cls(beta=beta)
    x = torch.full((2, 100, 100), EXP_SAFE_BETA_X / beta)
    x[:, 0] = -1e4
    assert bool(torch.isfinite(lagrangian(x)).all())
    assert bool(torch.isfinite(lagrangian.energy(x)).all())


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e5, 1e7])
@pytest.mark.parametrize("name", list(CASES))
def test_float32_energy_matches_float64_at_large_states(name: str, scale: float) -> None:
    """Closed-form energies: no cancellation of ``⟨x, g⟩`` against ``L`` for large ``x``.

    The generic ``⟨x, g⟩ − L`` fails this for the norms (relative error up to 1e12 at
    scale 1e7), tanh, sigmoid and the softmaxes (relative error ~1 at scale 1e3–1e7).
    The bound is 1e-5 relative (``exp`` of ``βx = 60`` is itself only ~60 ulps exact);
    the absolute 1e-30 admits float32 underflow of energies that are ~1e-90 in float64.
    """
    torch.manual_seed(0)
    lagrangian64 = make(name, 6)
    lagrangian32 = copy.deepcopy(lagrangian64).float()
    x = (scale * (1 + torch.randn(3, 4, 6))).float()
    if name in EXP_LIKE:
        x = x.clamp(max=EXP_SAFE_BETA_X / float(_beta(lagrangian64)))
    energy32 = lagrangian32.energy(x)
    assert energy32.dtype == torch.float32
    expected = lagrangian64.energy(x.double())
    torch.testing.assert_close(energy32.double(), expected, rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("cls", [Exp, RExp])
def test_exponential_overflow_gives_inf_not_nan(cls: type[Exp]) -> None:
    """Beyond the documented range (βx = 100 in float32) g, L and E are +inf, never NaN."""
    lagrangian = cls(beta=2.0)
    x = torch.tensor([[50.0, 1.0, -3.0]])  # βx = 100 for the first neuron
    for value in (lagrangian(x), lagrangian.energy(x), lagrangian.activation(x)[:, 0]):
        assert bool(torch.isinf(value).all()) and bool((value > 0).all())


def test_rexp_small_states_accurate_in_float32() -> None:
    """Series branch of RExp: L and E are O(z²) and keep full relative precision."""
    lagrangian = RExp(beta=1.0)
    x = torch.logspace(-6, 1, 50).reshape(1, 50)
    for fn in (lagrangian.forward, lagrangian.energy):
        per32 = torch.stack([fn(x[:, i : i + 1]) for i in range(50)])
        per64 = torch.stack([fn(x[:, i : i + 1].double()) for i in range(50)])
        torch.testing.assert_close(per32.double(), per64, rtol=1e-6, atol=0.0)


LEARNABLE = ["tanh_learnable", "logsumexp_dim1", "layernorm", "spherical"]


@pytest.mark.parametrize("name", LEARNABLE)
def test_learnable_parameters_receive_gradients(name: str) -> None:
    lagrangian = make(name, 5)
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    weights = torch.randn(3, 4, 5, dtype=torch.float64)
    params = dict(lagrangian.named_parameters())
    assert params
    outputs = {
        "lagrangian": lagrangian(x).sum(),
        "activation": (lagrangian.activation(x) * weights).sum(),
        "energy": lagrangian.energy(x).sum(),
    }
    for what, out in outputs.items():
        grads = torch.autograd.grad(out, list(params.values()), allow_unused=True)
        for (pname, _), grad in zip(params.items(), grads, strict=True):
            # δ enters L and ⟨x, g⟩ as δ·x and cancels from the energy exactly: the
            # closed-form energy does not depend on it.
            if what == "energy" and pname == "delta":
                assert grad is None or float(grad.abs().max()) == 0.0
                continue
            assert grad is not None, (what, pname)
            assert float(grad.abs().max()) > 1e-8, (what, pname)


def test_learnable_beta_stays_positive_and_matches_init() -> None:
    lagrangian = LogSumExp(beta=2.5, learnable_beta=True)
    assert isinstance(lagrangian.beta, torch.Tensor)
    assert math.isclose(float(lagrangian.beta.detach()), 2.5, rel_tol=1e-6)
    with torch.no_grad():
        lagrangian.log_beta.sub_(50.0)  # a huge step in parameter space
    assert float(lagrangian.beta.detach()) > 0
    fixed = LogSumExp(beta=2.5)
    assert not list(fixed.parameters())
    assert float(fixed.beta) == 2.5


@pytest.mark.parametrize("cls", [EnergyLayerNorm, SphericalNorm])
def test_norm_bias_counted_once_per_token(cls: type[EnergyLayerNorm]) -> None:
    lagrangian = cls(6, gamma=1.4).double()
    with torch.no_grad():
        assert lagrangian.delta is not None
        lagrangian.delta.normal_()
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    per_token = sum(lagrangian(x[:, t : t + 1, :]) for t in range(5))
    torch.testing.assert_close(lagrangian(x), per_token, rtol=1e-12, atol=1e-12)
    # And the bias part alone is Σ_tokens δ·x_t (not δ·x added once).
    no_bias = cls(6, gamma=1.4, bias=False).double()
    bias_part = (x * lagrangian.delta).sum(dim=(1, 2))
    torch.testing.assert_close(lagrangian(x) - no_bias(x), bias_part, rtol=1e-12, atol=1e-12)


def test_energy_layernorm_activation_is_layer_norm_with_scalar_gamma() -> None:
    lagrangian = make("layernorm", 8)
    x = 3.0 * torch.randn(2, 4, 8, dtype=torch.float64)
    expected = torch.nn.functional.layer_norm(x, (8,), eps=lagrangian.eps)  # type: ignore[arg-type]
    expected = lagrangian.gamma * expected + lagrangian.delta  # type: ignore[operator]
    torch.testing.assert_close(lagrangian.activation(x), expected, rtol=1e-10, atol=1e-10)


def test_spherical_norm_activation_has_norm_gamma_without_bias() -> None:
    lagrangian = SphericalNorm(7, gamma=2.5, eps=1e-12, bias=False).double()
    g = lagrangian.activation(torch.randn(3, 2, 7, dtype=torch.float64))
    torch.testing.assert_close(g.norm(dim=-1), torch.full((3, 2), 2.5, dtype=torch.float64))


@pytest.mark.parametrize("dim", [1, 2, 3, -1, -2, -3])
def test_logsumexp_reduces_any_non_batch_dim(dim: int) -> None:
    beta = 0.9
    x = torch.randn(2, 2, 3, 4, dtype=torch.float64)
    lagrangian = LogSumExp(beta=beta, dim=dim).double()
    naive = torch.log(torch.exp(beta * x).sum(dim=dim)) / beta
    torch.testing.assert_close(lagrangian(x), naive.sum(dim=(1, 2)))
    g = lagrangian.activation(x)
    torch.testing.assert_close(g.sum(dim=dim), torch.ones_like(naive))


def test_ghostmax_matches_softmax_with_an_explicit_zero_logit() -> None:
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    ghost = Ghostmax(beta=1.7).double()
    padded = torch.cat([x, torch.zeros(3, 4, 1, dtype=torch.float64)], dim=-1)
    softmax = LogSumExp(beta=1.7).double()
    torch.testing.assert_close(ghost.activation(x), softmax.activation(padded)[..., :-1])
    torch.testing.assert_close(ghost(x), softmax(padded))
    assert bool((ghost.activation(x).sum(dim=-1) < 1).all())


def test_softmax_is_logsumexp_alias() -> None:
    x = torch.randn(2, 3, 4)
    assert issubclass(Softmax, LogSumExp)
    torch.testing.assert_close(Softmax(beta=3.0, dim=1)(x), LogSumExp(beta=3.0, dim=1)(x))


def test_float32_parameters_follow_float64_input_after_double() -> None:
    lagrangian = EnergyLayerNorm(4).double()
    assert lagrangian.gamma.dtype == torch.float64
    assert Tanh(beta=2.0).double().beta.dtype == torch.float64


@pytest.mark.parametrize(
    ("build", "match", "error"),
    [
        (lambda: Tanh(beta=0.0), "beta", ValueError),
        (lambda: Exp(beta=-1.0), "beta", ValueError),
        (lambda: Sigmoid(beta="1"), "beta", TypeError),
        (lambda: LogSumExp(learnable_beta=1), "learnable_beta", TypeError),
        (lambda: RectifiedPower(1), "degree", ValueError),
        (lambda: RectifiedPower(1.5), "degree", ValueError),
        (lambda: RectifiedPower("2"), "degree", TypeError),
        (lambda: EnergyLayerNorm(0), "num_features", ValueError),
        (lambda: SphericalNorm(2.0), "num_features", TypeError),
        (lambda: EnergyLayerNorm(4, eps=0.0), "eps", ValueError),
        (lambda: SphericalNorm(4, gamma=-1.0), "gamma", ValueError),
        (lambda: LogSumExp(dim=0), "dim", ValueError),
        (lambda: Ghostmax(dim=0), "dim", ValueError),
        (lambda: Ghostmax(dim=1.0), "dim", TypeError),
    ],
)
def test_bad_constructor_arguments_raise_naming_the_argument(
    build: Callable[[], object], match: str, error: type[Exception]
) -> None:
    with pytest.raises(error, match=match):
        build()


def test_bad_inputs_raise_with_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"\(B, \.\.\., 5\)"):
        EnergyLayerNorm(5)(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(B, \.\.\., 5\)"):
        SphericalNorm(5).activation(torch.randn(2, 4))
    with pytest.raises(ValueError, match="dim=-3"):
        LogSumExp(dim=-3)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="dim=3"):
        Ghostmax(dim=3).activation(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(B, \*shape\)"):
        Identity()(torch.randn(5))
    with pytest.raises(TypeError, match="floating"):
        Tanh()(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        Sigmoid().activation([1.0, 2.0])  # type: ignore[arg-type]


def test_repr_shows_hyperparameters() -> None:
    assert "beta=2" in repr(Tanh(beta=2.0, learnable_beta=True))
    assert "num_features=5" in repr(EnergyLayerNorm(5))
    assert "degree=3" in repr(RectifiedPower(3))


@settings(max_examples=30)
@given(
    name=st.sampled_from(list(CASES)),
    dims=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(0.1, 5.0),
)
def test_activation_equals_autograd_for_random_shapes(
    name: str, dims: list[int], batch: int, seed: int, scale: float
) -> None:
    torch.manual_seed(seed)
    lagrangian = make(name, dims[-1])
    x = scale * torch.randn(batch, *dims, dtype=torch.float64)
    torch.testing.assert_close(
        lagrangian.activation(x), autograd_activation(lagrangian, x), rtol=1e-10, atol=1e-10
    )
