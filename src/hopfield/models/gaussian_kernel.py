"""The exact Gaussian kernel and Euclidean log-sum-exp energy that random features estimate.

``k(x, ξ) = exp(−(β/2)‖x − ξ‖²)``; ``E(x) = −(1/β) log Σ_μ k(x, ξ_μ)`` (Ramsauer et al.
2021 with the Euclidean similarity; Hoover et al. 2024, DrDAM). Dense, ``O(B·K·D)``
per call, streamed over chunks of patterns by :mod:`hopfield.ops.streaming`; the
reference that :class:`~hopfield.models.random_features.RandomFeatureMemory` is
measured against.
"""

from __future__ import annotations

import torch

from hopfield._validation import check_floating, check_positive, check_rank
from hopfield.ops.streaming import finalize_partials, lse_partials, lse_retrieve

__all__ = ["exact_energy", "exact_energy_grad", "exact_kernel_sum", "gaussian_kernel"]


def _check_pair(states: object, patterns: object) -> tuple[torch.Tensor, torch.Tensor]:
    states = check_floating(states, "states")
    patterns = check_floating(patterns, "patterns")
    check_rank(states, "states", 2, "(B, D)")
    check_rank(patterns, "patterns", 2, "(K, D)")
    if states.shape[1] != patterns.shape[1]:
        raise ValueError(
            f"states (B, D) and patterns (K, D) must share D, got shapes "
            f"{tuple(states.shape)} and {tuple(patterns.shape)}"
        )
    if patterns.shape[0] < 1:
        raise ValueError("patterns must hold at least one pattern (K ≥ 1), got K = 0")
    return states, patterns.to(states.dtype)


def _squared_distances(states: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """``‖x_b − ξ_μ‖²``, shape ``(B, K)``, clamped at 0 against round-off."""
    cross = states @ patterns.T
    sq = (states * states).sum(1, keepdim=True) + (patterns * patterns).sum(1) - 2 * cross
    return sq.clamp_min(0.0)


def gaussian_kernel(states: torch.Tensor, patterns: torch.Tensor, *, beta: float) -> torch.Tensor:
    """Exact kernel matrix ``k(x_b, ξ_μ) = exp(−(β/2)‖x_b − ξ_μ‖²)``, shape ``(B, K)``."""
    beta = check_positive(beta, "beta")
    states, patterns = _check_pair(states, patterns)
    return torch.exp(-0.5 * beta * _squared_distances(states, patterns))


def exact_kernel_sum(states: torch.Tensor, patterns: torch.Tensor, *, beta: float) -> torch.Tensor:
    """``S(x) = Σ_μ exp(−(β/2)‖x − ξ_μ‖²)``, shape ``(B,)``: what ⟨Φ(x), T⟩ estimates."""
    return torch.exp(-beta * exact_energy(states, patterns, beta=beta))


def exact_energy(states: torch.Tensor, patterns: torch.Tensor, *, beta: float) -> torch.Tensor:
    """Exact Euclidean log-sum-exp energy, shape ``(B,)``.

    ``E(x) = −(1/β) log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)`` (Ramsauer et al. 2021 with the
    Euclidean similarity; Hoover et al. 2024, DrDAM): the dense counterpart of
    :class:`RandomFeatureMemory`, cost O(B·K·D). Streamed over chunks of patterns by
    :func:`hopfield.ops.streaming.lse_partials` (stable for any β, memory O(B·C)).

    Args:
        states: ``(B, D)`` queries.
        patterns: ``(K, D)`` stored patterns, K ≥ 1.
        beta: inverse temperature β > 0.
    """
    beta = check_positive(beta, "beta")
    states, patterns = _check_pair(states, patterns)
    partials = lse_partials(states, patterns, None, beta, similarity="euclidean")
    return -finalize_partials(partials)[1] / beta


def exact_energy_grad(states: torch.Tensor, patterns: torch.Tensor, *, beta: float) -> torch.Tensor:
    """Closed-form ``∇E = x − Σ_μ p_μ ξ_μ`` with ``p = softmax_μ(−(β/2)‖x − ξ_μ‖²)``, ``(B, D)``.

    A gradient step of size 1, ``x ← Σ_μ p_μ ξ_μ``, is the modern Hopfield (CCCP) update
    of Ramsauer et al. (2021) for the Euclidean similarity. Streamed like
    :func:`exact_energy` (:func:`hopfield.ops.streaming.lse_retrieve`).
    """
    beta = check_positive(beta, "beta")
    states, patterns = _check_pair(states, patterns)
    retrieved, _ = lse_retrieve(states, patterns, None, beta, similarity="euclidean")
    return states - retrieved
