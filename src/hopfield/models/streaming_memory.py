"""Modern Hopfield memory whose patterns stay on disk and are streamed in chunks.

Ramsauer et al. (2020), "Hopfield Networks is All You Need". Stored patterns
``Ξ = (ξ_1, …, ξ_K)ᵀ`` ``(K, D)`` live in a :class:`~hopfield.io.pattern_store.PatternStore`
(``.npy`` or ``.safetensors``); for a state ``x``:

* ``similarity="dot"``: ``E(x) = −β⁻¹ log Σ_μ exp(β ξ_μ·x) + ½‖x‖²``;
* ``similarity="euclidean"``: ``E(x) = −β⁻¹ log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)``;
* update (CCCP, ``E`` never rises): ``x ← Ξᵀ softmax_μ(s_μ(x))``.

These are exactly the energies and update of
:class:`~hopfield.models.modern.ModernHopfield`; only where ``Ξ`` lives differs.
The store is read ``chunk_size`` rows at a time; each chunk gives log-sum-exp
partials ``(m_c, σ_c, w_c)`` (:func:`hopfield.ops.streaming.lse_partials`) and the
running state is merged with :func:`~hopfield.ops.streaming.combine_partials`
(``m = max(m, m_c)``, ``σ = σ e^{m_old−m} + σ_c e^{m_c−m}``, same for ``w``), which
is exact: the result equals the in-memory model up to float rounding.

Memory: one chunk buffer ``C·D`` (reused, see
:meth:`~hopfield.io.pattern_store.PatternStore.iter_chunks`), the running partials
``B·(D + 2)``, the ``(B, C')`` score block of the kernel (``C' ≤ C``, bounded by
``memory_budget_bytes``) and the output ``B·D`` — ``O(B·D + C·D)`` whatever ``K``.
How the stores keep file pages out of the RSS is explained in
:mod:`hopfield.io.pattern_store`.

Exact top-k retrieval (:meth:`StreamingMemory.retrieve_topk`): a streaming top-k of
the scores (per chunk ``topk``, merged with the running best ``k``), then the
softmax over those ``k`` scores with ``−∞`` elsewhere:
``x ← Σ_{μ∈top-k} softmax(s)_μ ξ_μ``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch

from hopfield._validation import check_tensor
from hopfield.io.pattern_store import PatternStore, open_store
from hopfield.models.modern import DenseMemory
from hopfield.ops.streaming import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    LSEPartials,
    combine_partials,
    finalize_partials,
    lse_partials,
    merge_topk,
    resolve_chunk_size,
)

__all__ = ["DEFAULT_STREAM_CHUNK", "StreamingMemory", "TopKRetrieval"]

DEFAULT_STREAM_CHUNK: int = 65536
"""Default rows per disk read (32 MiB at ``D = 128``, float32)."""

_SIMILARITIES = ("dot", "euclidean")


class TopKRetrieval(NamedTuple):
    """Result of :meth:`StreamingMemory.retrieve_topk`.

    ``values`` ``(B, D)``: ``Σ_j weights_j ξ_{indices_j}``; ``indices`` ``(B, k)``
    (int64, global row numbers, by decreasing score); ``weights`` ``(B, k)``: softmax
    of ``scores`` ``(B, k)`` (the ``k`` largest ``s_μ(x)``).
    """

    values: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor
    scores: torch.Tensor


class StreamingMemory(DenseMemory):
    """Modern Hopfield network (Ramsauer et al. 2020) over patterns streamed from disk.

    Energy ``E(x) = −β⁻¹ log Σ_μ exp(s_μ(x)) (+ ½‖x‖² for "dot")``, update
    ``x ← Ξᵀ softmax(s(x))`` with ``s_μ = β ξ_μ·x`` (``"dot"``) or
    ``−(β/2)‖x − ξ_μ‖²`` (``"euclidean"``): the same numbers as
    :class:`~hopfield.models.modern.ModernHopfield` holding ``Ξ`` in memory, with
    ``O(B·D + chunk_size·D)`` resident memory for any ``K``.

    Args:
        store: a :class:`~hopfield.io.pattern_store.PatternStore` or a path to a ``.npy``
            / ``.safetensors`` file (opened with ``key`` / ``access``).
        beta: inverse temperature ``β > 0``.
        similarity: ``"dot"`` or ``"euclidean"``.
        chunk_size: pattern rows per disk read ``C``.
        memory_budget_bytes: bound on one ``(B, C')`` score block inside a chunk.
        key: tensor name in a safetensors file.
        access: ``"read"`` or ``"mmap"`` for ``.npy`` files.
        device: where the arithmetic runs (chunks are copied there).

    Computation is in the store's dtype (float32 for float16/bfloat16 stores).
    The ``patterns`` buffer inherited from :class:`DenseMemory` stays empty; patterns
    are added with :class:`~hopfield.io.pattern_store.PatternWriter`, not :meth:`store`.
    """

    def __init__(
        self,
        store: PatternStore | str | os.PathLike[str],
        beta: float = 1.0,
        *,
        similarity: str = "dot",
        chunk_size: int = DEFAULT_STREAM_CHUNK,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
        key: str = "patterns",
        access: str = "read",
        device: str | torch.device = "cpu",
    ) -> None:
        if chunk_size is None:
            raise ValueError("chunk_size must be an int ≥ 1 (rows per disk read), got None")
        super().__init__(beta, chunk_size=chunk_size, memory_budget_bytes=memory_budget_bytes)
        if similarity not in _SIMILARITIES:
            raise ValueError(f"similarity must be one of {_SIMILARITIES}, got {similarity!r}")
        if isinstance(store, PatternStore):
            self.pattern_store = store
        elif isinstance(store, str | os.PathLike):
            self.pattern_store = open_store(store, key=key, access=access)
        else:
            raise TypeError(f"store must be a PatternStore or a path, got {type(store).__name__}")
        if self.pattern_store.num_patterns == 0:
            raise ValueError(f"store {str(self.pattern_store.path)!r} holds no patterns (K = 0)")
        self.similarity = similarity
        self.key = key
        self.access = access
        self.device = torch.device(device)
        low_precision = self.pattern_store.dtype in (torch.float16, torch.bfloat16)
        self.compute_dtype = torch.float32 if low_precision else self.pattern_store.dtype

    # ------------------------------------------------------------------ memory
    @property
    def num_patterns(self) -> int:
        """Number of stored patterns ``K`` (rows of the store)."""
        return self.pattern_store.num_patterns

    @property
    def dim(self) -> int | None:
        """Pattern dimension ``D``."""
        return self.pattern_store.dim

    def store(self, patterns: torch.Tensor) -> None:
        """Not supported: write patterns with :class:`~hopfield.io.pattern_store.PatternWriter`."""
        raise TypeError(
            "StreamingMemory reads its patterns from disk; append them with "
            "hopfield.io.pattern_store.PatternWriter and open a new StreamingMemory"
        )

    def clear(self) -> None:
        """Not supported (the store is read-only)."""
        raise TypeError("StreamingMemory's pattern store is read-only")

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "store": str(self.pattern_store.path),
            "similarity": self.similarity,
            "key": self.key,
            "access": self.access,
            "device": str(self.device),
        }

    def extra_repr(self) -> str:
        return (
            f"beta={self.beta}, similarity={self.similarity!r}, "
            f"num_patterns={self.num_patterns}, store={str(self.pattern_store.path)!r}"
        )

    def _compute_target(self) -> tuple[torch.device | None, torch.dtype]:
        """States move to the compute device and dtype of the streamed chunks."""
        return self.device, self.compute_dtype

    # ------------------------------------------------------------------ streaming
    def _chunks(self, *, keep: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
        """Chunks on ``device`` in ``compute_dtype``. The store refills one buffer
        behind autograd's back, so with ``keep`` (autograd recording) every chunk is
        copied: saved tensors must not change before ``backward``."""
        for start, chunk in self.pattern_store.iter_chunks(self.chunk_size or 1):
            moved = chunk.to(device=self.device, dtype=self.compute_dtype)
            yield start, moved.clone() if keep and moved.data_ptr() == chunk.data_ptr() else moved

    def _stream_partials(self, states: torch.Tensor, *, with_values: bool) -> LSEPartials:
        total: LSEPartials | None = None
        recording = torch.is_grad_enabled() and states.requires_grad
        for _, keys in self._chunks(keep=recording):
            part = lse_partials(
                states,
                keys,
                keys if with_values else None,
                self.beta,
                similarity=self.similarity,
                budget_bytes=self.memory_budget_bytes,
            )
            total = part if total is None else combine_partials([total, part])
            del keys
        assert total is not None
        return total

    def _energy_from_lse(self, states: torch.Tensor, logsumexp: torch.Tensor) -> torch.Tensor:
        energy = -logsumexp / self.beta
        if self.similarity == "dot":
            energy = energy + 0.5 * states.square().sum(dim=1)
        return energy

    # ------------------------------------------------------------------ dynamics
    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """``E(x)`` ``(B,)``, one streamed pass (scores only, no value matmul).

        Differentiable w.r.t. ``states``, but autograd then keeps a copy of every chunk
        and score block (``O(K·D + B·K)``): use :meth:`energy_grad` (closed form) instead.
        """
        x = self._check_states(states, "states")
        parts = self._stream_partials(x, with_values=False)
        return self._energy_from_lse(x, parts.max + parts.sumexp.log())

    def energy_grad(self, states: torch.Tensor) -> torch.Tensor:
        """Closed-form ``∇E(x) = x − Ξᵀ softmax(s(x))`` ``(B, D)``, one streamed pass."""
        x = self._check_states(states, "states")
        retrieved, _ = self._update(x)
        return x - retrieved

    def _update(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        retrieved, logsumexp = finalize_partials(self._stream_partials(states, with_values=True))
        assert retrieved is not None
        return retrieved, self._energy_from_lse(states, logsumexp)

    # ------------------------------------------------------------------ top-k
    def retrieve_topk(self, queries: torch.Tensor, k: int) -> TopKRetrieval:
        """Exact top-``k`` retrieval ``x ← Σ_{μ∈T_k(x)} softmax(s)_μ ξ_μ``, streamed.

        ``T_k(x)`` are the ``k`` memories with the largest scores ``s_μ(x)``
        (``β ξ_μ·x`` or ``−(β/2)‖x − ξ_μ‖²``), i.e. the softmax with ``−∞`` on every
        other score. A running ``(B, k)`` best set (scores, global indices and the
        ``(B, k, D)`` rows themselves, so no second pass is needed) is merged with
        each chunk's own top-``k``. Memory ``O(B·k·D + C·D)``.
        """
        check_tensor(queries, "queries")
        x = self._check_states(queries, "queries")
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if not 1 <= k <= self.num_patterns:
            raise ValueError(f"k must lie in [1, {self.num_patterns}] (K), got {k}")
        best: tuple[torch.Tensor, ...] | None = None
        for start, keys in self._chunks():
            block = resolve_chunk_size(
                x.shape[0],
                keys.shape[0],
                keys.shape[1],
                itemsize=x.element_size(),
                device=x.device,
                budget_bytes=self.memory_budget_bytes,
            )
            for offset in range(0, keys.shape[0], block):
                rows = keys[offset : offset + block]
                candidate = self._block_topk(x, rows, k, start + offset)
                best = candidate if best is None else merge_topk(best, candidate, k)
        assert best is not None
        scores, indices, patterns = best
        weights = torch.softmax(scores, dim=1)
        values = torch.einsum("bk,bkd->bd", weights, patterns)
        return TopKRetrieval(values, indices, weights, scores)

    def _block_topk(
        self, x: torch.Tensor, rows: torch.Tensor, k: int, first_index: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        scores = (x * self.beta) @ rows.T
        if self.similarity == "euclidean":
            scores.add_(rows.square().sum(dim=1), alpha=-0.5 * self.beta)
            scores.add_(x.square().sum(dim=1, keepdim=True), alpha=-0.5 * self.beta)
        top, local = scores.topk(min(k, rows.shape[0]), dim=1)
        return top, local + first_index, rows[local]
