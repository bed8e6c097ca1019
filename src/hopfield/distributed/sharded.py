"""A modern Hopfield memory whose stored patterns are split across torch.distributed ranks.

Ramsauer et al. (2020), "Hopfield Networks is All You Need". With stored patterns
``Ξ`` ``(K, D)`` split row-wise into shards ``Ξ_r`` (one per rank) and a state ``x``
(the same on every rank):

* energy: ``E(x) = −β⁻¹ log Σ_μ exp(s_μ(x)) (+ ½‖x‖² for "dot")``;
* update: ``x ← Ξᵀ softmax(s(x))``, ``s_μ = β ξ_μ·x`` or ``−(β/2)‖x − ξ_μ‖²``.

Each rank computes the log-sum-exp partials of its shard
(:func:`hopfield.ops.streaming.lse_partials`): ``m_r = max_{μ∈r} s_μ``,
``σ_r = Σ_{μ∈r} e^{s_μ − m_r}``, ``w_r = Σ_{μ∈r} e^{s_μ − m_r} ξ_μ``. Two collectives
then combine them exactly (the online-softmax identity across ranks):

1. ``all_reduce(MAX)``: ``m = max_r m_r``;
2. each rank rescales onto ``m`` (``σ_r e^{m_r − m}``, ``w_r e^{m_r − m}``, done by
   :func:`~hopfield.ops.streaming.combine_partials`), then ``all_reduce(SUM)`` of the
   packed ``[σ | w]`` ``(B, 1 + D)`` gives ``σ`` and ``w``; ``x ← w / σ``,
   ``log Σ_μ e^{s_μ} = m + log σ``.

Every exponent is ≤ 0, so nothing overflows for any β; an empty shard contributes
``m_r = −∞``, ``σ_r = 0``. Traffic per update: ``B·(D + 2)`` numbers per rank,
independent of ``K``. Exact top-``k``: each rank's own top-``k`` (scores, global
indices, rows) is ``all_gather``-ed and merged (``B·k·(D + 2)`` numbers per rank).

The energy, gradient, update and top-``k`` are those of
:class:`~hopfield.models.lse_memory.LogSumExpMemory`; this module only provides the
pattern source (:class:`ShardSource`) that merges the ranks' partial sums.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.distributed as dist

from hopfield._validation import check_finite, check_floating, check_rank, check_tensor
from hopfield.distributed.partition import shard_range
from hopfield.io.pattern_store import PatternStore, open_store
from hopfield.models.lse_memory import LogSumExpMemory, PatternSource, TensorSource
from hopfield.models.storage import Storage
from hopfield.ops.streaming import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    LSEPartials,
    combine_partials,
    merge_topk,
)

__all__ = ["ShardSource", "ShardedMemory"]


def _collective(work: Callable[[], object], what: str, rank: int, world_size: int) -> None:
    """Run a collective; turn a backend failure into an error that says what happened."""
    try:
        work()
    except RuntimeError as error:  # includes DistBackendError
        raise RuntimeError(
            f"ShardedMemory: {what} failed on rank {rank} of {world_size}: a peer rank died, "
            f"left, or did not join within the process-group timeout ({error})"
        ) from error


def _require_group() -> None:
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "torch.distributed is not initialised: call "
            "hopfield.distributed.init_distributed() first (or launch with torchrun)"
        )


class ShardSource(PatternSource):
    """This rank's shard (a :class:`~hopfield.models.lse_memory.TensorSource`) plus the
    partial sums of the other ranks of ``process_group``.

    :meth:`partials`: the local log-sum-exp partials, then ``all_reduce(MAX)`` of the
    maxima, rescaling onto the global max and ``all_reduce(SUM)`` of ``[σ | w]``.
    :meth:`topk`: the local top-``k`` (global indices), padded to ``k`` with ``−∞``,
    ``all_gather``-ed and merged. Collective: every rank must call with the same states.
    """

    def __init__(
        self,
        local: TensorSource,
        offset: int,
        num_patterns: int,
        process_group: dist.ProcessGroup | None,
    ) -> None:
        self.local = local
        self.budget_bytes = local.budget_bytes
        self.offset = offset
        self.total = num_patterns
        self.process_group = process_group
        self.rank = dist.get_rank(process_group)
        self.world_size = dist.get_world_size(process_group)

    @property
    def num_patterns(self) -> int:
        return self.total

    def chunks(
        self, *, keep: bool = False
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
        """This rank's chunks only (global row numbers)."""
        for start, keys, norms in self.local.chunks(keep=keep):
            yield self.offset + start, keys, norms

    def kernel_chunk_size(self) -> int | None:
        return self.local.chunk_size

    def _run(self, work: Callable[[], object], what: str) -> None:
        _collective(work, what, self.rank, self.world_size)

    def partials(
        self, states: torch.Tensor, beta: float, *, similarity: str, with_values: bool
    ) -> LSEPartials:
        """Exact cross-rank merge (not differentiable across ranks)."""
        with torch.no_grad():
            local = self.local.partials(
                states, beta, similarity=similarity, with_values=with_values
            )
            global_max = local.max.detach().clone()
            self._run(
                lambda: dist.all_reduce(global_max, op=dist.ReduceOp.MAX, group=self.process_group),
                "all_reduce(MAX) of the log-sum-exp maxima",
            )
            # combine_partials against an empty part sitting at the global max rescales
            # the local sums onto it: σ_r e^{m_r − m}, w_r e^{m_r − m}.
            anchor = LSEPartials(
                global_max,
                torch.zeros_like(local.sumexp),
                None if local.weighted is None else torch.zeros_like(local.weighted),
            )
            rescaled = combine_partials([local, anchor])
            packed = rescaled.sumexp[:, None]
            if rescaled.weighted is not None:
                packed = torch.cat([packed, rescaled.weighted], dim=1)
            packed = packed.detach().contiguous()
            self._run(
                lambda: dist.all_reduce(packed, op=dist.ReduceOp.SUM, group=self.process_group),
                "all_reduce(SUM) of the rescaled sums",
            )
        weighted = packed[:, 1:] if local.weighted is not None else None
        return LSEPartials(global_max, packed[:, 0], weighted)

    def topk(
        self, states: torch.Tensor, beta: float, k: int, *, similarity: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, dim = states.shape[0], states.shape[1]
        mine: tuple[torch.Tensor, ...] = (
            states.new_full((batch, k), float("-inf")),
            torch.full((batch, k), -1, dtype=torch.int64, device=states.device),
            states.new_zeros(batch, k, dim),
        )
        if self.local.num_patterns:
            local_k = min(k, self.local.num_patterns)
            found = super().topk(states, beta, local_k, similarity=similarity)
            mine = merge_topk(mine, found, k)  # the local best, then −∞ padding up to k
        gathered = [self._all_gather(part.contiguous()) for part in mine]
        best = tuple(parts[0] for parts in gathered)
        for other in range(1, self.world_size):
            best = merge_topk(best, tuple(parts[other] for parts in gathered), k)
        scores, indices, rows = best
        return scores, indices, rows

    def _all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        self._run(
            lambda: dist.all_gather(parts, tensor, group=self.process_group),
            "all_gather of the local top-k",
        )
        return parts


class ShardedMemory(LogSumExpMemory):
    """Modern Hopfield memory (Ramsauer et al. 2020) sharded over the ranks of a group.

    Energy ``E(x) = −β⁻¹ log Σ_μ exp(s_μ(x)) (+ ½‖x‖² for "dot")`` and update
    ``x ← Ξᵀ softmax(s(x))`` over the union of every rank's ``local_patterns``,
    combined exactly with one ``all_reduce(MAX)`` and one ``all_reduce(SUM)`` of
    ``B·(D + 1)`` numbers per step (see the module docstring).

    Every rank must call :meth:`energy`, :meth:`step`, :meth:`recall` collectively,
    with the same states; all ranks then return the same result. With NCCL the local
    patterns (and states) must be on this rank's CUDA device. ``energy`` is not
    differentiable across ranks; :meth:`energy_grad` gives the closed form.

    Args:
        local_patterns: this rank's shard ``(K_r, D)`` (``K_r`` may be 0; ``D`` must
            agree across ranks, checked with one ``all_gather`` at construction).
        beta: inverse temperature ``β > 0``.
        process_group: group to shard over (default: the world).
        similarity: ``"dot"`` or ``"euclidean"``.
        storage: ``"full"`` (default), ``"bf16"``, ``"fp16"`` or ``"int8"`` (or the
            option objects of :mod:`hopfield.models.storage`): how the shard is kept.
        chunk_size, memory_budget_bytes: local chunking of
            :func:`~hopfield.ops.streaming.lse_partials`.
    """

    def __init__(
        self,
        local_patterns: torch.Tensor,
        beta: float = 1.0,
        *,
        process_group: dist.ProcessGroup | None = None,
        similarity: str = "dot",
        storage: Storage | str | None = None,
        chunk_size: int | None = None,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        super().__init__(
            beta,
            similarity=similarity,
            storage=storage,
            chunk_size=chunk_size,
            memory_budget_bytes=memory_budget_bytes,
        )
        _require_group()
        check_floating(local_patterns, "local_patterns")
        check_rank(local_patterns, "local_patterns", 2, "(K_r, D)")
        check_finite(local_patterns, "local_patterns")
        self.process_group = process_group
        self.rank = dist.get_rank(process_group)
        self.world_size = dist.get_world_size(process_group)
        local = local_patterns.detach()
        self._append(local.to(self._first_store_dtype(local.dtype)).clone())
        self.shard_sizes, self._dim = self._exchange_shapes(local)
        self.offset = sum(self.shard_sizes[: self.rank])

    def _exchange_shapes(self, local: torch.Tensor) -> tuple[list[int], int]:
        shape = torch.tensor(
            [local.shape[0], local.shape[1]], dtype=torch.int64, device=local.device
        )
        gathered = [torch.empty_like(shape) for _ in range(self.world_size)]
        _collective(
            lambda: dist.all_gather(gathered, shape, group=self.process_group),
            "all_gather of shard shapes",
            self.rank,
            self.world_size,
        )
        sizes = [int(item[0]) for item in gathered]
        dims = sorted({int(item[1]) for item in gathered})
        if len(dims) != 1:
            raise ValueError(
                f"local_patterns must have the same D on every rank, got D values {dims}"
            )
        if sum(sizes) == 0 or dims[0] == 0:
            raise ValueError("local_patterns must hold at least one pattern over all ranks")
        return sizes, dims[0]

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_full(
        cls,
        patterns: torch.Tensor,
        beta: float = 1.0,
        *,
        process_group: dist.ProcessGroup | None = None,
        **kwargs: Any,
    ) -> ShardedMemory:
        """Keep this rank's contiguous slice (:func:`~hopfield.distributed.partition.shard_range`)
        of ``patterns`` ``(K, D)``, identical on every rank."""
        _require_group()
        check_tensor(patterns, "patterns")
        check_rank(patterns, "patterns", 2, "(K, D)")
        rank, world = dist.get_rank(process_group), dist.get_world_size(process_group)
        start, stop = shard_range(int(patterns.shape[0]), rank, world)
        return cls(patterns[start:stop], beta, process_group=process_group, **kwargs)

    @classmethod
    def from_store(
        cls,
        store: PatternStore | str | os.PathLike[str],
        beta: float = 1.0,
        *,
        process_group: dist.ProcessGroup | None = None,
        device: str | torch.device = "cpu",
        key: str = "patterns",
        **kwargs: Any,
    ) -> ShardedMemory:
        """Read only this rank's rows ``shard_range(K, rank, world)`` of a disk store
        (``.npy`` / ``.safetensors``, see :mod:`hopfield.io.pattern_store`) onto ``device``."""
        _require_group()
        opened = store if isinstance(store, PatternStore) else open_store(store, key=key)
        rank, world = dist.get_rank(process_group), dist.get_world_size(process_group)
        start, stop = shard_range(opened.num_patterns, rank, world)
        local = opened.read(start, stop).to(device)
        return cls(local, beta, process_group=process_group, **kwargs)

    # ------------------------------------------------------------------ memory
    @property
    def num_patterns(self) -> int:
        """Total ``K`` over all ranks."""
        return int(sum(self.shard_sizes)) if hasattr(self, "shard_sizes") else 0

    @property
    def local_num_patterns(self) -> int:
        """Patterns held by this rank ``K_r``."""
        return int(self.patterns.shape[0])

    @property
    def dim(self) -> int | None:
        """Pattern dimension ``D``."""
        return self._dim if hasattr(self, "_dim") else None

    def store(self, patterns: torch.Tensor) -> None:
        """Not supported: build a new :class:`ShardedMemory` (shards are fixed)."""
        raise TypeError("ShardedMemory shards are fixed at construction; build a new one")

    def clear(self) -> None:
        """Not supported (shards are fixed at construction)."""
        raise TypeError("ShardedMemory shards are fixed at construction")

    def extra_repr(self) -> str:
        return (
            f"beta={self.beta}, similarity={self.similarity!r}, num_patterns={self.num_patterns}, "
            f"rank={self.rank}/{self.world_size}, local={self.local_num_patterns}"
        )

    def _compute_target(self) -> tuple[torch.device | None, torch.dtype]:
        """States move to this rank's shard: its device and dtype."""
        return self.patterns.device, super()._compute_target()[1]

    def pattern_source(self) -> ShardSource:
        """This rank's shard plus the other ranks' partial sums (collective)."""
        local = super().pattern_source()
        assert isinstance(local, TensorSource)
        return ShardSource(local, self.offset, self.num_patterns, self.process_group)
