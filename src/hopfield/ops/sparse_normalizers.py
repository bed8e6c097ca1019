"""Sparse probability normalisers: sparsemax and 1.5-entmax (exact, sort-based).

Both map scores ``z ∈ R^n`` to the probability simplex Δⁿ and, unlike softmax, give
exact zeros to low scores. They are the gradients of regularised max operators,

    α-entmax(z) = argmax_{p ∈ Δⁿ} ⟨p, z⟩ + H_α(p),   H_α(p) = (1 − Σ_i p_i^α) / (α(α − 1)),

(Peters, Niculae & Martins 2019, "Sparse Sequence-to-Sequence Models"): α → 1 is
softmax (Shannon entropy), α = 2 is **sparsemax**, the Euclidean projection onto the
simplex (Martins & Astudillo 2016, "From Softmax to Sparsemax"), and α = 1.5 is
**entmax-1.5**. Closed forms with a threshold τ(z):

* sparsemax: ``p_i = [z_i − τ]₊`` with ``Σ_i p_i = 1``;
* entmax-1.5: ``p_i = [z_i/2 − τ]₊²`` with ``Σ_i p_i = 1``.

τ is found exactly by sorting z in decreasing order and testing each support size k
(the support is the k largest scores). Both are batched over every dimension except
``dim``. Gradients use the closed-form Jacobians

    sparsemax:  ∂p/∂z = diag(s) − s sᵀ / Σ s,  s = 1[p > 0],
    entmax-1.5: ∂p/∂z = diag(s) − s sᵀ / Σ s,  s = √p,

(Peters et al. 2019, Prop. 2 with s = p^{2−α}), so the backward pass is O(n).
:func:`tsallis_entropy` gives H_α, used for the energies of sparse Hopfield models
(``max_Ω(z) = ⟨p, z⟩ + H_α(p)`` at ``p = α-entmax(z)``).
"""

from __future__ import annotations

from typing import Any

import torch

from hopfield._validation import check_floating

__all__ = ["entmax15", "sparsemax", "tsallis_entropy"]


def _to_last(z: torch.Tensor, dim: int) -> tuple[torch.Tensor, int]:
    if not -z.ndim <= dim < z.ndim:
        raise ValueError(f"dim must lie in [{-z.ndim}, {z.ndim - 1}], got {dim}")
    return z.movedim(dim, -1), dim


def _support_sizes(count: int, like: torch.Tensor) -> torch.Tensor:
    return torch.arange(1, count + 1, dtype=like.dtype, device=like.device)


def _sparsemax_forward(z: torch.Tensor) -> torch.Tensor:
    """Sparsemax along the last dim: ``τ = (Σ_{j≤k*} z_(j) − 1)/k*`` with
    ``k* = max{k : 1 + k z_(k) > Σ_{j≤k} z_(j)}`` (z_(j) sorted decreasingly)."""
    z = z - z.amax(dim=-1, keepdim=True)  # shift invariance; keeps cumsums small
    ordered, _ = torch.sort(z, dim=-1, descending=True)
    cumulative = ordered.cumsum(dim=-1)
    k = _support_sizes(z.shape[-1], z)
    in_support = 1 + k * ordered > cumulative
    # ≥ 1 for finite rows (k = 1 always qualifies); a row with NaN or no finite score
    # has no support: clamp so that the gather stays in range and the row comes out NaN
    size = in_support.sum(dim=-1, keepdim=True).clamp_min(1)
    tau = (cumulative.gather(-1, size - 1) - 1) / size.to(z.dtype)
    return (z - tau).clamp_min(0)


def _entmax15_forward(z: torch.Tensor) -> torch.Tensor:
    """Entmax-1.5 along the last dim (Peters et al. 2019, Algorithm 2).

    With u = z/2 sorted decreasingly, for each support size k the threshold solving
    Σ_{j≤k} (u_(j) − τ)² = 1 is τ_k = mean_k − √((1 − k·var_k)/k); the support size
    is the largest k with τ_k ≤ u_(k).
    """
    u = (z - z.amax(dim=-1, keepdim=True)) / 2
    ordered, _ = torch.sort(u, dim=-1, descending=True)
    k = _support_sizes(u.shape[-1], u)
    mean = ordered.cumsum(dim=-1) / k
    mean_sq = (ordered**2).cumsum(dim=-1) / k
    spread = k * (mean_sq - mean**2)
    delta = ((1 - spread) / k).clamp_min(0)
    tau_k = mean - delta.sqrt()
    size = (tau_k <= ordered).sum(dim=-1, keepdim=True).clamp_min(1)  # NaN rows: see sparsemax
    tau = tau_k.gather(-1, size - 1)
    return (u - tau).clamp_min(0) ** 2


class _Sparsemax(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: torch.Tensor) -> torch.Tensor:
        p = _sparsemax_forward(z)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (p,) = ctx.saved_tensors
        support = (p > 0).to(grad.dtype)
        mean = (grad * support).sum(-1, keepdim=True) / support.sum(-1, keepdim=True)
        return support * (grad - mean)


class _Entmax15(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: torch.Tensor) -> torch.Tensor:
        p = _entmax15_forward(z)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (p,) = ctx.saved_tensors
        s = p.sqrt()
        weighted = s * grad
        return weighted - s * weighted.sum(-1, keepdim=True) / s.sum(-1, keepdim=True)


def _apply(function: type[torch.autograd.Function], z: object, dim: int) -> torch.Tensor:
    scores = check_floating(z, "z")
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if scores.ndim == 0:
        raise ValueError("z must have at least one dimension, got a scalar")
    moved, dim = _to_last(scores, dim)
    out: torch.Tensor = function.apply(moved)
    return out.movedim(-1, dim)


def sparsemax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sparsemax ``argmin_{p ∈ Δ} ‖p − z‖²`` along ``dim`` (Martins & Astudillo 2016).

    ``p_i = [z_i − τ]₊`` with τ chosen so that ``Σ_i p_i = 1``; exact (sort-based,
    O(n log n)), any shape, exact zeros outside the support. Backward:
    ``∂p/∂z = diag(s) − s sᵀ/|S|`` with s the support indicator.
    """
    return _apply(_Sparsemax, z, dim)


def entmax15(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """1.5-entmax ``argmax_{p ∈ Δ} ⟨p, z⟩ + H_{1.5}(p)`` along ``dim`` (Peters et al. 2019).

    ``p_i = [z_i/2 − τ]₊²`` with τ chosen so that ``Σ_i p_i = 1``; exact (sort-based),
    any shape, exact zeros outside the support. Backward:
    ``∂p/∂z = diag(√p) − √p √pᵀ / Σ √p``.
    """
    return _apply(_Entmax15, z, dim)


def tsallis_entropy(p: torch.Tensor, alpha: float, dim: int = -1) -> torch.Tensor:
    """Tsallis α-entropy ``H_α(p) = (1 − Σ_i p_i^α)/(α(α − 1))`` (α = 1: Shannon ``−Σ p log p``).

    Reduces ``dim``. α-entmax(z) maximises ``⟨p, z⟩ + H_α(p)`` over the simplex.
    """
    probabilities = check_floating(p, "p")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or alpha < 1:
        raise ValueError(f"alpha must be a real number ≥ 1, got {alpha!r}")
    if alpha == 1:
        return -torch.special.xlogy(probabilities, probabilities).sum(dim)
    return (1 - (probabilities**alpha).sum(dim)) / (alpha * (alpha - 1))
