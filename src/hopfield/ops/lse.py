"""Streamed log-sum-exp retrieval (modern Hopfield networks).

Ramsauer et al. 2020, "Hopfield Networks is All You Need": energy
``E(x) = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²`` and update
``x ← Ξᵀ softmax(β Ξ x)``. For scores ``s_μ = β ξ_μ·x (+ b_μ)`` the kernel keeps,
per query, the running maximum ``m``, the running sum ``σ = Σ exp(s_μ − m)`` and
the running weighted sum ``w = Σ exp(s_μ − m) v_μ``; merging two partials
rescales by ``exp(m_old − m_new)`` (the online-softmax identity). At the end
``softmax-weighted output = w / σ`` and ``logsumexp = m + log σ``. Every exponent
is ≤ 0, so nothing overflows for any β (tested up to β = 1e6).

Cost per chunk: one ``addmm`` for the scores (``2·B·C·D`` FLOP) and one for the
values (``2·B·C·Dv`` FLOP); the score block is exponentiated in place. The
Euclidean score ``−(β/2)‖x − ξ‖²`` is expanded as
``β x·ξ − (β/2)‖ξ‖² − (β/2)‖x‖²`` so it is still one matmul per chunk; pass the
squared norms ``‖ξ‖²`` (computed once when patterns are stored) as
``key_sq_norms``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from hopfield.ops.chunking import (
    check_beta,
    check_operands,
    check_similarity,
    chunk_slices,
    key_sq_norms_or_compute,
    needs_grad,
    resolve_chunk_size,
    score_block,
)
from hopfield.ops.few_queries import fused_partials, plan_kernel

__all__ = [
    "LSEPartials",
    "combine_partials",
    "finalize_partials",
    "lse_partials",
    "lse_retrieve",
]


class LSEPartials(NamedTuple):
    """Partial log-sum-exp state over a subset of memories (all per query).

    ``max`` ``(B,)``: largest score seen (−inf if none); ``sumexp`` ``(B,)``:
    ``Σ exp(s_μ − max)``; ``weighted`` ``(B, Dv)`` or ``None``:
    ``Σ exp(s_μ − max) v_μ``.
    """

    max: torch.Tensor
    sumexp: torch.Tensor
    weighted: torch.Tensor | None


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
    kernel: str = "auto",
) -> LSEPartials:
    """Streaming log-sum-exp partials of ``s_μ(x)`` over the memories ``keys``.

    Scores: ``s_μ = β ξ_μ·x`` (``similarity="dot"``) or
    ``s_μ = −(β/2)‖x − ξ_μ‖²`` (``"euclidean"``). Returns :class:`LSEPartials`
    (``weighted`` is ``None`` when ``values`` is ``None``: energy-only pass, one
    matmul per chunk). Partials over disjoint memory sets merge exactly with
    :func:`combine_partials`; an empty ``keys`` gives ``max = −inf``, ``sumexp = 0``.

    ``kernel``: ``"chunked"`` is the chunk loop (``2`` matrix products per chunk of
    ``C`` rows, see :func:`resolve_chunk_size`); ``"native"`` and ``"sdpa"`` are the
    one-pass fused kernels of :mod:`hopfield.ops.few_queries` (used only where they
    apply: no autograd, CPU, float32; otherwise the chunk loop runs); ``"auto"`` uses
    a fused kernel for up to :data:`~hopfield.ops.few_queries.FEW_QUERIES` queries.
    All give the same partials up to float rounding.

    Shapes: queries ``(B, D)``, keys ``(K, D)``, values ``(K, Dv)`` or ``None``.
    """
    check_operands(queries, keys, values)
    check_similarity(similarity)
    beta = check_beta(beta)
    grad = needs_grad(queries, keys, values, key_sq_norms)
    plan = plan_kernel(kernel, queries, keys, values, grad=grad)
    if plan != "chunked" and keys.shape[0] > 0:
        return _fused_lse_partials(plan, queries, keys, values, beta, similarity, key_sq_norms)
    return _lse_partials(
        queries, keys, values, beta, similarity, key_sq_norms, chunk_size, budget_bytes
    )


def _fused_lse_partials(
    plan: str,
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    similarity: str,
    key_sq_norms: torch.Tensor | None,
) -> LSEPartials:
    bias = None
    if similarity == "euclidean":
        bias = key_sq_norms_or_compute(key_sq_norms, keys) * (-0.5 * beta)
    floor = _exponent_floor(queries.dtype)
    run_max, run_sum, weighted = fused_partials(plan, queries, keys, values, beta, bias, floor)
    if similarity == "euclidean":
        run_max = run_max - (0.5 * beta) * queries.square().sum(dim=1)
    return LSEPartials(run_max, run_sum, None if values is None else weighted)


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
    norms = key_sq_norms_or_compute(key_sq_norms, keys) if euclidean else None
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
    inplace = not needs_grad(queries, keys, values)
    floor = _exponent_floor(queries.dtype)
    scaled = queries * beta
    run_max: torch.Tensor | None = None
    run_sum = queries.new_zeros(num_queries)
    run_weighted: torch.Tensor | None = None
    for rows in chunk_slices(num_memories, chunk):
        bias = None if norms is None else norms[rows] * (-0.5 * beta)
        scores = score_block(scaled, keys[rows], bias)
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
    kernel: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax retrieval ``Σ_μ softmax_μ(s(x)) v_μ`` and ``logsumexp_μ s_μ(x)``, streamed.

    ``s_μ = β ξ_μ·x`` (``"dot"``) or ``−(β/2)‖x − ξ_μ‖²`` (``"euclidean"``). With
    ``values = None`` the keys are the values (auto-association, the modern
    Hopfield update ``x ← Ξᵀ softmax(β Ξ x)``). Returns ``(output (B, Dv),
    logsumexp (B,))``. ``kernel`` as in :func:`lse_partials`. Raises ``ValueError``
    if ``keys`` is empty.
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
        kernel=kernel,
    )
    output, logsumexp = finalize_partials(partials)
    assert output is not None
    return output, logsumexp
