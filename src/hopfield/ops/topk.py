"""Streamed exact top-k and sparse retrieval.

Per query a running ``(B, k)`` set of the best scores and their global indices is
merged with each chunk's own top-``k`` (``cat`` + ``topk``), so the result equals
``torch.topk`` of the full ``(B, K)`` score matrix. The unselected scores are
treated as ``−∞``: the normaliser (softmax, sparsemax or 1.5-entmax,
:mod:`hopfield.ops.sparse_normalizers`) sees only the ``k`` selected scores and only
their ``k`` values are gathered. :func:`support_retrieve` makes sparsemax /
1.5-entmax over *all* ``K`` memories exact with the same kernel by doubling ``k``
until the normaliser's support is strictly inside the candidates.
(Sparsemax: Martins & Astudillo 2016; entmax: Peters et al. 2019; as Hopfield
retrieval: Hu et al. 2023, "On Sparse Modern Hopfield Model"; top-k retrieval of
Ramsauer et al. 2020 restricted to ``k`` memories.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from hopfield.ops.chunking import (
    check_beta,
    check_operands,
    check_similarity,
    chunk_slices,
    key_sq_norms_or_compute,
    resolve_chunk_size,
    score_block,
)
from hopfield.ops.normalizers import NORMALIZERS
from hopfield.ops.normalizers import TSALLIS_ALPHA as _TSALLIS_ALPHA
from hopfield.ops.sparse_normalizers import entmax15, sparsemax, tsallis_entropy

__all__ = [
    "NORMALIZERS",
    "SparseRetrieval",
    "merge_topk",
    "retrieve_selected",
    "support_retrieve",
    "topk_retrieve",
    "topk_scores",
]


class SparseRetrieval(NamedTuple):
    """Result of a top-k / sparse retrieval (all per query).

    ``output`` ``(B, Dv)``: ``Σ_j p_j v_{indices_j}``; ``max_value`` ``(B,)``: the
    regularised max ``Ω*(s) = max_{p∈Δ} ⟨p, s⟩ + H(p)`` over the candidate scores
    (``logsumexp`` for softmax, Shannon ``H``; Tsallis ``H_α`` for sparsemax, α = 2,
    and 1.5-entmax, α = 1.5); ``weights`` ``(B, k)``: ``p`` (exact zeros allowed);
    ``indices`` ``(B, k)`` int64: the candidate memories, best score first;
    ``scores`` ``(B, k)``: their scores ``s``.
    """

    output: torch.Tensor
    max_value: torch.Tensor
    weights: torch.Tensor
    indices: torch.Tensor
    scores: torch.Tensor


def _check_k(k: int, num_memories: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if not 1 <= k <= num_memories:
        raise ValueError(f"k must lie in [1, {num_memories}] (the number of keys K), got {k}")
    return k


def _check_normalizer(normalizer: str) -> None:
    if normalizer not in NORMALIZERS:
        raise ValueError(f"normalizer must be one of {NORMALIZERS}, got {normalizer!r}")


def topk_scores(
    queries: torch.Tensor,
    keys: torch.Tensor,
    beta: float,
    k: int,
    *,
    similarity: str = "dot",
    key_sq_norms: torch.Tensor | None = None,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest scores ``s_μ(x)`` per query and their memory indices, streamed.

    ``s_μ = β ξ_μ·x`` (``"dot"``) or ``−(β/2)‖x − ξ_μ‖²`` (``"euclidean"``). A running
    ``(B, k)`` best set is merged with each chunk's own top-``min(k, C)``, so only a
    ``(B, C)`` block and ``(B, 2k)`` candidates are alive; the result equals
    ``torch.topk(s, k)`` on the full ``(B, K)`` matrix (ties aside). Not
    differentiable (selection only; :func:`topk_retrieve` recomputes the selected
    scores with autograd). Returns ``(scores (B, k), indices (B, k))``, best first.
    """
    check_operands(queries, keys, None)
    check_similarity(similarity)
    beta = check_beta(beta)
    k = _check_k(k, keys.shape[0])
    norms = key_sq_norms_or_compute(key_sq_norms, keys) if similarity == "euclidean" else None
    chunk = resolve_chunk_size(
        queries.shape[0],
        keys.shape[0],
        keys.shape[1],
        itemsize=queries.element_size(),
        device=queries.device,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    best: tuple[torch.Tensor, ...] | None = None
    with torch.no_grad():
        scaled = queries.detach() * beta
        for rows in chunk_slices(keys.shape[0], chunk):
            bias = None if norms is None else norms[rows].detach() * (-0.5 * beta)
            block = score_block(scaled, keys[rows].detach(), bias)
            top, local = block.topk(min(k, block.shape[1]), dim=1)
            candidate = (top, local + rows.start)
            best = candidate if best is None else merge_topk(best, candidate, k)
        assert best is not None
        scores, indices = best
        if norms is not None:
            scores = scores - (0.5 * beta) * queries.detach().square().sum(dim=1, keepdim=True)
    return scores, indices


def merge_topk(
    best: Sequence[torch.Tensor], candidate: Sequence[torch.Tensor], k: int
) -> tuple[torch.Tensor, ...]:
    """Merge step of streamed top-``k``: the ``k`` largest of two candidate sets, per query.

    Each set is ``(scores (B, n), *payload)``, every payload tensor ``(B, n, ...)``
    aligned with the scores (e.g. global memory indices ``(B, n)``, or the pattern rows
    ``(B, n, D)`` so that no second pass over the memories is needed). The scores are
    concatenated and ``topk``-ed along dim 1 and every payload gathered at the same
    positions. Since ``topk_k(s_A ∪ s_B) = topk_k(topk_k(s_A) ∪ topk_k(s_B))``, merging
    a running best set with each chunk's own top-``k`` gives ``torch.topk`` of the full
    ``(B, K)`` score matrix (ties aside); used by :func:`topk_scores` and
    :meth:`hopfield.models.streaming_memory.StreamingMemory.retrieve_topk` (exact
    top-``k`` retrieval of Ramsauer et al. 2020 restricted to ``k`` memories).

    Returns ``(scores (B, k'), *payload (B, k', ...))``, best first, with
    ``k' = min(k, n_best + n_candidate)``.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int ≥ 1, got {k!r}")
    if len(best) == 0 or len(best) != len(candidate):
        raise ValueError(
            "best and candidate must be (scores, *payload) tuples of the same length ≥ 1, "
            f"got lengths {len(best)} and {len(candidate)}"
        )
    for part in (best, candidate):
        if part[0].ndim != 2:
            raise ValueError(f"scores must have shape (B, n), got shape {tuple(part[0].shape)}")
        for tensor in part[1:]:
            if tensor.ndim < 2 or tensor.shape[:2] != part[0].shape:
                raise ValueError(
                    "every payload must have shape (B, n, ...) matching its scores "
                    f"{tuple(part[0].shape)}, got shape {tuple(tensor.shape)}"
                )
    scores = torch.cat([best[0], candidate[0]], dim=1)
    top, position = scores.topk(min(k, scores.shape[1]), dim=1)
    merged = [top]
    for kept, new in zip(best[1:], candidate[1:], strict=True):
        joined = torch.cat([kept, new], dim=1)
        index = position.view(*position.shape, *([1] * (joined.ndim - 2)))
        merged.append(joined.gather(1, index.expand(-1, -1, *joined.shape[2:])))
    return tuple(merged)


def _selected_scores(
    queries: torch.Tensor,
    keys: torch.Tensor,
    indices: torch.Tensor,
    beta: float,
    similarity: str,
    key_sq_norms: torch.Tensor | None,
) -> torch.Tensor:
    """Scores of the selected memories ``(B, k)``, recomputed from the gathered keys
    (differentiable w.r.t. ``queries`` and ``keys``)."""
    picked = keys[indices]  # (B, k, D)
    scores = beta * torch.einsum("bd,bkd->bk", queries, picked)
    if similarity == "euclidean":
        norms = key_sq_norms_or_compute(key_sq_norms, keys)[indices]
        scores = scores - (0.5 * beta) * (norms + queries.square().sum(dim=1, keepdim=True))
    return scores


def _normalize(scores: torch.Tensor, normalizer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(p, Ω*(s))``: the normaliser's weights over the last dim and its regularised max
    ``⟨p, s⟩ + H(p)`` (``= logsumexp(s)`` for softmax)."""
    if normalizer == "softmax":
        return torch.softmax(scores, dim=1), torch.logsumexp(scores, dim=1)
    weights = sparsemax(scores, dim=1) if normalizer == "sparsemax" else entmax15(scores, dim=1)
    entropy = tsallis_entropy(weights, _TSALLIS_ALPHA[normalizer], dim=1)
    return weights, (weights * scores).sum(dim=1) + entropy


def retrieve_selected(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    indices: torch.Tensor,
    beta: float,
    normalizer: str,
    similarity: str,
    key_sq_norms: torch.Tensor | None,
) -> SparseRetrieval:
    """Retrieval restricted to the memories ``indices`` ``(B, k)`` per query: their scores
    recomputed from the gathered keys, the normaliser over them and the weighted sum of
    their values (differentiable; shared by exact and approximate top-k)."""
    scores = _selected_scores(queries, keys, indices, beta, similarity, key_sq_norms)
    weights, max_value = _normalize(scores, normalizer)
    output = torch.einsum("bk,bkd->bd", weights, values[indices])
    return SparseRetrieval(output, max_value, weights, indices, scores)


def topk_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    k: int,
    *,
    normalizer: str = "softmax",
    similarity: str = "dot",
    key_sq_norms: torch.Tensor | None = None,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> SparseRetrieval:
    """Exact top-``k`` retrieval with ``−∞`` masking, streamed.

    With ``T_k(x)`` the ``k`` memories of largest score (:func:`topk_scores`), the
    output is ``Σ_{μ∈T_k(x)} p_μ v_μ`` with ``p = normalizer(s_{T_k})``, i.e. the
    normaliser applied to scores that are ``−∞`` outside ``T_k`` (unselected memories
    get weight exactly 0 and are never read). ``max_value`` is the regularised max
    over ``T_k``: for softmax ``log Σ_{μ∈T_k} exp s_μ``, the log-sum-exp restricted
    to the ``k`` nearest memories. Pass ``values=None`` for auto-association.

    Two passes over the keys: the streamed selection (``2·B·K·D`` FLOP) and a gather
    of ``k`` keys and values per query (``O(B·k·(D + Dv))`` memory), through which
    autograd flows. Returns :class:`SparseRetrieval`.
    """
    vals = keys if values is None else values
    check_operands(queries, keys, vals)
    _check_normalizer(normalizer)
    _, indices = topk_scores(
        queries,
        keys,
        beta,
        k,
        similarity=similarity,
        key_sq_norms=key_sq_norms,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    return retrieve_selected(
        queries, keys, vals, indices, float(beta), normalizer, similarity, key_sq_norms
    )


def support_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    *,
    normalizer: str = "sparsemax",
    initial_k: int = 16,
    similarity: str = "dot",
    key_sq_norms: torch.Tensor | None = None,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> SparseRetrieval:
    """Exact sparsemax / 1.5-entmax retrieval over *all* ``K`` memories, streamed.

    Both normalisers give ``p_μ = 0`` to every score below a threshold ``τ(s)``, so
    their support is contained in a top-``k`` set. Starting from ``k = initial_k``,
    the candidates are the streamed top-``k``; if the smallest candidate score gets
    weight exactly 0 for every query, every unselected score (which is ≤ it) would
    too, so ``τ`` and ``p`` computed on the candidates are those of the full problem
    (exact, up to the rounding of the scores). Otherwise ``k`` is doubled (at most
    ``⌈log₂(K / initial_k)⌉`` extra passes; ``k = K`` is the full problem). Softmax
    has full support, so ``normalizer="softmax"`` is rejected here: use
    :func:`lse_retrieve`. Returns :class:`SparseRetrieval` with the final ``k``.
    """
    vals = keys if values is None else values
    check_operands(queries, keys, vals)
    _check_normalizer(normalizer)
    if normalizer == "softmax":
        raise ValueError("normalizer must be 'sparsemax' or 'entmax15' (softmax is never sparse)")
    num_memories = keys.shape[0]
    if isinstance(initial_k, bool) or not isinstance(initial_k, int) or initial_k < 1:
        raise ValueError(f"initial_k must be an int ≥ 1, got {initial_k!r}")
    k = min(initial_k, num_memories)
    while True:
        result = topk_retrieve(
            queries,
            keys,
            vals,
            beta,
            k,
            normalizer=normalizer,
            similarity=similarity,
            key_sq_norms=key_sq_norms,
            chunk_size=chunk_size,
            budget_bytes=budget_bytes,
        )
        lowest = result.scores.argmin(dim=1, keepdim=True)
        if k == num_memories or bool((result.weights.gather(1, lowest) == 0).all()):
            return result
        k = min(2 * k, num_memories)
