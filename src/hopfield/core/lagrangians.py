"""Lagrangians of neuron layers: convex ``L(x)``, activation ``g = ∇L``, energy ``⟨x,g⟩ − L``.

Every class here subclasses :class:`~hopfield.core.lagrangian_base.Lagrangian`.
``x`` has shape ``(B, *shape)`` (rank ≥ 2, batch first); ``forward(x)`` returns
``L(x)`` with shape ``(B,)`` (summed over every non-batch dimension the Lagrangian
does not normalise over); ``activation(x)`` is the closed-form gradient ``∇_x L``;
``energy(x)`` is the Legendre term ``⟨x, g⟩ − L`` (Krotov & Hopfield 2021, "Large
Associative Memory Problem in Neurobiology and Machine Learning"; tutorial ch. HAMUX).

Elementwise Lagrangians (``L = Σ_i ℓ(x_i)``): :class:`Identity`,
:class:`RectifiedPower`, :class:`Exp`, :class:`RExp`, :class:`Tanh`,
:class:`Sigmoid`. Lagrangians that couple a dimension: :class:`LogSumExp`
(:class:`Softmax`), :class:`Ghostmax`, :class:`EnergyLayerNorm` (Hoover et al.
2023, "Energy Transformer"), :class:`SphericalNorm`.

Parameters. Classes with an inverse temperature take ``beta`` and
``learnable_beta``; a learnable β is stored as ``log_beta`` (an ``nn.Parameter``)
so it stays positive, and :attr:`beta` always returns a tensor. The norms take
``gamma`` (scalar) and ``delta`` (bias vector, zeros at init), learnable by default.

Numerical range (float32). ``L`` and the energy are finite for ``|x| ≤ 1e4`` for
every class except :class:`Exp` and :class:`RExp` (finite for
``β·x ≤ EXP_SAFE_BETA_X = 60`` and any ``x ≥ −1e4``) and :class:`RectifiedPower` of
high degree (finite while ``x^degree < 3e38``, i.e. ``|x| ≤ 1e4`` for degree ≤ 9).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hopfield._validation import check_bool, check_positive
from hopfield.core.lagrangian_base import Lagrangian, sum_non_batch

__all__ = [
    "EXP_SAFE_BETA_X",
    "EnergyLayerNorm",
    "Exp",
    "Ghostmax",
    "Identity",
    "LogSumExp",
    "RExp",
    "RectifiedPower",
    "Sigmoid",
    "Softmax",
    "SphericalNorm",
    "Tanh",
]

#: Largest ``β·x`` for which :class:`Exp` / :class:`RExp` L and energies stay finite in
#: float32 for ``|x| ≤ 1e4`` and up to 1e6 neurons per sample (``e⁶⁰·1e4·1e6 ≈ 1e36``);
#: ``exp(βx)`` alone overflows at ``βx > 88``.
EXP_SAFE_BETA_X = 60.0

_LOG2 = math.log(2.0)


def _check_x(x: object, name: str = "x") -> torch.Tensor:
    """Cheap boundary check (no device sync): a floating tensor of rank ≥ 2."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have shape (B, *shape) with at least 2 dims, got shape {tuple(x.shape)}"
        )
    return x



def _check_dim(dim: object) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if dim == 0:
        raise ValueError("dim must not be 0: dim 0 is the batch dimension of x (B, *shape)")
    return dim


def _resolve_dim(dim: int, x: torch.Tensor) -> int:
    """Map ``dim`` onto ``x``; reject the batch dim or an out-of-range one."""
    resolved = dim + x.ndim if dim < 0 else dim
    if not 1 <= resolved < x.ndim:
        raise ValueError(
            f"dim={dim} must point at a non-batch dimension of x with shape "
            f"{tuple(x.shape)} (valid: 1..{x.ndim - 1} or -{x.ndim - 1}..-1)"
        )
    return resolved


class _BetaLagrangian(Lagrangian):
    """A Lagrangian with an inverse temperature β > 0 (fixed buffer or learnable log β)."""

    _beta: torch.Tensor
    log_beta: torch.Tensor

    def __init__(self, beta: float = 1.0, learnable_beta: bool = False) -> None:
        super().__init__()
        beta = check_positive(beta, "beta")
        self.learnable_beta = check_bool(learnable_beta, "learnable_beta")
        if self.learnable_beta:
            self.log_beta = nn.Parameter(torch.tensor(math.log(beta)))
        else:
            self.register_buffer("_beta", torch.tensor(beta))

    @property
    def beta(self) -> torch.Tensor:
        """Inverse temperature β as a 0-dim tensor (``exp(log_beta)`` when learnable)."""
        return self.log_beta.exp() if self.learnable_beta else self._beta

    def extra_repr(self) -> str:
        return f"beta={float(self.beta.detach()):.4g}, learnable_beta={self.learnable_beta}"


class Identity(Lagrangian):
    """``L = ½ Σ x²``, ``g = x``, energy ``½ Σ x²`` (linear neurons; classical Hopfield).

    :meth:`activation` returns ``x`` itself (no copy): do not update ``x`` in place
    while still holding ``g``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * sum_non_batch(_check_x(x).square())

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return _check_x(x)


class RectifiedPower(Lagrangian):
    """``L = (1/n) Σ ReLU(x)ⁿ``, ``g = ReLU(x)ⁿ⁻¹``; ``n = 2`` gives ReLU neurons.

    Energy ``(1 − 1/n) Σ gⁿ/⁽ⁿ⁻¹⁾``. The rectified-polynomial neurons of Krotov &
    Hopfield (2016, 2021). ``degree``
    ``n`` is a real number ≥ 2 (so the Hessian ``(n−1) ReLU(x)ⁿ⁻²`` is bounded at 0).
    In float32, ``L`` is finite while ``xⁿ < 3e38`` (``|x| ≤ 1e4`` for ``n ≤ 9``).
    """

    def __init__(self, degree: float = 2) -> None:
        super().__init__()
        if isinstance(degree, bool) or not isinstance(degree, int | float):
            raise TypeError(f"degree must be a real number, got {type(degree).__name__}")
        if not (math.isfinite(degree) and degree >= 2):
            raise ValueError(f"degree must be finite and ≥ 2, got {degree}")
        self.degree = degree

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum_non_batch(torch.relu(_check_x(x)).pow(self.degree)) / self.degree

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.relu(_check_x(x))
        return r if self.degree == 2 else r.pow(self.degree - 1)

    def extra_repr(self) -> str:
        return f"degree={self.degree}"


class Exp(_BetaLagrangian):
    """``L = (1/β) Σ exp(βx)``, ``g = exp(βx)``, energy ``Σ exp(βx)(x − 1/β)``.

    Exponential neurons (the Lagrangian dual of the exponential separation of
    Demircigil et al. 2017). Overflow is unavoidable: in float32 ``exp(βx)``
    overflows for ``βx > 88``; ``L`` and the energy are finite for
    ``βx ≤ EXP_SAFE_BETA_X`` (60) and every ``x ≥ −1e4``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        return sum_non_batch(torch.exp(beta * _check_x(x))) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.beta * _check_x(x))


class RExp(_BetaLagrangian):
    """Rectified exponential: ``g = exp(β ReLU(x)) − 1``, ``L = Σ (exp(βr) − βr − 1)/β``.

    With ``r = ReLU(x)``: ``g`` is 0 for ``x ≤ 0`` and grows exponentially for
    ``x > 0``; ``L`` is convex (``L'' = β exp(βx)·[x > 0] ≥ 0``) and ``C¹`` at 0,
    and ``L(0) = g(0) = 0``. This form is our choice (a rectified, zero-at-rest
    variant of :class:`Exp`). Energy ``Σ ((1 + g) log(1 + g) − g)/β``. Same float32
    range as :class:`Exp`: finite for ``βx ≤ EXP_SAFE_BETA_X`` (60), every ``x ≥ −1e4``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        z = beta * torch.relu(_check_x(x))
        return sum_non_batch(torch.expm1(z) - z) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.expm1(self.beta * torch.relu(_check_x(x)))


class Tanh(_BetaLagrangian):
    """``L = (1/β) Σ log cosh(βx)``, ``g = tanh(βx)``.

    Energy ``Σ (g·atanh g + ½ log(1 − g²))/β``. ``log cosh z`` is computed as
    ``logaddexp(z, −z) − log 2``, finite for every finite ``z`` (graded-response
    neurons of Hopfield 1984 with a tanh response).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        z = beta * _check_x(x)
        return sum_non_batch(torch.logaddexp(z, -z) - _LOG2) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.beta * _check_x(x))


class Sigmoid(_BetaLagrangian):
    """``L = (1/β) Σ softplus(βx)``, ``g = sigmoid(βx)``.

    Energy ``Σ (g log g + (1 − g) log(1 − g))/β`` (binary negative entropy).
    ``softplus z`` is computed as ``logaddexp(z, 0)`` (exact, no threshold switch),
    finite for every finite ``z`` (Hopfield 1984 graded-response neurons).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        z = beta * _check_x(x)
        return sum_non_batch(torch.logaddexp(z, torch.zeros_like(z))) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.beta * _check_x(x))


class LogSumExp(_BetaLagrangian):
    """``L = (1/β) Σ_{other dims} logsumexp(βx, dim)``, ``g = softmax(βx, dim)``.

    The softmax neurons of Modern Hopfield networks (Ramsauer et al. 2021, "Hopfield
    Networks is All You Need"; Krotov & Hopfield 2021, model B). ``dim`` indexes the
    full tensor ``(B, *shape)`` and must not be the batch dimension; one scalar
    per batch element is returned. Energy ``⟨x, g⟩ − L = (1/β) Σ g log g`` (negative
    entropy of the softmax), finite for any finite x.
    """

    def __init__(self, beta: float = 1.0, dim: int = -1, learnable_beta: bool = False) -> None:
        super().__init__(beta, learnable_beta)
        self.dim = _check_dim(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = _resolve_dim(self.dim, _check_x(x))
        beta = self.beta
        return sum_non_batch(torch.logsumexp(beta * x, dim=dim)) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        dim = _resolve_dim(self.dim, _check_x(x))
        return torch.softmax(self.beta * x, dim=dim)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dim={self.dim}"


class Softmax(LogSumExp):
    """Alias of :class:`LogSumExp` named after its activation ``g = softmax(βx, dim)``."""


class Ghostmax(_BetaLagrangian):
    """Softmax with an implicit extra zero logit ("ghost" / quiet softmax).

    ``L = (1/β) Σ_{other dims} log(1 + Σ_dim exp(βx))``,
    ``g = exp(βx) / (1 + Σ_dim exp(βx))`` (so ``Σ_dim g < 1``: a row may attend to
    nothing). Energy ``(1/β)(Σ g log g + g₀ log g₀)`` with the ghost ``g₀ = 1 − Σ_dim g``.
    Computed as a logsumexp over ``βx`` padded with one zero along ``dim``, finite for
    any finite x. ``dim`` must not be the batch dimension (Miller 2023, "Attention Is
    Off By One").
    """

    def __init__(self, beta: float = 1.0, dim: int = -1, learnable_beta: bool = False) -> None:
        super().__init__(beta, learnable_beta)
        self.dim = _check_dim(dim)

    def _padded_lse(self, z: torch.Tensor, dim: int) -> torch.Tensor:
        """``log(1 + Σ_dim exp z)`` with ``dim`` kept (size 1)."""
        pad_shape = list(z.shape)
        pad_shape[dim] = 1
        padded = torch.cat([z, z.new_zeros(pad_shape)], dim=dim)
        return torch.logsumexp(padded, dim=dim, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = _resolve_dim(self.dim, _check_x(x))
        beta = self.beta
        return sum_non_batch(self._padded_lse(beta * x, dim)) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        dim = _resolve_dim(self.dim, _check_x(x))
        z = self.beta * x
        return torch.exp(z - self._padded_lse(z, dim))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dim={self.dim}"


class _RowNorm(Lagrangian):
    """Shared parts of the norms: ``num_features``, scalar γ, bias vector δ, ε."""

    gamma: torch.Tensor
    delta: torch.Tensor | None

    def __init__(
        self,
        num_features: int,
        gamma: float = 1.0,
        eps: float = 1e-5,
        bias: bool = True,
        learnable: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int):
            raise TypeError(f"num_features must be an int, got {type(num_features).__name__}")
        if num_features < 1:
            raise ValueError(f"num_features must be ≥ 1, got {num_features}")
        self.num_features = num_features
        self.eps = check_positive(eps, "eps")
        gamma = check_positive(gamma, "gamma")
        self.learnable = check_bool(learnable, "learnable")
        self.bias = check_bool(bias, "bias")
        gamma_t = torch.tensor(gamma)
        delta_t = torch.zeros(num_features) if self.bias else None
        if self.learnable:
            self.gamma = nn.Parameter(gamma_t)
            self.delta = nn.Parameter(delta_t) if delta_t is not None else None
        else:
            self.register_buffer("gamma", gamma_t)
            self.register_buffer("delta", delta_t)

    def _check_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x)
        if x.shape[-1] != self.num_features:
            raise ValueError(
                f"x must have shape (B, ..., {self.num_features}) (last dim = num_features), "
                f"got shape {tuple(x.shape)}"
            )
        return x

    def _bias_lagrangian(self, x: torch.Tensor) -> torch.Tensor | float:
        """``Σ δ·x`` over every row (the bias is counted once per row/token)."""
        return 0.0 if self.delta is None else sum_non_batch(x * self.delta)

    def _add_bias(self, g: torch.Tensor) -> torch.Tensor:
        return g if self.delta is None else g + self.delta

    def extra_repr(self) -> str:
        gamma = float(self.gamma.detach())
        return (
            f"num_features={self.num_features}, gamma={gamma:.4g}, eps={self.eps}, "
            f"bias={self.bias}, learnable={self.learnable}"
        )


class EnergyLayerNorm(_RowNorm):
    """The Energy Transformer's LayerNorm as a Lagrangian (Hoover et al. 2023).

    Over the last dim of size ``D``, for each row (token) ``x``:
    ``L = D·γ·sqrt(mean((x − x̄)²) + ε) + Σ δ·x`` and
    ``g = γ (x − x̄) / sqrt(var + ε) + δ`` (the usual LayerNorm with a scalar γ).
    ``L`` is summed over every other non-batch dim, the bias term included per row.
    Energy ``⟨x, g⟩ − L = −D γ ε / sqrt(var + ε)`` per row. Convex for γ > 0.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_features(x)
        var = (x - x.mean(dim=-1, keepdim=True)).square().mean(dim=-1)
        rows = self.num_features * self.gamma * torch.sqrt(var + self.eps)
        return sum_non_batch(rows.reshape(x.shape[0], -1)) + self._bias_lagrangian(x)

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_features(x)
        centred = x - x.mean(dim=-1, keepdim=True)
        inv_std = torch.rsqrt(centred.square().mean(dim=-1, keepdim=True) + self.eps)
        return self._add_bias(self.gamma * centred * inv_std)


class SphericalNorm(_RowNorm):
    """Spherical normalisation: ``L = γ sqrt(Σ x² + ε) + Σ δ·x`` over the last dim.

    ``g = γ x / sqrt(‖x‖² + ε) + δ`` projects each row onto the sphere of radius γ
    (the normalising Lagrangian of Krotov & Hopfield 2021). Summed over every other
    non-batch dim; energy ``−γ ε / sqrt(‖x‖² + ε)`` per row. Convex for γ > 0.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_features(x)
        rows = self.gamma * torch.sqrt(x.square().sum(dim=-1) + self.eps)
        return sum_non_batch(rows.reshape(x.shape[0], -1)) + self._bias_lagrangian(x)

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_features(x)
        inv_norm = torch.rsqrt(x.square().sum(dim=-1, keepdim=True) + self.eps)
        return self._add_bias(self.gamma * x * inv_norm)
