"""Chunk planning and operand checks shared by the streamed kernels.

Every dense memory reads all ``K`` stored patterns for every query. Building the
full ``(B, K)`` similarity matrix costs ``4·B·K`` bytes (1 GiB at B = 1024,
K = 2.6e5), so the kernels of :mod:`hopfield.ops` walk the memories in chunks of
``C`` rows and keep only a ``(B, C)`` block alive.

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

from collections.abc import Iterator

import torch

from hopfield._validation import check_floating, check_positive, check_rank

__all__ = [
    "DEFAULT_MEMORY_BUDGET_BYTES",
    "SIMILARITIES",
    "check_beta",
    "check_operands",
    "check_similarity",
    "chunk_slices",
    "key_sq_norms_or_compute",
    "needs_grad",
    "resolve_chunk_size",
    "score_block",
]

DEFAULT_MEMORY_BUDGET_BYTES: int = 64 * 2**20
"""Default bound on the bytes of one ``(B, C)`` score block (64 MiB)."""

_CPU_KEY_BLOCK_BYTES = 2**20
"""On CPU, one chunk of keys is capped near this size so it stays in cache."""

_CPU_SCORE_BLOCK_BYTES = 8 * 2**20
"""On CPU, the ``(B, C)`` score block is capped near this size (last-level cache)."""

_MIN_CPU_CHUNK = 256
_FEW_QUERIES = 16
SIMILARITIES: tuple[str, ...] = ("dot", "euclidean")
"""Scores of the streamed kernels: ``β ξ·x`` (``"dot"``) or ``−(β/2)‖x − ξ‖²``."""


def check_operands(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor | None) -> None:
    """Raise unless queries ``(B, D)``, keys ``(K, D)`` and values ``(K, Dv)`` (or ``None``)
    are real floating tensors of matching shapes."""
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


def check_similarity(similarity: str) -> None:
    """Raise ``ValueError`` unless ``similarity`` is one of :data:`SIMILARITIES`."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")


def key_sq_norms_or_compute(key_sq_norms: torch.Tensor | None, keys: torch.Tensor) -> torch.Tensor:
    """``‖ξ_μ‖²`` ``(K,)``: the given ``key_sq_norms`` (shape-checked) or computed from ``keys``."""
    if key_sq_norms is None:
        return keys.square().sum(dim=1)
    if key_sq_norms.shape != (keys.shape[0],):
        raise ValueError(
            f"key_sq_norms must have shape ({keys.shape[0]},), got {tuple(key_sq_norms.shape)}"
        )
    return key_sq_norms


def check_beta(beta: float) -> float:
    """``beta`` as a float, or ``ValueError`` unless it is finite and > 0."""
    return check_positive(beta, "beta")


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


def chunk_slices(num_memories: int, chunk: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``chunk`` memories covering ``range(num_memories)``."""
    for start in range(0, num_memories, chunk):
        yield slice(start, min(start + chunk, num_memories))


def needs_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd records an operation on any of ``tensors`` (then no in-place ops)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def score_block(
    scaled_queries: torch.Tensor,
    keys: torch.Tensor,
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """``(B, C)`` block ``β q·ξ (+ bias)``, one (add)mm; ``scaled_queries = β q``."""
    if bias is None:
        return scaled_queries @ keys.T
    # key norms may be kept wider than a half-precision memory; addmm needs one dtype
    return torch.addmm(bias.to(scaled_queries.dtype), scaled_queries, keys.T)
