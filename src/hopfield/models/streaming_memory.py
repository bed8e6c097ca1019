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
from typing import Any

import torch

from hopfield.io.pattern_store import PatternStore, open_store
from hopfield.models.lse_memory import (
    LogSumExpMemory,
    PatternSource,
    TopKRetrieval,
    widened_blocks,
)
from hopfield.models.storage import StorageDType
from hopfield.ops.streaming import DEFAULT_MEMORY_BUDGET_BYTES

__all__ = ["DEFAULT_STREAM_CHUNK", "StoreSource", "StreamingMemory", "TopKRetrieval"]

DEFAULT_STREAM_CHUNK: int = 65536
"""Default rows per disk read (32 MiB at ``D = 128``, float32)."""


class StoreSource(PatternSource):
    """Patterns read from a :class:`~hopfield.io.pattern_store.PatternStore`, ``rows`` at a
    time, moved to ``device`` in ``dtype``.

    The store refills one buffer, so with ``keep`` (autograd recording) every chunk
    is copied: saved tensors must not change before ``backward``.
    """

    def __init__(
        self,
        store: PatternStore,
        rows: int,
        *,
        device: torch.device,
        dtype: torch.dtype,
        budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        self.store = store
        self.rows = rows
        self.device = device
        self.dtype = dtype
        self.budget_bytes = budget_bytes

    @property
    def num_patterns(self) -> int:
        return self.store.num_patterns

    def chunks(
        self, *, keep: bool = False
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
        for start, chunk in self.store.iter_chunks(self.rows):
            if chunk.dtype != self.dtype and chunk.dtype.itemsize < self.dtype.itemsize:
                # Compact stores: widen cache-sized blocks (a copy, safe to keep).
                codes = chunk.to(self.device)
                scales = torch.empty(0, device=self.device)
                for first, block in widened_blocks(codes, scales, self.dtype, start):
                    yield first, block, None
                continue
            moved = chunk.to(device=self.device, dtype=self.dtype)
            if keep and moved.data_ptr() == chunk.data_ptr():
                moved = moved.clone()
            yield start, moved, None


class StreamingMemory(LogSumExpMemory):
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

    The file must not change while the memory uses it: a store truncated, replaced,
    grown or rewritten by another process, or holding a NaN/inf entry, makes the next
    call raise ``ValueError`` naming the file (every access mode, never ``SIGBUS``;
    see :mod:`hopfield.io.pattern_store`). Open a new memory to read new contents.
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
        super().__init__(
            beta,
            similarity=similarity,
            chunk_size=chunk_size,
            memory_budget_bytes=memory_budget_bytes,
        )
        if isinstance(store, PatternStore):
            self.pattern_store = store
        elif isinstance(store, str | os.PathLike):
            self.pattern_store = open_store(store, key=key, access=access)
        else:
            raise TypeError(f"store must be a PatternStore or a path, got {type(store).__name__}")
        if self.pattern_store.num_patterns == 0:
            raise ValueError(f"store {str(self.pattern_store.path)!r} holds no patterns (K = 0)")
        self.key = key
        self.access = access
        self.device = torch.device(device)
        compact = {torch.bfloat16: StorageDType.bf16, torch.float16: StorageDType.fp16}
        self.storage = compact.get(self.pattern_store.dtype, StorageDType.full)
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
            **{k: v for k, v in super().get_config().items() if k != "storage"},
            "store": str(self.pattern_store.path),
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

    def pattern_source(self) -> StoreSource:
        """The store, streamed ``chunk_size`` rows at a time onto ``device``."""
        return StoreSource(
            self.pattern_store,
            self.chunk_size or 1,
            device=self.device,
            dtype=self.compute_dtype,
            budget_bytes=self.memory_budget_bytes,
        )
