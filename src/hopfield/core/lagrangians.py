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
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from hopfield._validation import check_bool, check_positive
from hopfield.core.lagrangian_base import Lagrangian, check_lagrangian_input, sum_non_batch
from hopfield.core.norm_lagrangians import EnergyLayerNorm, SphericalNorm

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

#: Power-series coefficients (of z², z³, …, z²⁰) of ``expm1(z) − z`` and of
#: ``exp(z)(z − 1) + 1``; below ``z = 1`` the series is exact to float64 rounding.
_EXP_TAIL = tuple(1 / math.factorial(n) for n in range(2, 21))
_REXP_ENERGY_TAIL = tuple((n - 1) / math.factorial(n) for n in range(2, 21))


def _exp_tail(
    z: torch.Tensor,
    coefficients: tuple[float, ...],
    closed_form: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``Σ_n c_n zⁿ`` (n ≥ 2) for ``0 ≤ z < 1``, ``closed_form(z)`` above.

    Both functions here start at order z², so their closed forms cancel for small
    ``z``; the series does not. Each branch sees only its own inputs (the other
    branch's are replaced by a harmless constant), so gradients stay finite.
    """
    small = z < 1
    z_small = torch.where(small, z, torch.zeros_like(z))
    series = torch.zeros_like(z)
    for c in reversed(coefficients):
        series = series * z_small + c
    series = series * z_small.square()
    return torch.where(small, series, closed_form(torch.where(small, torch.ones_like(z), z)))


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


def _softmax_negentropy(x: torch.Tensor, beta: torch.Tensor, dim: int) -> torch.Tensor:
    """``Σ_dim g log g`` for ``g = softmax(βx, dim)``, accurate for saturated rows.

    With ``s = β(x − max x)`` (exactly 0 at the first maximum; the difference is
    exact for nearby entries, so only the gaps are rounded, not ``βx``) and
    ``r = Σ exp(s)`` over every other entry, ``Σ g log g = Σ g s − log(1 + r)``: two
    non-positive terms. ``⟨βx, g⟩ − logsumexp(βx)`` or ``Σ g log_softmax(βx)``
    instead lose an ulp of ``βx`` (1e-4 at ``βx ~ 1e3`` in float32) where the true
    value may be 1e-10.
    """
    first = x.argmax(dim=dim, keepdim=True)
    shifted = beta * (x - x.gather(dim, first))  # identically 0 at ``first``, also for autograd
    weights = torch.exp(shifted)
    rest = weights.scatter(dim, first, 0.0).sum(dim=dim, keepdim=True)
    g = weights / (1 + rest)
    return (g * shifted).sum(dim=dim) - torch.log1p(rest).squeeze(dim)


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
        return 0.5 * sum_non_batch(check_lagrangian_input(x).square())

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return check_lagrangian_input(x)

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``½ Σ x²`` (equal to ``L``)."""
        return self(x)


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
        return sum_non_batch(torch.relu(check_lagrangian_input(x)).pow(self.degree)) / self.degree

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.relu(check_lagrangian_input(x))
        return r if self.degree == 2 else r.pow(self.degree - 1)

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``(1 − 1/n) Σ ReLU(x)ⁿ`` (a sum of non-negative terms, no cancellation)."""
        return (self.degree - 1) * self(x)

    def extra_repr(self) -> str:
        return f"degree={self.degree}"


class Exp(_BetaLagrangian):
    """``L = (1/β) Σ exp(βx)``, ``g = exp(βx)``, energy ``Σ exp(βx)(x − 1/β)``.

    Exponential neurons (the Lagrangian dual of the exponential separation of
    Demircigil et al. 2017). Overflow is unavoidable: in float32 ``exp(βx)``
    overflows for ``βx > 88``; ``L`` and the energy are finite for
    ``βx ≤ EXP_SAFE_BETA_X`` (60) and every ``x ≥ −1e4``. Beyond that, ``g``, ``L``
    and the energy are ``+inf``, never NaN (the energy is evaluated in the closed
    form ``exp(βx)(βx − 1)/β``, not as ``⟨x, g⟩ − L = inf − inf``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        return sum_non_batch(torch.exp(beta * check_lagrangian_input(x))) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.beta * check_lagrangian_input(x))

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ exp(βx)(βx − 1)/β``: ``+inf`` (never NaN) where ``exp(βx)`` overflows."""
        beta = self.beta
        z = beta * check_lagrangian_input(x)
        return sum_non_batch(torch.exp(z) * (z - 1)) / beta


class RExp(_BetaLagrangian):
    """Rectified exponential: ``g = exp(β ReLU(x)) − 1``, ``L = Σ (exp(βr) − βr − 1)/β``.

    With ``r = ReLU(x)``: ``g`` is 0 for ``x ≤ 0`` and grows exponentially for
    ``x > 0``; ``L`` is convex (``L'' = β exp(βx)·[x > 0] ≥ 0``) and ``C¹`` at 0,
    and ``L(0) = g(0) = 0``. This form is our choice (a rectified, zero-at-rest
    variant of :class:`Exp`). Energy ``Σ ((1 + g) log(1 + g) − g)/β``, evaluated as
    ``(exp(z)(z − 1) + 1)/β`` (``z = βr``; a power series below ``z = 1``, where both
    forms cancel). Same float32 range as :class:`Exp`: finite for
    ``βx ≤ EXP_SAFE_BETA_X`` (60), every ``x ≥ −1e4``; ``+inf`` beyond, never NaN.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        z = beta * torch.relu(check_lagrangian_input(x))
        return sum_non_batch(_exp_tail(z, _EXP_TAIL, lambda z: torch.expm1(z) - z)) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.expm1(self.beta * torch.relu(check_lagrangian_input(x)))

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ (exp(z)(z − 1) + 1)/β`` with ``z = β ReLU(x)``; ``+inf`` where it overflows."""
        beta = self.beta
        z = beta * torch.relu(check_lagrangian_input(x))
        terms = _exp_tail(z, _REXP_ENERGY_TAIL, lambda z: torch.exp(z) * (z - 1) + 1)
        return sum_non_batch(terms) / beta


class Tanh(_BetaLagrangian):
    """``L = (1/β) Σ log cosh(βx)``, ``g = tanh(βx)``.

    Energy ``Σ (g·atanh g + ½ log(1 − g²))/β``, tending to ``log 2/β`` per neuron for
    large ``|x|`` (evaluated in closed form: ``⟨x, g⟩ − L`` would cancel there).
    ``log cosh z`` is computed as ``logaddexp(z, −z) − log 2``, finite for every
    finite ``z`` (graded-response neurons of Hopfield 1984 with a tanh response).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        z = beta * check_lagrangian_input(x)
        return sum_non_batch(torch.logaddexp(z, -z) - _LOG2) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.beta * check_lagrangian_input(x))

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ (z tanh z − log cosh z)/β`` (``z = βx``) without cancellation at large ``|z|``.

        Below ``|z| = 1``: ``z t + ½ log(1 − t²)`` with ``t = tanh z``; above, with
        ``u = exp(−2|z|)``: ``log 2 − log(1 + u) − 2|z| u/(1 + u)`` (→ ``log 2``).
        """
        beta = self.beta
        z = beta * check_lagrangian_input(x)
        a = z.abs()
        small = a < 1
        z_small = torch.where(small, z, torch.zeros_like(z))
        t = torch.tanh(z_small)
        near = z_small * t + 0.5 * torch.log1p(-t.square())
        a_large = torch.where(small, torch.ones_like(a), a)
        u = torch.exp(-2 * a_large)
        far = _LOG2 - torch.log1p(u) - 2 * a_large * u / (1 + u)
        return sum_non_batch(torch.where(small, near, far)) / beta


class Sigmoid(_BetaLagrangian):
    """``L = (1/β) Σ softplus(βx)``, ``g = sigmoid(βx)``.

    Energy ``Σ (g log g + (1 − g) log(1 − g))/β`` (binary negative entropy, evaluated
    in that form: ``⟨x, g⟩ − L`` cancels for large ``x``).
    ``softplus z`` is computed as ``logaddexp(z, 0)`` (exact, no threshold switch),
    finite for every finite ``z`` (Hopfield 1984 graded-response neurons).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        z = beta * check_lagrangian_input(x)
        return sum_non_batch(torch.logaddexp(z, torch.zeros_like(z))) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.beta * check_lagrangian_input(x))

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ (σ(z) log σ(z) + σ(−z) log σ(−z))/β``, ``z = βx`` (two non-positive terms)."""
        beta = self.beta
        z = beta * check_lagrangian_input(x)
        terms = torch.sigmoid(z) * F.logsigmoid(z) + torch.sigmoid(-z) * F.logsigmoid(-z)
        return sum_non_batch(terms) / beta


class LogSumExp(_BetaLagrangian):
    """``L = (1/β) Σ_{other dims} logsumexp(βx, dim)``, ``g = softmax(βx, dim)``.

    The softmax neurons of Modern Hopfield networks (Ramsauer et al. 2021, "Hopfield
    Networks is All You Need"; Krotov & Hopfield 2021, model B). ``dim`` indexes the
    full tensor ``(B, *shape)`` and must not be the batch dimension; one scalar
    per batch element is returned. Energy ``⟨x, g⟩ − L = (1/β) Σ g log g`` (negative
    entropy of the softmax), evaluated in that form (the difference cancels for
    large ``x``), finite for any finite x.
    """

    def __init__(self, beta: float = 1.0, dim: int = -1, learnable_beta: bool = False) -> None:
        super().__init__(beta, learnable_beta)
        self.dim = _check_dim(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = _resolve_dim(self.dim, check_lagrangian_input(x))
        beta = self.beta
        return sum_non_batch(torch.logsumexp(beta * x, dim=dim)) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        dim = _resolve_dim(self.dim, check_lagrangian_input(x))
        return torch.softmax(self.beta * x, dim=dim)

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``(1/β) Σ g log g`` (:func:`_softmax_negentropy`, no cancellation at large x)."""
        dim = _resolve_dim(self.dim, check_lagrangian_input(x))
        beta = self.beta
        return sum_non_batch(_softmax_negentropy(x, beta, dim)) / beta

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
        dim = _resolve_dim(self.dim, check_lagrangian_input(x))
        beta = self.beta
        return sum_non_batch(self._padded_lse(beta * x, dim)) / beta

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        dim = _resolve_dim(self.dim, check_lagrangian_input(x))
        z = self.beta * x
        return torch.exp(z - self._padded_lse(z, dim))

    def closed_energy(self, x: torch.Tensor) -> torch.Tensor:
        """``(1/β)(Σ g log g + g₀ log g₀)`` in closed form (no cancellation at large x)."""
        dim = _resolve_dim(self.dim, check_lagrangian_input(x))
        beta = self.beta
        pad_shape = list(x.shape)
        pad_shape[dim] = 1
        padded = torch.cat([x, x.new_zeros(pad_shape)], dim=dim)
        return sum_non_batch(_softmax_negentropy(padded, beta, dim)) / beta

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dim={self.dim}"
