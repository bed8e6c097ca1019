"""Energies of the Hopfield layers' retrieval: LSE and the Tsallis-regularised max.

Ramsauer et al. (2020) "Hopfield Networks is All You Need": the modern Hopfield energy
``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` (:func:`lse_energy`) whose CCCP update is
softmax attention. Replacing the Shannon entropy of its variational form by the
Tsallis α-entropy gives the sparse energies of Hu et al. (2023)
(:func:`regularized_max_energy`), whose updates use sparsemax (α = 2) or 1.5-entmax.
:func:`normalize_scores` is the matching normalisation and :func:`topk_mask_scores`
the exact top-k restriction used by the layers.
"""

from __future__ import annotations

import torch

from hopfield.models.lse_memory import energy_from_lse
from hopfield.ops.normalizers import NORMALIZERS
from hopfield.ops.normalizers import TSALLIS_ALPHA as _TSALLIS_ALPHA
from hopfield.ops.sparse_normalizers import entmax15, sparsemax, tsallis_entropy

__all__ = [
    "NORMALIZERS",
    "lse_energy",
    "normalize_scores",
    "regularized_max_energy",
    "topk_mask_scores",
]


def lse_energy(
    state: torch.Tensor,
    stored: torch.Tensor,
    beta: float | torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """LSE energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ + M_μ) + ½‖ξ‖²`` per state pattern.

    Args:
        state: ``(..., Lq, D)`` state patterns ``ξ``.
        stored: ``(..., Lk, D)`` stored patterns ``k_μ`` (broadcast against ``state``).
        beta: inverse temperature ``β > 0``.
        mask: optional additive mask broadcastable to ``(..., Lq, Lk)`` (``−∞`` = ignore).

    Returns:
        ``(..., Lq)`` energies (Ramsauer et al. 2020, eq. 2 without the constants).
    """
    logits = beta * (state @ stored.transpose(-2, -1))
    if mask is not None:
        logits = logits + mask
    return energy_from_lse(state, torch.logsumexp(logits, dim=-1), beta)



def regularized_max_energy(
    state: torch.Tensor,
    stored: torch.Tensor,
    beta: float | torch.Tensor,
    normalizer: str = "softmax",
    mask: torch.Tensor | None = None,
    top_k: int | None = None,
) -> torch.Tensor:
    """Energy ``E(ξ) = −β⁻¹ max_{p∈Δ}[⟨p, z⟩ + H(p)] + ½‖ξ‖²``, ``z = β Kξ + M``, per state.

    ``H`` is the Shannon entropy for ``"softmax"`` (then ``max_p[…] = log Σ exp z``,
    the LSE energy of :func:`lse_energy`) and the Tsallis α-entropy
    ``H_α(p) = (1 − Σ p^α)/(α(α − 1))`` for ``"sparsemax"`` (α = 2) and
    ``"entmax15"`` (α = 1.5) (Hu et al. 2023; Peters et al. 2019); the maximiser is
    ``p* = α-entmax(z)``, so the CCCP update is ``ξ ← Kᵀ p*``. With ``top_k = k`` the
    scores outside the ``k`` largest are ``−∞`` (``max_p`` over the top-k face of the
    simplex); the max over all ``k``-subsets of a convex function is convex, so the
    CCCP update still never raises ``E``.

    Shapes: state ``(..., Lq, D)``, stored ``(..., Lk, D)``; returns ``(..., Lq)``.
    """
    scores = beta * (state @ stored.transpose(-2, -1))
    if mask is not None:
        scores = scores + mask
    if top_k is not None:
        scores = topk_mask_scores(scores, top_k)
    if normalizer == "softmax":
        return energy_from_lse(state, torch.logsumexp(scores, dim=-1), beta)
    weights = normalize_scores(scores, normalizer)
    finite = scores.masked_fill(weights == 0, 0.0)  # 0·(−∞) would poison autograd
    linear = (weights * finite).sum(-1)
    regularized = linear + tsallis_entropy(weights, _TSALLIS_ALPHA[normalizer], dim=-1)
    return energy_from_lse(state, regularized, beta)


def topk_mask_scores(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest entries of ``scores`` along the last dim, ``−∞`` elsewhere.

    ``k ≥ scores.shape[-1]`` returns ``scores`` unchanged. Gradients flow to the kept
    entries only.
    """
    width = scores.shape[-1]
    if k >= width:
        return scores
    kept, index = scores.topk(k, dim=-1)
    return torch.full_like(scores, float("-inf")).scatter(-1, index, kept)


def normalize_scores(scores: torch.Tensor, normalizer: str) -> torch.Tensor:
    """Association weights from scores along the last dim: softmax, sparsemax or 1.5-entmax.

    A row holding NaN, or no finite score at all, gives a NaN row with every normaliser
    (the layers' NaN policy: never a finite answer from non-finite scores). Empty
    scores give empty weights.
    """
    if scores.numel() == 0:
        return torch.softmax(scores, dim=-1)
    if normalizer == "sparsemax":
        return sparsemax(scores, dim=-1)
    if normalizer == "entmax15":
        return entmax15(scores, dim=-1)
    return torch.softmax(scores, dim=-1)
