"""Temporal-complexity analysis of a network's activity signal.

The tools of the SEDAM papers (Cafiso, Paradisi et al. 2025/2026, "Temporal Complexity
and Self-Organization in an Exponential Dense Associative Memory Model",
arXiv 2601.11478, and arXiv 2509.17152) and of Temporal-Complexity analysis in general:

* **rapid transition events** (RTEs) — :func:`detect_events` marks the times where the
  signal jumps: ``|x_{t+1} − x_t| > threshold``, the threshold being a percentile of
  the absolute increments; a run of consecutive large increments is one event;
* **inter-event times** τ_k = t_{k+1} − t_k (:func:`inter_event_times`) and maximum-
  likelihood fits of their distribution, a power law ψ(τ) ∝ τ^{−μ} for τ ≥ τ_min
  (:func:`fit_power_law`) or a shifted exponential ψ(τ) = λ e^{−λ(τ − τ_min)}
  (:func:`fit_exponential`), each with the Kolmogorov–Smirnov distance and the
  log-likelihood so the two can be compared (Clauset, Shalizi & Newman 2009);
* **detrended fluctuation analysis** (:func:`dfa`; Peng et al. 1994): profile
  ``Y_t = Σ_{u≤t} (x_u − x̄)``, split into windows of length s, subtract a least-squares
  polynomial per window, ``F(s) = √(mean squared residual)``; F(s) ∝ s^α. The DFA
  exponent α is 0.5 for white noise and 1.5 for Brownian motion (the integrated white
  noise); for fractional Gaussian noise α equals its Hurst exponent H, for fractional
  Brownian motion α = H + 1. The SEDAM papers call α the diffusion scaling "H"
  (H ≈ 1.5 at criticality for Rademacher patterns), which is the convention here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from hopfield._validation import check_rank, check_tensor

__all__ = [
    "DFAResult",
    "ExponentialFit",
    "PowerLawFit",
    "detect_events",
    "dfa",
    "fit_exponential",
    "fit_power_law",
    "inter_event_times",
]

F64 = torch.float64


def _as_signal(signal: object, name: str, ranks: tuple[int, ...] = (1,)) -> torch.Tensor:
    tensor = check_tensor(signal, name)
    shape = "(T,)" if ranks == (1,) else "(T,) or (B, T)"
    check_rank(tensor, name, ranks, shape)
    tensor = tensor.detach().to("cpu", F64)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    return tensor


# --- events ----------------------------------------------------------------------------
def detect_events(
    signal: torch.Tensor, *, threshold: float | None = None, percentile: float = 95.0
) -> torch.Tensor:
    """Times of the rapid transition events of a 1-D ``signal`` ``(T,)``.

    An increment ``Δ_t = x_{t+1} − x_t`` is large when ``|Δ_t| > threshold`` (default:
    the ``percentile``-th percentile of ``|Δ|``). Each run of consecutive large
    increments is one event, reported at the time ``t + 1`` reached by its first jump.
    Returns the event times as an increasing int64 tensor (possibly empty).
    """
    x = _as_signal(signal, "signal")
    if x.shape[0] < 2:
        raise ValueError(f"signal must have at least 2 samples, got {x.shape[0]}")
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile}")
    if threshold is not None and (not math.isfinite(threshold) or threshold < 0):
        raise ValueError(f"threshold must be finite and ≥ 0, got {threshold}")
    jumps = (x[1:] - x[:-1]).abs()
    level = float(torch.quantile(jumps, percentile / 100.0)) if threshold is None else threshold
    large = jumps > level
    onset = large & torch.cat([torch.ones(1, dtype=torch.bool), ~large[:-1]])
    return onset.nonzero().squeeze(1) + 1


def inter_event_times(events: torch.Tensor) -> torch.Tensor:
    """Waiting times ``τ_k = t_{k+1} − t_k`` between consecutive events ``(E,)`` → ``(E−1,)``
    (events are sorted first; an empty or single event gives an empty tensor)."""
    times = check_tensor(events, "events")
    check_rank(times, "events", 1, "(E,)")
    return torch.diff(times.sort().values)


# --- inter-event-time fits ---------------------------------------------------------------
class PowerLawFit(NamedTuple):
    """Fit of ψ(τ) = (μ − 1)/τ_min · (τ/τ_min)^{−μ}, τ ≥ τ_min.

    Attributes: ``exponent`` μ, ``stderr`` (μ − 1)/√n, ``x_min`` τ_min (as given; the
    continuity-corrected τ_min − ½ is used for discrete data), ``ks`` Kolmogorov–
    Smirnov distance to the empirical CDF, ``log_likelihood``, ``num_samples`` n (samples ≥ τ_min).
    """

    exponent: float
    stderr: float
    x_min: float
    ks: float
    log_likelihood: float
    num_samples: int


class ExponentialFit(NamedTuple):
    """Fit of ψ(τ) = λ e^{−λ(τ − τ_min)}, τ ≥ τ_min (``rate`` λ, ``stderr`` λ/√n, others
    as in :class:`PowerLawFit`)."""

    rate: float
    stderr: float
    x_min: float
    ks: float
    log_likelihood: float
    num_samples: int


def _tail(
    samples: object, x_min: float | None, discrete: bool
) -> tuple[torch.Tensor, float, float]:
    """Samples ≥ τ_min (sorted), τ_min, and the origin used by the continuous model."""
    values = _as_signal(samples, "samples")
    if bool((values <= 0).any()):
        raise ValueError("samples must be > 0 (waiting times)")
    low = float(values.min()) if x_min is None else float(x_min)
    if not low > 0:
        raise ValueError(f"x_min must be > 0, got {low}")
    tail = values[values >= low].sort().values
    if tail.shape[0] < 2:
        raise ValueError(f"need at least 2 samples ≥ x_min={low}, got {tail.shape[0]}")
    origin = low - 0.5 if discrete and low > 0.5 else low
    return tail, low, origin


def _ks_distance(sorted_tail: torch.Tensor, cdf: torch.Tensor) -> float:
    """sup |F_emp − F| over the sample points (both one-sided gaps)."""
    n = sorted_tail.shape[0]
    above = torch.arange(1, n + 1, dtype=F64) / n
    below = torch.arange(0, n, dtype=F64) / n
    return float(torch.maximum((above - cdf).abs(), (cdf - below).abs()).max())


def fit_power_law(
    samples: torch.Tensor, *, x_min: float | None = None, discrete: bool = False
) -> PowerLawFit:
    """Maximum-likelihood power law for the tail ``τ ≥ x_min`` of ``samples`` ``(n,)``.

    ``μ̂ = 1 + n / Σ ln(τ/τ₀)`` with τ₀ = x_min (or x_min − ½ for ``discrete`` integer
    waiting times, the approximation of Clauset, Shalizi & Newman 2009). ``x_min``
    defaults to the smallest sample.
    """
    tail, low, origin = _tail(samples, x_min, discrete)
    n = tail.shape[0]
    logs = torch.log(tail / origin)
    total = float(logs.sum())
    if total <= 0:
        raise ValueError("samples are all equal to x_min: the power-law exponent is undefined")
    exponent = 1.0 + n / total
    log_likelihood = n * math.log((exponent - 1) / origin) - exponent * total
    cdf = 1 - (tail / origin) ** (1 - exponent)
    return PowerLawFit(
        exponent=exponent,
        stderr=(exponent - 1) / math.sqrt(n),
        x_min=low,
        ks=_ks_distance(tail, cdf),
        log_likelihood=log_likelihood,
        num_samples=n,
    )


def fit_exponential(
    samples: torch.Tensor, *, x_min: float | None = None, discrete: bool = False
) -> ExponentialFit:
    """Maximum-likelihood shifted exponential for ``τ ≥ x_min``: ``λ̂ = 1 / mean(τ − τ₀)``
    (τ₀ as in :func:`fit_power_law`)."""
    tail, low, origin = _tail(samples, x_min, discrete)
    n = tail.shape[0]
    excess = tail - origin
    mean = float(excess.mean())
    if mean <= 0:
        raise ValueError("samples are all equal to x_min: the exponential rate is undefined")
    rate = 1.0 / mean
    log_likelihood = n * math.log(rate) - rate * float(excess.sum())
    cdf = 1 - torch.exp(-rate * excess)
    return ExponentialFit(
        rate=rate,
        stderr=rate / math.sqrt(n),
        x_min=low,
        ks=_ks_distance(tail, cdf),
        log_likelihood=log_likelihood,
        num_samples=n,
    )


# --- detrended fluctuation analysis --------------------------------------------------------
class DFAResult(NamedTuple):
    """Outcome of :func:`dfa`.

    Attributes:
        hurst: the DFA exponent α, the slope of log F(s) against log s: ``()`` for a
            signal ``(T,)``, ``(B,)`` for ``(B, T)``. 0.5 for white noise, 1.5 for
            Brownian motion (the "H" of the SEDAM papers; see the module docstring).
        scales: window lengths s ``(S,)`` (int64).
        fluctuations: F(s), ``(S,)`` or ``(B, S)``.
    """

    hurst: torch.Tensor
    scales: torch.Tensor
    fluctuations: torch.Tensor


def _default_scales(length: int) -> list[int]:
    """About 12 log-spaced window lengths from 8 to T/10 (at least 10 windows each way)."""
    high = length // 10
    if high < 16:
        raise ValueError(f"signal too short for DFA: need T ≥ 160 samples, got {length}")
    grid = torch.logspace(math.log10(8), math.log10(high), 12, dtype=F64)
    return sorted({round(float(s)) for s in grid})


def _fluctuation(profile: torch.Tensor, scale: int, order: int) -> torch.Tensor:
    """F(s) of profiles ``(B, T)``: windows from the start and from the end (2⌊T/s⌋ in
    all), each detrended by a least-squares polynomial of degree ``order``."""
    count = profile.shape[1] // scale
    head = profile[:, : count * scale].reshape(profile.shape[0], count, scale)
    tail = profile[:, -count * scale :].reshape(profile.shape[0], count, scale)
    windows = torch.cat([head, tail], dim=1)  # (B, 2n, s)
    windows = windows - windows.mean(dim=2, keepdim=True)  # the constant term, exactly
    t = torch.linspace(-1.0, 1.0, scale, dtype=F64)
    design = torch.stack([t**k for k in range(order + 1)], dim=1)  # (s, q+1)
    basis, _ = torch.linalg.qr(design)  # orthonormal basis of the polynomials
    # squared residual of the least-squares fit = ‖w‖² − ‖Qᵀw‖² (Pythagoras)
    residual = windows.square().sum(dim=2) - (windows @ basis).square().sum(dim=2)
    return (residual.clamp_min(0).sum(dim=1) / (windows.shape[1] * scale)).sqrt()


def dfa(signal: torch.Tensor, *, scales: Sequence[int] | None = None, order: int = 1) -> DFAResult:
    """Detrended fluctuation analysis (DFA-``order``) of ``signal`` ``(T,)`` or ``(B, T)``.

    Profile ``Y_t = Σ_{u≤t}(x_u − x̄)``; for each window length s in ``scales`` (default
    ~12 log-spaced values in [8, T/10]; each needs 2 ≤ s ≤ T/2 and at least order + 2
    points) the profile is cut into ⌊T/s⌋ windows from the start and ⌊T/s⌋ from the end,
    a polynomial of degree ``order`` is fitted to each by least squares and
    ``F(s) = √(mean squared residual)``. Returns the slope α of log F against log s
    (ordinary least squares over the scales) as :class:`DFAResult`; the exponent is NaN
    for a signal whose F(s) vanishes at some scale (e.g. a constant signal: nothing
    fluctuates, there is no scaling law).
    """
    x = _as_signal(signal, "signal", (1, 2))
    batched = x.ndim == 2
    x = x if batched else x.unsqueeze(0)
    length = x.shape[1]
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ValueError(f"order must be an int ≥ 0, got {order!r}")
    chosen = _default_scales(length) if scales is None else [int(s) for s in scales]
    if len(chosen) < 2:
        raise ValueError(f"scales must contain at least 2 window lengths, got {chosen}")
    if any(s < order + 2 or s > length // 2 for s in chosen):
        raise ValueError(
            f"every scale must lie in [{order + 2}, T/2={length // 2}] for T={length}, got {chosen}"
        )
    profile = torch.cumsum(x - x.mean(dim=1, keepdim=True), dim=1)
    fluctuations = torch.stack([_fluctuation(profile, s, order) for s in chosen], dim=1)
    scale_tensor = torch.tensor(chosen, dtype=torch.int64)
    log_s = torch.log(scale_tensor.to(F64))
    log_f = torch.log(fluctuations.clamp_min(torch.finfo(F64).tiny))
    centred = log_s - log_s.mean()
    slope = ((log_f - log_f.mean(dim=1, keepdim=True)) @ centred) / centred.square().sum()
    # F(s) = 0 at some scale (e.g. a constant signal): no power law, no exponent
    slope = torch.where((fluctuations > 0).all(dim=1), slope, torch.nan)
    if not batched:
        return DFAResult(slope[0], scale_tensor, fluctuations[0])
    return DFAResult(slope, scale_tensor, fluctuations)
