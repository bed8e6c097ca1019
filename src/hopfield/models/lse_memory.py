"""The log-sum-exp memory, written once; where its patterns live is a pattern source.

Ramsauer et al. (2020), "Hopfield Networks is All You Need". With stored patterns
``Ξ = (ξ_1, …, ξ_K)ᵀ`` ``(K, D)``, a state ``x`` and scores ``s_μ(x) = β ξ_μ·x``
(``similarity="dot"``) or ``−(β/2)‖x − ξ_μ‖²`` (``"euclidean"``):

* energy (:func:`energy_from_lse`): ``E(x) = −β⁻¹ log Σ_μ exp(s_μ(x)) (+ ½‖x‖² for dot)``
  (the paper's constants ``β⁻¹ log K + ½ max_μ‖ξ_μ‖²`` are omitted);
* gradient (:func:`lse_energy_grad`): ``∇E(x) = x − Ξᵀ softmax(s(x))``;
* update (:func:`lse_update`, CCCP, ``E`` never rises): ``x ← Ξᵀ softmax(s(x))``;
* exact top-``k`` retrieval (:func:`lse_topk`): the softmax over the ``k`` largest
  scores, ``−∞`` elsewhere.

Every one of them only needs ``Ξ`` through sums over ``μ``, so it is computed from
log-sum-exp partials ``(m, σ, w)`` (:class:`~hopfield.ops.streaming.LSEPartials`) that
merge exactly over disjoint pattern sets. A :class:`PatternSource` yields those
partials for its patterns: :class:`TensorSource` (a tensor in RAM,
:class:`~hopfield.models.modern.ModernHopfield`), a disk store
(:class:`~hopfield.models.streaming_memory.StreamingMemory`) or a shard plus the other
ranks' partial sums (:class:`~hopfield.distributed.sharded.ShardedMemory`). The three
memories are :class:`LogSumExpMemory` with a different source; their energy,
gradient, update and top-``k`` are the functions of this module.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch

from hopfield._validation import check_choice
from hopfield.models.dense_base import DenseMemory
from hopfield.models.storage import (
    Storage,
    StorageDType,
    as_storage,
    compute_dtype_of,
    dequantize,
    quantize,
    stored_dtype,
)
from hopfield.ops.few_queries import native_max_queries, plan_threads
from hopfield.ops.native import native_available, native_lse_partials
from hopfield.ops.streaming import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    LSEPartials,
    combine_partials,
    finalize_partials,
    lse_partials,
    merge_topk,
    resolve_chunk_size,
)

__all__ = [
    "SIMILARITIES",
    "LogSumExpMemory",
    "PatternSource",
    "TensorSource",
    "TopKRetrieval",
    "energy_from_lse",
    "lse_energy",
    "lse_energy_grad",
    "lse_topk",
    "lse_update",
]

_FLOAT32_EXPONENT_FLOOR = 0.8 * math.log(torch.finfo(torch.float32).tiny)
"""Exponents are clamped there, as in :mod:`hopfield.ops.lse` (terms < 1e-30 relative)."""

SIMILARITIES: tuple[str, ...] = ("dot", "euclidean")
"""Scores ``β ξ_μ·x`` (``"dot"``) and ``−(β/2)‖x − ξ_μ‖²`` (``"euclidean"``)."""


# --------------------------------------------------------------------------- the math


def energy_from_lse(
    states: torch.Tensor,
    logsumexp: torch.Tensor,
    beta: float | torch.Tensor,
    *,
    similarity: str = "dot",
) -> torch.Tensor:
    """``E = −β⁻¹ Ω + ½‖x‖²`` (the ``½‖x‖²`` for ``"dot"`` only), per state.

    ``Ω`` is ``log Σ_μ exp(s_μ)`` for the log-sum-exp energy, or any regularised max
    ``max_{p∈Δ} ⟨p, s⟩ + H(p)`` for its sparse variants (the Euclidean scores already
    contain ``−(β/2)‖x‖²``). Shapes: ``states`` ``(..., D)``, ``logsumexp`` ``(...)``;
    ``beta`` a float or a tensor broadcasting against ``logsumexp``.
    """
    energy = -logsumexp / beta
    if similarity == "dot":
        energy = energy + 0.5 * (states * states).sum(dim=-1)
    return energy


def lse_energy_grad(states: torch.Tensor, retrieved: torch.Tensor) -> torch.Tensor:
    """``∇E(x) = x − Ξᵀ p(x)`` from the update's output ``Ξᵀ p(x)`` (``p`` the softmax,
    or the sparse normaliser's weights; both scores give the same form)."""
    return states - retrieved


def lse_energy(
    source: PatternSource, states: torch.Tensor, beta: float, *, similarity: str
) -> torch.Tensor:
    """``E(x)`` ``(B,)`` over every pattern of ``source``: one pass, scores only."""
    parts = source.partials(states, beta, similarity=similarity, with_values=False)
    return energy_from_lse(states, parts.max + parts.sumexp.log(), beta, similarity=similarity)


def lse_update(
    source: PatternSource, states: torch.Tensor, beta: float, *, similarity: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Ξᵀ softmax(s(x)), E(x))``: the CCCP update and the energy of its input, one pass."""
    parts = source.partials(states, beta, similarity=similarity, with_values=True)
    retrieved, logsumexp = finalize_partials(parts)
    assert retrieved is not None
    return retrieved, energy_from_lse(states, logsumexp, beta, similarity=similarity)


class TopKRetrieval(NamedTuple):
    """Result of exact top-``k`` retrieval (:func:`lse_topk`).

    ``values`` ``(B, D)``: ``Σ_j weights_j ξ_{indices_j}``; ``indices`` ``(B, k)``
    (int64, global row numbers, by decreasing score); ``weights`` ``(B, k)``: softmax
    of ``scores`` ``(B, k)`` (the ``k`` largest ``s_μ(x)``).
    """

    values: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor
    scores: torch.Tensor


def lse_topk(
    source: PatternSource, states: torch.Tensor, beta: float, k: int, *, similarity: str
) -> TopKRetrieval:
    """Exact top-``k`` retrieval ``x ← Σ_{μ∈T_k(x)} softmax(s)_μ ξ_μ`` over ``source``.

    ``T_k(x)`` are the ``k`` memories with the largest scores, i.e. the softmax with
    ``−∞`` on every other score. The source returns the best ``k`` scores with their
    global indices and rows, so no second pass over the patterns is needed.
    """
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if not 1 <= k <= source.num_patterns:
        raise ValueError(f"k must lie in [1, {source.num_patterns}] (K), got {k}")
    scores, indices, rows = source.topk(states, beta, k, similarity=similarity)
    weights = torch.softmax(scores, dim=1)
    values = torch.einsum("bk,bkd->bd", weights, rows.to(weights.dtype))
    return TopKRetrieval(values, indices, weights, scores)


# --------------------------------------------------------------------------- sources


def block_topk(
    states: torch.Tensor,
    rows: torch.Tensor,
    beta: float,
    k: int,
    first_index: int,
    *,
    similarity: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-``min(k, C)`` of the scores of ``rows`` ``(C, D)``: ``(scores, global indices,
    rows (B, k', D))``, best first."""
    scores = (states * beta) @ rows.T
    if similarity == "euclidean":
        scores.add_(rows.square().sum(dim=1), alpha=-0.5 * beta)
        scores.add_(states.square().sum(dim=1, keepdim=True), alpha=-0.5 * beta)
    top, local = scores.topk(min(k, rows.shape[0]), dim=1)
    return top, local + first_index, rows[local]


class PatternSource(ABC):
    """Where the patterns of a :class:`LogSumExpMemory` live.

    A source yields its patterns as chunks (:meth:`chunks`); the default
    :meth:`partials` and :meth:`topk` stream them through the log-sum-exp kernel of
    :mod:`hopfield.ops.streaming` and merge the chunks exactly. Sources whose
    patterns are partly elsewhere (other ranks) override both to merge the remote
    partial sums.
    """

    budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES

    @property
    @abstractmethod
    def num_patterns(self) -> int:
        """Number of patterns ``K``."""

    @abstractmethod
    def chunks(
        self, *, keep: bool = False
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
        """``(first row, keys (C, D), ‖ξ_μ‖² (C,) or None)`` in the compute dtype.

        With ``keep`` (autograd recording) a chunk must not be overwritten later."""

    def kernel_chunk_size(self) -> int | None:
        """Memories per kernel chunk inside one yielded chunk (``None``: the budget)."""
        return None

    def partials(
        self, states: torch.Tensor, beta: float, *, similarity: str, with_values: bool
    ) -> LSEPartials:
        """Log-sum-exp partials of ``s(x)`` over every pattern (values = the patterns)."""
        total: LSEPartials | None = None
        recording = torch.is_grad_enabled() and states.requires_grad
        for _, keys, norms in self.chunks(keep=recording):
            part = lse_partials(
                states,
                keys,
                keys if with_values else None,
                beta,
                similarity=similarity,
                key_sq_norms=norms if similarity == "euclidean" else None,
                chunk_size=self.kernel_chunk_size(),
                budget_bytes=self.budget_bytes,
            )
            total = part if total is None else combine_partials([total, part])
        assert total is not None, "a pattern source yields at least one chunk"
        return total

    def topk(
        self, states: torch.Tensor, beta: float, k: int, *, similarity: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ``k`` largest scores ``(B, k)``, their global indices and rows
        ``(B, k, D)``, best first: each block's own top-``k`` merged into a running best
        set (memory ``O(B·k·D)`` plus one block)."""
        best: tuple[torch.Tensor, ...] | None = None
        with torch.no_grad():
            for start, keys, _ in self.chunks():
                block = resolve_chunk_size(
                    states.shape[0],
                    keys.shape[0],
                    keys.shape[1],
                    itemsize=states.element_size(),
                    device=states.device,
                    chunk_size=self.kernel_chunk_size(),
                    budget_bytes=self.budget_bytes,
                )
                for offset in range(0, keys.shape[0], block):
                    rows = keys[offset : offset + block]
                    candidate = block_topk(
                        states, rows, beta, k, start + offset, similarity=similarity
                    )
                    best = candidate if best is None else merge_topk(best, candidate, k)
        assert best is not None, "a pattern source yields at least one chunk"
        scores, indices, rows = best
        return scores, indices, rows


WIDEN_BLOCK_BYTES: int = 4 * 2**20
"""Bytes of widened (float32) rows per block of a low-precision store: small enough to
stay cache resident between the widening and the two matmuls."""


def widened_blocks(
    codes: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype, first_row: int = 0
) -> Iterator[tuple[int, torch.Tensor]]:
    """``(first row, ξ̂ block)``: cache-sized blocks of ``codes`` widened to ``dtype``
    (:func:`~hopfield.models.storage.dequantize`)."""
    rows = max(256, WIDEN_BLOCK_BYTES // max(1, codes.shape[1] * dtype.itemsize))
    for start in range(0, codes.shape[0], rows):
        block = codes[start : start + rows]
        scale = scales[start : start + rows] if scales.numel() else scales
        yield first_row + start, dequantize(block, scale, dtype)


class TensorSource(PatternSource):
    """Patterns held in one tensor ``(K, D)`` (RAM or one device), with their cached
    squared norms; the kernel chunks it by ``chunk_size`` or the budget.

    Low-precision codes (bf16 / fp16, or int8 with per-pattern ``scales``, see
    :mod:`hopfield.models.storage`) are widened to ``dtype`` one cache-sized block at
    a time (:func:`widened_blocks`) and streamed like chunks of a disk store.
    """

    def __init__(
        self,
        patterns: torch.Tensor,
        sq_norms: torch.Tensor | None = None,
        *,
        scales: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
        chunk_size: int | None = None,
        budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        self.patterns = patterns
        self.sq_norms = sq_norms
        self.scales = patterns.new_empty(0, dtype=torch.float32) if scales is None else scales
        self.dtype = patterns.dtype if dtype is None else dtype
        self.chunk_size = chunk_size
        self.budget_bytes = budget_bytes

    @property
    def num_patterns(self) -> int:
        return int(self.patterns.shape[0])

    @property
    def widens(self) -> bool:
        """The stored codes are not in the arithmetic dtype."""
        return self.patterns.dtype != self.dtype

    def chunks(
        self, *, keep: bool = False
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
        if not self.widens:
            if self.num_patterns:
                yield 0, self.patterns, self.sq_norms
            return
        for start, block in widened_blocks(self.patterns, self.scales, self.dtype):
            norms = None if self.sq_norms is None else self.sq_norms[start : start + len(block)]
            yield start, block, norms

    def kernel_chunk_size(self) -> int | None:
        return self.chunk_size

    def _native_partials(
        self, states: torch.Tensor, beta: float, similarity: str
    ) -> LSEPartials | None:
        """Partials straight from bf16 or int8 codes with the native few-query kernel
        (float32 accumulation, int8 rows times their scale), or ``None`` where it does
        not apply (then cache-sized blocks are widened instead)."""
        codes = self.patterns
        applies = (
            codes.dtype in (torch.bfloat16, torch.int8)
            and self.dtype == torch.float32
            and states.dtype == torch.float32
            and states.device.type == "cpu"
            and 0 < states.shape[0] <= native_max_queries()
            and codes.is_contiguous()
            and not (torch.is_grad_enabled() and states.requires_grad)
            and native_available()
        )
        if not applies:
            return None
        euclidean = similarity == "euclidean"
        bias = None
        if euclidean:
            norms = self.sq_norms if self.sq_norms is not None else self.chunks_norms()
            bias = (norms * (-0.5 * beta)).to(torch.float32).contiguous()
        run_max, run_sum, weighted = native_lse_partials(
            states.contiguous(),
            codes,
            None,
            beta,
            bias=bias,
            key_scales=self.scales if codes.dtype == torch.int8 else None,
            floor=_FLOAT32_EXPONENT_FLOOR,
            num_threads=plan_threads(codes.numel() * codes.element_size()),
        )
        if euclidean:
            run_max = run_max - (0.5 * beta) * states.square().sum(dim=1)
        return LSEPartials(run_max, run_sum, weighted)

    def chunks_norms(self) -> torch.Tensor:
        """``‖ξ̂_μ‖²`` of every stored pattern (when no cached norms were given)."""
        return dequantize(self.patterns, self.scales, self.dtype).square().sum(dim=1)

    def partials(
        self, states: torch.Tensor, beta: float, *, similarity: str, with_values: bool
    ) -> LSEPartials:
        if self.widens and self.num_patterns:
            fused = self._native_partials(states, beta, similarity)
            if fused is not None:
                return fused._replace(weighted=fused.weighted if with_values else None)
            return super().partials(states, beta, similarity=similarity, with_values=with_values)
        # Also defined for K = 0 (an empty shard): max = −inf, sumexp = 0.
        keys = self.patterns.to(self.dtype)  # no copy unless empty codes
        return lse_partials(
            states,
            keys,
            keys if with_values else None,
            beta,
            similarity=similarity,
            key_sq_norms=self.sq_norms if similarity == "euclidean" else None,
            chunk_size=self.chunk_size,
            budget_bytes=self.budget_bytes,
        )


# --------------------------------------------------------------------------- the memory


class LogSumExpMemory(DenseMemory):
    """Modern Hopfield memory (Ramsauer et al. 2020) over a :class:`PatternSource`.

    Energy ``E(x) = −β⁻¹ log Σ_μ exp(s_μ(x)) (+ ½‖x‖² for "dot")``, gradient
    ``∇E = x − Ξᵀ softmax(s(x))``, update ``x ← Ξᵀ softmax(s(x))`` (never raises
    ``E``), exact top-``k`` retrieval :meth:`retrieve_topk`; scores
    ``s_μ = β ξ_μ·x`` (``"dot"``) or ``−(β/2)‖x − ξ_μ‖²`` (``"euclidean"``).
    Subclasses only say where the patterns live (:meth:`pattern_source`).
    """

    scales: torch.Tensor
    _resizable_buffers = ("patterns", "sq_norms", "scales")

    def __init__(
        self,
        beta: float = 1.0,
        *,
        similarity: str = "dot",
        storage: Storage | str | None = None,
        chunk_size: int | None = None,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        super().__init__(beta, chunk_size=chunk_size, memory_budget_bytes=memory_budget_bytes)
        self.similarity = check_choice(similarity, "similarity", SIMILARITIES)
        self.storage = as_storage(storage)
        codes = stored_dtype(self.storage, torch.float32)
        self.patterns = torch.empty(0, 0, dtype=codes)
        self.register_buffer("scales", torch.empty(0))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "similarity": self.similarity,
            "storage": self.storage.name_in_config,
        }

    # ------------------------------------------------------------------ storage
    def _compute_target(self) -> tuple[torch.device | None, torch.dtype]:
        return None, compute_dtype_of(self.storage, self.patterns.dtype)

    def _first_store_dtype(self, dtype: torch.dtype) -> torch.dtype:
        return dtype if self.storage is StorageDType.full else torch.float32

    def _append(self, new: torch.Tensor) -> None:
        """Store ``new`` under :attr:`storage` (codes, int8 scales and the squared norms
        of the stored ``ξ̂_μ``)."""
        codes, scales = quantize(new, self.storage)
        norms = dequantize(codes, scales, new.dtype).square().sum(dim=1)
        if self.num_patterns:
            codes = torch.cat([self.patterns, codes])
            scales = torch.cat([self.scales, scales])
            norms = torch.cat([self.sq_norms, norms])
        self.patterns, self.scales, self.sq_norms = codes.contiguous(), scales, norms

    def clear(self) -> None:
        super().clear()
        self.scales = self.scales.new_empty(0)

    def stored_patterns(self) -> torch.Tensor:
        """The stored patterns ``ξ̂`` ``(K, D)`` in the arithmetic dtype (the buffer
        itself for full storage, else a widened copy)."""
        return dequantize(self.patterns, self.scales, self._compute_target()[1])

    def pattern_source(self) -> PatternSource:
        """The source of the stored patterns (default: the ``patterns`` buffer)."""
        return TensorSource(
            self.patterns,
            self.sq_norms,
            scales=self.scales,
            dtype=self._compute_target()[1],
            chunk_size=self.chunk_size,
            budget_bytes=self.memory_budget_bytes,
        )

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """``E(x)`` ``(B,)``, one pass over the patterns (scores only)."""
        x = self._check_states(states, "states")
        return lse_energy(self.pattern_source(), x, self.beta, similarity=self.similarity)

    def energy_grad(self, states: torch.Tensor) -> torch.Tensor:
        """Closed-form ``∇E(x) = x − Ξᵀ p(x)`` ``(B, D)``, one pass."""
        x = self._check_states(states, "states")
        retrieved, _ = self._update(x)
        return lse_energy_grad(x, retrieved)

    def _update(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return lse_update(self.pattern_source(), states, self.beta, similarity=self.similarity)

    def _energy_and_grad(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        retrieved, energy = self._update(states)
        return energy, lse_energy_grad(states, retrieved)

    def retrieve_topk(self, queries: torch.Tensor, k: int) -> TopKRetrieval:
        """Exact top-``k`` retrieval ``Σ_{μ∈T_k(x)} softmax(s)_μ ξ_μ`` (:func:`lse_topk`).

        ``T_k(x)`` are the ``k`` memories with the largest scores; one pass over the
        patterns, memory ``O(B·k·D)`` plus one chunk.
        """
        x = self._check_states(queries, "queries")
        return lse_topk(self.pattern_source(), x, self.beta, k, similarity=self.similarity)
