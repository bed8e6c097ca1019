"""Chunked (streaming) retrieval kernels for dense associative memories.

Every dense memory reads all ``K`` stored patterns for every query. Building the
full ``(B, K)`` similarity matrix costs ``4·B·K`` bytes (1 GiB at B = 1024,
K = 2.6e5), so these kernels walk the memories in chunks of ``C`` rows and keep
only a ``(B, C)`` block alive. Chunks are combined *exactly*:

* **log-sum-exp** (Ramsauer et al. 2020, "Hopfield Networks is All You Need"):
  for scores ``s_μ = β ξ_μ·x (+ b_μ)`` the kernel keeps, per query, the running
  maximum ``m``, the running sum ``σ = Σ exp(s_μ − m)`` and the running weighted
  sum ``w = Σ exp(s_μ − m) v_μ``; merging two partials rescales by
  ``exp(m_old − m_new)`` (the online-softmax identity). At the end
  ``softmax-weighted output = w / σ`` and ``logsumexp = m + log σ``. Every
  exponent is ≤ 0, so nothing overflows for any β (tested up to β = 1e6).
* **log-sum-ReLU** (Hoover et al. 2025, "Dense Associative Memory with
  Epanechnikov Energy"): sums are plain sums, so chunks simply add. The expanded
  distance ``‖x‖² − 2x·ξ + ‖ξ‖²`` loses about ``u·√D·(‖x‖ + ‖ξ‖)²`` to rounding,
  which at large β would misclassify memories at the support boundary; entries
  within that margin of the support are recomputed from the exact difference
  ``x − ξ`` (few, as the kernel has compact support), so active sets and the
  one-step retrieval are exact even at β = 1e6 in float32.
* **separation functions** ``F`` (Krotov & Hopfield 2016): ``Σ_μ F'(ξ_μ·x) v_μ``
  also adds across chunks.
* **top-k** (exact sparse retrieval): per query a running ``(B, k)`` set of the
  best scores and their global indices is merged with each chunk's own top-``k``
  (``cat`` + ``topk``), so the result equals ``torch.topk`` of the full ``(B, K)``
  score matrix. The unselected scores are treated as ``−∞``: the normaliser
  (softmax, sparsemax or 1.5-entmax, :mod:`hopfield.ops.sparse_normalizers`) sees
  only the ``k`` selected scores and only their ``k`` values are gathered.
  :func:`support_retrieve` makes sparsemax / 1.5-entmax over *all* ``K`` memories
  exact with the same kernel by doubling ``k`` until the normaliser's support is
  strictly inside the candidates.
  (Sparsemax: Martins & Astudillo 2016; entmax: Peters et al. 2019; as Hopfield
  retrieval: Hu et al. 2023, "On Sparse Modern Hopfield Model".)

Cost per chunk: one ``addmm`` for the scores (``2·B·C·D`` FLOP) and one for the
values (``2·B·C·Dv`` FLOP); the score block is exponentiated in place. The
Euclidean score ``−(β/2)‖x − ξ‖²`` is expanded as
``β x·ξ − (β/2)‖ξ‖² − (β/2)‖x‖²`` so it is still one matmul per chunk; pass the
squared norms ``‖ξ‖²`` (computed once when patterns are stored) as
``key_sq_norms``.

Chunk size: an explicit ``chunk_size`` wins; otherwise the largest ``C`` with
``B·C·itemsize ≤ budget_bytes`` (default :data:`DEFAULT_MEMORY_BUDGET_BYTES`),
capped on CPU so that one chunk of keys (``C·D·itemsize``, ~1 MiB) and the score
block (~8 MiB) stay in cache between the two matmuls (the keys then come from DRAM
only once).

All kernels are device-agnostic (CPU or CUDA: they allocate on the inputs'
device) and differentiable: when autograd is recording they switch the in-place
operations to out-of-place ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import torch

from hopfield._validation import check_finite, check_floating, check_positive, check_rank
from hopfield.ops.sparse_normalizers import entmax15, sparsemax, tsallis_entropy

__all__ = [
    "DEFAULT_MEMORY_BUDGET_BYTES",
    "NORMALIZERS",
    "LSEPartials",
    "LSRPartials",
    "SparseRetrieval",
    "combine_lsr_partials",
    "combine_partials",
    "finalize_partials",
    "lse_partials",
    "lse_retrieve",
    "lsr_partials",
    "lsr_retrieve",
    "merge_topk",
    "polynomial_retrieve",
    "resolve_chunk_size",
    "separation_retrieve",
    "support_retrieve",
    "topk_retrieve",
    "topk_scores",
]

DEFAULT_MEMORY_BUDGET_BYTES: int = 64 * 2**20
"""Default bound on the bytes of one ``(B, C)`` score block (64 MiB)."""

_CPU_KEY_BLOCK_BYTES = 2**20
"""On CPU, one chunk of keys is capped near this size so it stays in cache."""

_CPU_SCORE_BLOCK_BYTES = 8 * 2**20
"""On CPU, the ``(B, C)`` score block is capped near this size (last-level cache)."""

_MIN_CPU_CHUNK = 256
_FEW_QUERIES = 16
_SIMILARITIES = ("dot", "euclidean")


class LSEPartials(NamedTuple):
    """Partial log-sum-exp state over a subset of memories (all per query).

    ``max`` ``(B,)``: largest score seen (−inf if none); ``sumexp`` ``(B,)``:
    ``Σ exp(s_μ − max)``; ``weighted`` ``(B, Dv)`` or ``None``:
    ``Σ exp(s_μ − max) v_μ``.
    """

    max: torch.Tensor
    sumexp: torch.Tensor
    weighted: torch.Tensor | None


class LSRPartials(NamedTuple):
    """Partial log-sum-ReLU state: ``sum_relu`` ``(B,)`` = ``Σ_μ ReLU(1 − (β/2)‖x − ξ_μ‖²)``,
    ``num_active`` ``(B,)`` = number of active memories ``|B(x)|``, ``weighted`` ``(B, Dv)``
    or ``None`` = ``Σ_{μ∈B(x)} v_μ`` (indicator weighting) or ``Σ_μ ReLU(·) v_μ``."""

    sum_relu: torch.Tensor
    num_active: torch.Tensor
    weighted: torch.Tensor | None


# --------------------------------------------------------------------------- checks


def _check_operands(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor | None) -> None:
    check_floating(queries, "queries")
    check_floating(keys, "keys")
    check_rank(queries, "queries", 2, "(B, D)")
    check_rank(keys, "keys", 2, "(K, D)")
    if queries.shape[1] != keys.shape[1]:
        raise ValueError(
            f"queries must have shape (B, {keys.shape[1]}) to match keys (K, D), "
            f"got shape {tuple(queries.shape)}"
        )
    if values is not None:
        check_floating(values, "values")
        check_rank(values, "values", 2, "(K, Dv)")
        if values.shape[0] != keys.shape[0]:
            raise ValueError(
                f"values must have shape ({keys.shape[0]}, Dv) to match keys (K, D), "
                f"got shape {tuple(values.shape)}"
            )


def _check_similarity(similarity: str) -> None:
    if similarity not in _SIMILARITIES:
        raise ValueError(f"similarity must be one of {_SIMILARITIES}, got {similarity!r}")


def _check_key_norms(key_sq_norms: torch.Tensor | None, keys: torch.Tensor) -> torch.Tensor:
    if key_sq_norms is None:
        return keys.square().sum(dim=1)
    if key_sq_norms.shape != (keys.shape[0],):
        raise ValueError(
            f"key_sq_norms must have shape ({keys.shape[0]},), got {tuple(key_sq_norms.shape)}"
        )
    return key_sq_norms


def _check_beta(beta: float) -> float:
    return check_positive(beta, "beta")


# --------------------------------------------------------------------------- chunking


def resolve_chunk_size(
    num_queries: int,
    num_memories: int,
    dim: int,
    *,
    itemsize: int = 4,
    device: torch.device | str = "cpu",
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> int:
    """Number of memories per chunk.

    ``chunk_size`` (if given) is used as is (clipped to ``num_memories``). Otherwise
    ``C = budget_bytes // (num_queries · itemsize)`` so the ``(B, C)`` score block
    fits the budget; on CPU ``C`` is further capped so a chunk of keys
    (``C · dim · itemsize`` bytes) stays near 1 MiB and the score block near
    8 MiB (both cache resident between the two matmuls), but never below 256 rows.
    """
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
            raise TypeError(f"chunk_size must be an int, got {type(chunk_size).__name__}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be ≥ 1, got {chunk_size}")
        return max(1, min(chunk_size, num_memories))
    budget = DEFAULT_MEMORY_BUDGET_BYTES if budget_bytes is None else budget_bytes
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget_bytes must be a positive int, got {budget!r}")
    chunk = max(1, budget // (max(num_queries, 1) * itemsize))
    if torch.device(device).type == "cpu":
        # With few queries a chunk is cheap (matrix-vector work), so per-chunk dispatch
        # dominates: use 4x larger key blocks (measured 1.5x faster at B=1, K=1e4).
        key_block = _CPU_KEY_BLOCK_BYTES * (4 if num_queries <= _FEW_QUERIES else 1)
        key_rows = key_block // (max(dim, 1) * itemsize)
        block_rows = _CPU_SCORE_BLOCK_BYTES // (max(num_queries, 1) * itemsize)
        chunk = min(chunk, max(_MIN_CPU_CHUNK, min(key_rows, block_rows)))
    return max(1, min(chunk, num_memories))


def _chunks(num_memories: int, chunk: int) -> Iterator[slice]:
    for start in range(0, num_memories, chunk):
        yield slice(start, min(start + chunk, num_memories))


def _needs_grad(*tensors: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


# --------------------------------------------------------------------------- log-sum-exp


def _scores(
    scaled_queries: torch.Tensor,
    keys: torch.Tensor,
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """``(B, C)`` block ``β q·ξ (+ bias)``, one (add)mm; ``scaled_queries = β q``."""
    if bias is None:
        return scaled_queries @ keys.T
    return torch.addmm(bias, scaled_queries, keys.T)


def _exponent_floor(dtype: torch.dtype) -> float:
    if dtype == torch.float16:
        return float("-inf")  # too narrow a range to clamp without visible error
    return 0.8 * math.log(torch.finfo(dtype).tiny)


def lse_partials(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    *,
    similarity: str = "dot",
    key_sq_norms: torch.Tensor | None = None,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> LSEPartials:
    """Streaming log-sum-exp partials of ``s_μ(x)`` over the memories ``keys``.

    Scores: ``s_μ = β ξ_μ·x`` (``similarity="dot"``) or
    ``s_μ = −(β/2)‖x − ξ_μ‖²`` (``"euclidean"``). Returns :class:`LSEPartials`
    (``weighted`` is ``None`` when ``values`` is ``None``: energy-only pass, one
    matmul per chunk). Partials over disjoint memory sets merge exactly with
    :func:`combine_partials`; an empty ``keys`` gives ``max = −inf``, ``sumexp = 0``.

    Shapes: queries ``(B, D)``, keys ``(K, D)``, values ``(K, Dv)`` or ``None``.
    """
    _check_operands(queries, keys, values)
    _check_similarity(similarity)
    beta = _check_beta(beta)
    return _lse_partials(
        queries, keys, values, beta, similarity, key_sq_norms, chunk_size, budget_bytes
    )


def _lse_partials(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    similarity: str,
    key_sq_norms: torch.Tensor | None,
    chunk_size: int | None,
    budget_bytes: int | None,
) -> LSEPartials:
    num_queries, num_memories = queries.shape[0], keys.shape[0]
    euclidean = similarity == "euclidean"
    norms = _check_key_norms(key_sq_norms, keys) if euclidean else None
    if num_memories == 0:
        return _empty_lse(queries, values)
    chunk = resolve_chunk_size(
        num_queries,
        num_memories,
        keys.shape[1],
        itemsize=queries.element_size(),
        device=queries.device,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    inplace = not _needs_grad(queries, keys, values)
    floor = _exponent_floor(queries.dtype)
    scaled = queries * beta
    run_max: torch.Tensor | None = None
    run_sum = queries.new_zeros(num_queries)
    run_weighted: torch.Tensor | None = None
    for rows in _chunks(num_memories, chunk):
        bias = None if norms is None else norms[rows] * (-0.5 * beta)
        scores = _scores(scaled, keys[rows], bias)
        chunk_max = scores.amax(dim=1)
        new_max = chunk_max if run_max is None else torch.maximum(run_max, chunk_max)
        # Exponents are clamped at 0.8·log(tiny) (−69.9 in float32): such terms are
        # < 1e-30 relative to the largest (= 1), while subnormal results make exp()
        # and the following matmul several times slower on CPUs (measured 3-7x).
        if inplace:
            probs = scores.sub_(new_max[:, None]).clamp_(min=floor).exp_()
        else:
            probs = (scores - new_max[:, None]).clamp(min=floor).exp()
        if run_max is None:
            run_sum = probs.sum(dim=1)
            if values is not None:
                run_weighted = probs @ values[rows]
        else:
            rescale = (run_max - new_max).exp()
            run_sum = run_sum * rescale + probs.sum(dim=1)
            if values is not None and run_weighted is not None:
                if inplace:
                    run_weighted.mul_(rescale[:, None]).addmm_(probs, values[rows])
                else:
                    run_weighted = torch.addmm(run_weighted * rescale[:, None], probs, values[rows])
        run_max = new_max
    assert run_max is not None
    if euclidean:
        run_max = run_max - (0.5 * beta) * queries.square().sum(dim=1)
    return LSEPartials(run_max, run_sum, run_weighted)


def _empty_lse(queries: torch.Tensor, values: torch.Tensor | None) -> LSEPartials:
    num_queries = queries.shape[0]
    weighted = None if values is None else queries.new_zeros(num_queries, values.shape[1])
    return LSEPartials(
        queries.new_full((num_queries,), float("-inf")), queries.new_zeros(num_queries), weighted
    )


def combine_partials(parts: Sequence[LSEPartials]) -> LSEPartials:
    """Merge :class:`LSEPartials` computed over disjoint sets of memories, exactly.

    ``m = max_i m_i``; ``σ = Σ_i σ_i exp(m_i − m)``; ``w = Σ_i w_i exp(m_i − m)``.
    Parts with no memories (``m_i = −inf``) contribute nothing.
    """
    if len(parts) == 0:
        raise ValueError("parts must contain at least one LSEPartials, got an empty sequence")
    new_max = parts[0].max
    for part in parts[1:]:
        new_max = torch.maximum(new_max, part.max)
    safe_max = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
    total_sum = torch.zeros_like(parts[0].sumexp)
    weighted: torch.Tensor | None = None
    has_values = all(part.weighted is not None for part in parts)
    for part in parts:
        rescale = (part.max - safe_max).exp()
        total_sum = total_sum + part.sumexp * rescale
        if has_values and part.weighted is not None:
            term = part.weighted * rescale[:, None]
            weighted = term if weighted is None else weighted + term
    return LSEPartials(new_max, total_sum, weighted)


def finalize_partials(partials: LSEPartials) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(output, logsumexp)`` from partials: ``output = w / σ`` (softmax-weighted
    values, ``None`` if no values were streamed) and ``logsumexp = m + log σ``."""
    logsumexp = partials.max + partials.sumexp.log()
    output = None
    if partials.weighted is not None:
        output = partials.weighted / partials.sumexp[:, None]
    return output, logsumexp


def lse_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    *,
    similarity: str = "dot",
    key_sq_norms: torch.Tensor | None = None,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax retrieval ``Σ_μ softmax_μ(s(x)) v_μ`` and ``logsumexp_μ s_μ(x)``, streamed.

    ``s_μ = β ξ_μ·x`` (``"dot"``) or ``−(β/2)‖x − ξ_μ‖²`` (``"euclidean"``). With
    ``values = None`` the keys are the values (auto-association, the modern
    Hopfield update ``x ← Ξᵀ softmax(β Ξ x)``). Returns ``(output (B, Dv),
    logsumexp (B,))``. Raises ``ValueError`` if ``keys`` is empty.
    """
    if keys.ndim == 2 and keys.shape[0] == 0:
        raise ValueError("keys must hold at least one memory (K ≥ 1), got K = 0")
    vals = keys if values is None else values
    partials = lse_partials(
        queries,
        keys,
        vals,
        beta,
        similarity=similarity,
        key_sq_norms=key_sq_norms,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    output, logsumexp = finalize_partials(partials)
    assert output is not None
    return output, logsumexp


# --------------------------------------------------------------------------- log-sum-ReLU


def lsr_partials(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    *,
    weighting: str = "indicator",
    key_sq_norms: torch.Tensor | None = None,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> LSRPartials:
    """Streaming log-sum-ReLU sums (Epanechnikov kernel, Hoover et al. 2025).

    With ``k_μ(x) = ReLU(1 − (β/2)‖x − ξ_μ‖²)`` returns :class:`LSRPartials`:
    ``Σ_μ k_μ``, ``|B(x)| = #{μ : k_μ > 0}`` and ``Σ_μ a_μ v_μ`` where
    ``a_μ = 1[k_μ > 0]`` (``weighting="indicator"``, used by the exact mean-of-active
    update) or ``a_μ = k_μ`` (``"relu"``). Partials add across chunks and shards
    (:func:`combine_lsr_partials`). ``key_sq_norms`` are ``‖ξ_μ‖²`` (computed here if
    not given). Entries within rounding distance of a support boundary are
    recomputed from ``x − ξ_μ`` (see the module docstring); under autograd the
    plain expansion is used.
    """
    _check_operands(queries, keys, values)
    beta = _check_beta(beta)
    if weighting not in ("indicator", "relu"):
        raise ValueError(f"weighting must be 'indicator' or 'relu', got {weighting!r}")
    norms = _check_key_norms(key_sq_norms, keys)
    num_queries, num_memories = queries.shape[0], keys.shape[0]
    sum_relu = queries.new_zeros(num_queries)
    count = queries.new_zeros(num_queries)
    weighted = None if values is None else queries.new_zeros(num_queries, values.shape[1])
    if num_memories == 0:
        return LSRPartials(sum_relu, count, weighted)
    chunk = resolve_chunk_size(
        num_queries,
        num_memories,
        keys.shape[1],
        itemsize=queries.element_size(),
        device=queries.device,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    inplace = not _needs_grad(queries, keys, values)
    scaled = queries * beta
    query_sq = queries.square().sum(dim=1, keepdim=True)
    query_term = (-0.5 * beta) * query_sq
    margin = _expansion_margin(query_sq, norms, beta, queries.dtype)
    refine = inplace and bool(margin.max() > _REFINE_THRESHOLD)
    pair_budget = max(
        1, (budget_bytes or DEFAULT_MEMORY_BUDGET_BYTES) // (keys.shape[1] * queries.element_size())
    )
    for rows in _chunks(num_memories, chunk):
        bias = 1.0 - (0.5 * beta) * norms[rows]
        block = torch.addmm(bias, scaled, keys[rows].T)
        if refine:
            kernel = _refined_kernel(
                block.add_(query_term), queries, keys[rows], beta, margin, pair_budget
            )
        elif inplace:
            kernel = block.add_(query_term).relu_()
        else:
            kernel = (block + query_term).relu()
        sum_relu = sum_relu + kernel.sum(dim=1)
        if weighting == "indicator":
            active = kernel.sign_() if inplace else kernel.sign()
            count = count + active.sum(dim=1)
        else:
            active = kernel
            count = count + (kernel > 0).sum(dim=1).to(count.dtype)
        if weighted is not None and values is not None:
            if inplace:
                weighted.addmm_(active, values[rows])
            else:
                weighted = torch.addmm(weighted, active, values[rows])
    return LSRPartials(sum_relu, count, weighted)


_REFINE_THRESHOLD = 1e-7


def _expansion_margin(
    query_sq: torch.Tensor, key_sq: torch.Tensor, beta: float, dtype: torch.dtype
) -> torch.Tensor:
    """Bound (with a safety factor) on the rounding error of
    ``1 − (β/2)(‖x‖² − 2x·ξ + ‖ξ‖²)`` per query, ``(B, 1)``: the expansion loses
    ``≈ u √D (‖x‖ + ‖ξ‖)²`` in ``‖x − ξ‖²``."""
    unit = torch.finfo(dtype).eps
    largest_key = key_sq.max().sqrt()
    return (4.0 * beta * unit) * (query_sq.sqrt() + largest_key).square()


def _refined_kernel(
    block: torch.Tensor,
    queries: torch.Tensor,
    keys: torch.Tensor,
    beta: float,
    margin: torch.Tensor,
    pair_budget: int,
) -> torch.Tensor:
    """``ReLU(1 − (β/2)‖x − ξ‖²)`` from the expanded ``block`` (pre-ReLU), with every
    entry within rounding distance of the support recomputed from the exact
    difference ``x − ξ`` (candidates are few: the kernel has compact support)."""
    scale = float(keys.shape[1]) ** 0.5
    candidates = (block > -scale * margin).nonzero()
    block.relu_()
    for start in range(0, candidates.shape[0], pair_budget):
        pairs = candidates[start : start + pair_budget]
        diff = queries[pairs[:, 0]] - keys[pairs[:, 1]]
        exact = (1.0 - (0.5 * beta) * diff.square().sum(dim=1)).relu_()
        block[pairs[:, 0], pairs[:, 1]] = exact
    return block


def combine_lsr_partials(parts: Sequence[LSRPartials]) -> LSRPartials:
    """Merge :class:`LSRPartials` over disjoint memory sets (all fields add)."""
    if len(parts) == 0:
        raise ValueError("parts must contain at least one LSRPartials, got an empty sequence")
    sum_relu, count, weighted = parts[0]
    for part in parts[1:]:
        sum_relu = sum_relu + part.sum_relu
        count = count + part.num_active
        if weighted is not None and part.weighted is not None:
            weighted = weighted + part.weighted
    return LSRPartials(sum_relu, count, weighted)


def lsr_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    *,
    key_sq_norms: torch.Tensor | None = None,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean of the active memories and the kernel sums, streamed.

    Returns ``(mean (B, Dv), sum_relu (B,), count (B,))`` with
    ``mean = Σ_{μ∈B(x)} v_μ / |B(x)|`` (the exact one-step LSR update,
    Hoover et al. 2025); rows with no active memory get ``mean = 0`` and
    ``count = 0``: callers decide what to do there.
    """
    vals = keys if values is None else values
    parts = lsr_partials(
        queries,
        keys,
        vals,
        beta,
        weighting="indicator",
        key_sq_norms=key_sq_norms,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    assert parts.weighted is not None
    mean = parts.weighted / parts.num_active.clamp_min(1.0)[:, None]
    return mean, parts.sum_relu, parts.num_active


# --------------------------------------------------------------------------- separation F


def separation_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    derivative: Callable[[torch.Tensor], torch.Tensor],
    *,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> torch.Tensor:
    """Dense-AM field ``Σ_μ F'(ξ_μ·x) v_μ`` for any separation derivative ``F'``, streamed.

    Krotov & Hopfield (2016): with ``E(x) = −Σ_μ F(ξ_μ·x)`` the continuous update is
    ``x ← Ξᵀ F'(Ξ x)`` (``values = None``: keys are the values). ``derivative`` maps a
    ``(B, C)`` block of overlaps to ``F'`` of it (it may work in place).
    Returns ``(B, Dv)``.
    """
    _check_operands(queries, keys, values)
    vals = keys if values is None else values
    num_queries, num_memories = queries.shape[0], keys.shape[0]
    out = queries.new_zeros(num_queries, vals.shape[1])
    if num_memories == 0:
        return out
    chunk = resolve_chunk_size(
        num_queries,
        num_memories,
        keys.shape[1],
        itemsize=queries.element_size(),
        device=queries.device,
        chunk_size=chunk_size,
        budget_bytes=budget_bytes,
    )
    inplace = not _needs_grad(queries, keys, vals)
    for rows in _chunks(num_memories, chunk):
        field = derivative(queries @ keys[rows].T)
        if inplace:
            out.addmm_(field, vals[rows])
        else:
            out = torch.addmm(out, field, vals[rows])
    return out


def polynomial_retrieve(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    degree: int,
    *,
    rectified: bool = False,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
) -> torch.Tensor:
    """Polynomial Dense-AM field ``Σ_μ n (ξ_μ·x)^{n−1} v_μ`` (``F(z) = zⁿ``, or
    ``ReLU(z)ⁿ`` with ``rectified``), streamed; Krotov & Hopfield (2016).

    The overlap block is raised to the power in place (no extra temporaries).
    Returns ``(B, Dv)``.
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree must be an int ≥ 1, got {degree!r}")
    check_finite(check_floating(queries, "queries"), "queries")
    power = degree - 1

    def derivative(overlaps: torch.Tensor) -> torch.Tensor:
        if not _needs_grad(overlaps):
            if rectified:
                overlaps.relu_()
            return overlaps.pow_(power).mul_(float(degree))
        base = overlaps.relu() if rectified else overlaps
        return base.pow(power) * float(degree)

    return separation_retrieve(
        queries, keys, values, derivative, chunk_size=chunk_size, budget_bytes=budget_bytes
    )


# --------------------------------------------------------------------------- top-k / sparse

NORMALIZERS: tuple[str, ...] = ("softmax", "sparsemax", "entmax15")
"""Normalisers of :func:`topk_retrieve` and :func:`support_retrieve`."""

_TSALLIS_ALPHA = {"sparsemax": 2.0, "entmax15": 1.5}


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
    _check_operands(queries, keys, None)
    _check_similarity(similarity)
    beta = _check_beta(beta)
    k = _check_k(k, keys.shape[0])
    norms = _check_key_norms(key_sq_norms, keys) if similarity == "euclidean" else None
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
        for rows in _chunks(keys.shape[0], chunk):
            bias = None if norms is None else norms[rows].detach() * (-0.5 * beta)
            block = _scores(scaled, keys[rows].detach(), bias)
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
        norms = _check_key_norms(key_sq_norms, keys)[indices]
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


def _retrieve_selected(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    indices: torch.Tensor,
    beta: float,
    normalizer: str,
    similarity: str,
    key_sq_norms: torch.Tensor | None,
) -> SparseRetrieval:
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
    _check_operands(queries, keys, vals)
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
    return _retrieve_selected(
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
    _check_operands(queries, keys, vals)
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
