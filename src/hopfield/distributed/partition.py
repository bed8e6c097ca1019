"""Split ``num_items`` rows into one contiguous range per rank."""

from __future__ import annotations

__all__ = ["shard_range"]


def shard_range(num_items: int, rank: int, world_size: int) -> tuple[int, int]:
    """Contiguous ``[start, stop)`` of ``num_items`` owned by ``rank`` of ``world_size``.

    Balanced split: the first ``num_items mod world_size`` ranks get one extra item,
    so shard sizes differ by at most one and the ranges tile ``[0, num_items)``.
    """
    for name, value in (("num_items", num_items), ("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if num_items < 0:
        raise ValueError(f"num_items must be ≥ 0, got {num_items}")
    if world_size < 1:
        raise ValueError(f"world_size must be ≥ 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must lie in [0, {world_size}), got {rank}")
    base, extra = divmod(num_items, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)
