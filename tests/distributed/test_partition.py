"""shard_range: contiguous, balanced row ranges per rank."""

from __future__ import annotations

import itertools

import pytest

from hopfield.distributed.partition import shard_range


@pytest.mark.parametrize("num_items", [0, 1, 7, 10, 1001])
@pytest.mark.parametrize("world_size", [1, 3, 4])
def test_shard_ranges_tile_the_items_and_are_balanced(num_items: int, world_size: int) -> None:
    ranges = [shard_range(num_items, rank, world_size) for rank in range(world_size)]
    assert ranges[0][0] == 0 and ranges[-1][1] == num_items
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    sizes = [stop - start for start, stop in ranges]
    assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="rank must lie in"):
        shard_range(num_items, world_size, world_size)
