"""Energy-based out-of-distribution (OOD) scores from modern Hopfield memories.

Hofmann et al. (2024), "Energy-based Hopfield Boosting for Out-of-Distribution
Detection" (NeurIPS), store the in-distribution samples ``X = (x_1, …, x_N)`` as
the memories of a modern Hopfield network and score a sample ``ξ`` by its energy:
a sample far from every memory has a high energy. With the log-sum-exp energy
(Ramsauer et al. 2020)

    E_in(ξ)  = −β⁻¹ log Σ_{μ=1}^{N} exp(s_μ(ξ)),
    s_μ(ξ)   = −(β/2) ‖ξ − x_μ‖²            (similarity="euclidean", default)
             =  β x_μ·ξ, plus ½‖ξ‖² in E     (similarity="dot": the Hopfield energy
                                              −β⁻¹ lse(β Xᵀξ) + ½‖ξ‖²)

the OOD score is ``E_in(ξ)`` (higher = more OOD). The euclidean form is the
Hopfield energy with a per-memory bias ``−½‖x_μ‖²``; up to constants it is
``−β⁻¹ log p̂(ξ)`` for the Gaussian kernel density estimate ``p̂`` of bandwidth
``β^{-1/2}``, which gives a principled way to choose ``β`` from in-distribution
data only (:func:`select_beta`: maximise the held-out log-likelihood).

With auxiliary outlier memories ``O = (o_1, …, o_M)`` (never the test OOD set), the
score contrasts both memories, as Hopfield Boosting does at inference:

    score(ξ) = E_in(ξ) − E_out(ξ),   E_out(ξ) = −β_o⁻¹ log Σ_ν exp(s_ν(ξ)),

and the **border energy** of the paper (large near the in/out border, used there
to weight training samples) is

    E_b(ξ) = −2 lse_β([X ‖ O], ξ) + lse_β(X, ξ) + lse_β(O, ξ),
    lse_β(Y, ξ) = β⁻¹ log Σ_{y∈Y} exp(s_y(ξ)),

With ``a = Σ_X exp(s)`` and ``b = Σ_O exp(s)`` this is ``β⁻¹ log(ab/(a + b)²)``: at
most ``−2β⁻¹ log 2`` (equality when both memories contribute equally, ``a = b``) and
→ −∞ deep inside either set.

Energies are streamed over memory chunks (:func:`hopfield.ops.streaming.lse_partials`),
so ``N`` can exceed what a ``(B, N)`` score matrix would allow.

Metrics: :func:`auroc` (Mann–Whitney U statistic, ties counted ½) and
:func:`fpr_at_tpr` (the FPR@95 of the OOD literature: fraction of OOD samples
accepted as in-distribution when the threshold keeps ``tpr`` of the inliers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy.stats import rankdata

from hopfield._validation import check_finite, check_floating, check_positive, check_probability
from hopfield.models.lse_memory import energy_from_lse
from hopfield.ops.streaming import finalize_partials, lse_partials

__all__ = [
    "HopfieldOODScorer",
    "auroc",
    "fpr_at_tpr",
    "gaussian_log_density",
    "lse_energy_streamed",
    "select_beta",
]

_SIMILARITIES = ("euclidean", "dot")
ArrayLike = torch.Tensor | np.ndarray


def _as_matrix(
    value: object, name: str, dim: int | None = None, *, allow_empty: bool = False
) -> torch.Tensor:
    """``(N, D)`` floating tensor from a tensor or numpy array (N ≥ 1 unless ``allow_empty``)."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.asarray(value, dtype=np.float64))
    tensor = check_floating(value, name)
    if tensor.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got shape {tuple(tensor.shape)}")
    if dim is not None and tensor.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} must hold at least one row, got shape {tuple(tensor.shape)}")
    return check_finite(tensor, name)


def lse_energy_streamed(
    queries: torch.Tensor,
    memories: torch.Tensor,
    beta: float,
    *,
    similarity: str = "euclidean",
    chunk_size: int | None = None,
) -> torch.Tensor:
    """``E(ξ) = −β⁻¹ log Σ_μ exp(s_μ(ξ))`` per query, streamed over memory chunks.

    ``s_μ = −(β/2)‖ξ − x_μ‖²`` (``"euclidean"``) or ``β x_μ·ξ`` (``"dot"``; then
    ``½‖ξ‖²`` is added, the energy of Ramsauer et al. 2020). Shapes: queries
    ``(B, D)``, memories ``(N, D)``; returns ``(B,)``.
    """
    if similarity not in _SIMILARITIES:
        raise ValueError(f"similarity must be one of {_SIMILARITIES}, got {similarity!r}")
    beta = check_positive(beta, "beta")
    memories = memories.to(queries.dtype)
    partials = lse_partials(
        queries, memories, None, beta, similarity=similarity, chunk_size=chunk_size
    )
    _, logsumexp = finalize_partials(partials)
    return energy_from_lse(queries, logsumexp, beta, similarity=similarity)


def gaussian_log_density(
    queries: ArrayLike, memories: ArrayLike, beta: float, *, chunk_size: int | None = None
) -> torch.Tensor:
    """Log density of the Gaussian KDE with precision ``β``: ``(B,)``.

    ``log p̂(ξ) = log Σ_μ exp(−(β/2)‖ξ − x_μ‖²) − log N + (D/2) log(β / 2π)
    = −β E_in(ξ) − log N + (D/2) log(β/2π)``.
    """
    query = _as_matrix(queries, "queries")
    stored = _as_matrix(memories, "memories", query.shape[1])
    beta = check_positive(beta, "beta")
    energy = lse_energy_streamed(query, stored, beta, chunk_size=chunk_size)
    dim = query.shape[1]
    return -beta * energy - math.log(stored.shape[0]) + 0.5 * dim * math.log(beta / (2 * math.pi))


def select_beta(
    memories: ArrayLike,
    validation: ArrayLike,
    candidates: Sequence[float],
    *,
    chunk_size: int | None = None,
) -> tuple[float, list[float]]:
    """``β`` maximising the mean held-out KDE log-likelihood of in-distribution data.

    Uses only in-distribution samples (``memories`` to store, ``validation`` to
    evaluate :func:`gaussian_log_density`), so no OOD data leaks into the choice.
    Returns ``(best β, mean log-likelihood per candidate)``.
    """
    if len(candidates) == 0:
        raise ValueError("candidates must hold at least one β, got an empty sequence")
    stored = _as_matrix(memories, "memories")
    held_out = _as_matrix(validation, "validation", stored.shape[1])
    scores = [
        float(gaussian_log_density(held_out, stored, b, chunk_size=chunk_size).mean())
        for b in candidates
    ]
    best = int(np.argmax(scores))
    return float(candidates[best]), scores


class HopfieldOODScorer:
    """OOD score = LSE energy against in-distribution memories (Hofmann et al. 2024).

    ``score(ξ) = E_in(ξ)`` or, after ``fit(inliers, outliers)``,
    ``score(ξ) = E_in(ξ) − E_out(ξ)`` (energies in the module docstring; higher =
    more OOD). :meth:`border_energy` gives the paper's border energy ``E_b``.

    Args:
        beta: inverse temperature ``β`` of the in-distribution memory.
        outlier_beta: ``β_o`` of the outlier memory (default ``β``).
        similarity: ``"euclidean"`` (``s = −(β/2)‖ξ − x‖²``) or ``"dot"``
            (``s = β x·ξ`` with ``+½‖ξ‖²``).
        normalize: L2-normalise inputs and memories first (Hopfield Boosting's
            setting; then both similarities agree up to constants).
        chunk_size: memories per streamed chunk (default: automatic).
    """

    def __init__(
        self,
        beta: float,
        *,
        outlier_beta: float | None = None,
        similarity: str = "euclidean",
        normalize: bool = False,
        chunk_size: int | None = None,
    ) -> None:
        self.beta = check_positive(beta, "beta")
        self.outlier_beta = (
            None if outlier_beta is None else check_positive(outlier_beta, "outlier_beta")
        )
        if similarity not in _SIMILARITIES:
            raise ValueError(f"similarity must be one of {_SIMILARITIES}, got {similarity!r}")
        if not isinstance(normalize, bool):
            raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
        self.similarity = similarity
        self.normalize = normalize
        self.chunk_size = chunk_size
        self.inliers_: torch.Tensor | None = None
        self.outliers_: torch.Tensor | None = None

    def __repr__(self) -> str:
        return (
            f"HopfieldOODScorer(beta={self.beta}, outlier_beta={self.outlier_beta}, "
            f"similarity={self.similarity!r}, normalize={self.normalize})"
        )

    def _prepare(
        self, value: object, name: str, dim: int | None = None, *, allow_empty: bool = False
    ) -> torch.Tensor:
        matrix = _as_matrix(value, name, dim, allow_empty=allow_empty)
        return torch.nn.functional.normalize(matrix, dim=1) if self.normalize else matrix

    def fit(self, inliers: ArrayLike, outliers: ArrayLike | None = None) -> HopfieldOODScorer:
        """Store ``inliers`` ``(N, D)`` (and auxiliary ``outliers`` ``(M, D)``) as memories."""
        self.inliers_ = self._prepare(inliers, "inliers")
        dim = self.inliers_.shape[1]
        self.outliers_ = None if outliers is None else self._prepare(outliers, "outliers", dim)
        return self

    def _check_fitted(self, x: object) -> tuple[torch.Tensor, torch.Tensor]:
        if self.inliers_ is None:
            raise RuntimeError("HopfieldOODScorer is not fitted; call fit(inliers) first")
        query = self._prepare(x, "x", self.inliers_.shape[1], allow_empty=True)
        return query, self.inliers_

    def _energy(self, x: torch.Tensor, memories: torch.Tensor, beta: float) -> torch.Tensor:
        return lse_energy_streamed(
            x, memories.to(x.dtype), beta, similarity=self.similarity, chunk_size=self.chunk_size
        )

    def inlier_energy(self, x: ArrayLike) -> torch.Tensor:
        """``E_in(ξ)`` ``(B,)`` against the in-distribution memories."""
        query, inliers = self._check_fitted(x)
        return self._energy(query, inliers, self.beta)

    def outlier_energy(self, x: ArrayLike) -> torch.Tensor:
        """``E_out(ξ)`` ``(B,)`` against the auxiliary outlier memories (``β_o``)."""
        query, _ = self._check_fitted(x)
        if self.outliers_ is None:
            raise RuntimeError("no outlier memories: call fit(inliers, outliers)")
        beta = self.beta if self.outlier_beta is None else self.outlier_beta
        return self._energy(query, self.outliers_, beta)

    def score(self, x: ArrayLike) -> torch.Tensor:
        """OOD score ``(B,)``: ``E_in(ξ)``, or ``E_in(ξ) − E_out(ξ)`` with outlier memories."""
        energy = self.inlier_energy(x)
        if self.outliers_ is None:
            return energy
        return energy - self.outlier_energy(x)

    def border_energy(self, x: ArrayLike) -> torch.Tensor:
        """``E_b(ξ) = −2 lse_β([X‖O], ξ) + lse_β(X, ξ) + lse_β(O, ξ)`` ``(B,)`` (one ``β``).

        In energies: ``E_b = 2 E_{X∪O} − E_X − E_O = β⁻¹ log(ab/(a + b)²)`` with
        ``a``, ``b`` the summed ``exp(s)`` over ``X`` and ``O``; largest near the border
        between the two memories, at most ``−2β⁻¹ log 2`` (at ``a = b``).
        """
        query, inliers = self._check_fitted(x)
        if self.outliers_ is None:
            raise RuntimeError("border_energy needs outlier memories: call fit(inliers, outliers)")
        both = torch.cat([inliers, self.outliers_.to(inliers.dtype)])
        joint = self._energy(query, both, self.beta)
        return (
            2 * joint
            - self._energy(query, inliers, self.beta)
            - self._energy(query, self.outliers_, self.beta)
        )


def _scores_pair(scores_in: object, scores_out: object) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for value, name in ((scores_in, "scores_in"), (scores_out, "scores_out")):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().numpy()
        array = np.asarray(value, dtype=np.float64)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(
                f"{name} must be a non-empty 1-D array of scores, got shape {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or inf values")
        arrays.append(array)
    return arrays[0], arrays[1]


def auroc(scores_in: ArrayLike | Sequence[float], scores_out: ArrayLike | Sequence[float]) -> float:
    """Area under the ROC curve for OOD detection (OOD = positive, higher score = more OOD).

    ``AUROC = P(s_out > s_in) + ½ P(s_out = s_in)`` = the Mann–Whitney statistic
    ``(R_out − n_out(n_out + 1)/2) / (n_in n_out)`` with ``R_out`` the sum of the
    OOD scores' mid-ranks in the pooled sample.
    """
    inl, out = _scores_pair(scores_in, scores_out)
    ranks = rankdata(np.concatenate([inl, out]))
    rank_out = float(ranks[inl.size :].sum())
    return (rank_out - out.size * (out.size + 1) / 2) / (inl.size * out.size)


def fpr_at_tpr(
    scores_in: ArrayLike | Sequence[float],
    scores_out: ArrayLike | Sequence[float],
    tpr: float = 0.95,
) -> float:
    """FPR at ``tpr`` (FPR@95 for ``tpr = 0.95``): OOD samples accepted as inliers.

    Inliers are the positives and are accepted when ``score ≤ t``; ``t`` is the
    smallest threshold accepting at least ``tpr`` of the inliers,
    ``t = s_in,(⌈tpr·n_in⌉)`` (order statistic), and the result is
    ``#{s_out ≤ t} / n_out``.
    """
    inl, out = _scores_pair(scores_in, scores_out)
    level = check_probability(tpr, "tpr")
    if level == 0:
        raise ValueError("tpr must be > 0")
    order = np.sort(inl)
    index = max(math.ceil(level * inl.size - 1e-12), 1) - 1
    threshold = order[index]
    return float(np.mean(out <= threshold))
