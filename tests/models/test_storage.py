"""Low-precision and int8 pattern stores: within the documented bound of float32, the
same recall of stored patterns, the same numbers on RAM and disk, saved and loaded."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hopfield import io
from hopfield.io.pattern_store import write_patterns
from hopfield.models.modern import ModernHopfield
from hopfield.models.storage import Int8Storage, StorageDType, as_storage, dequantize, quantize
from hopfield.models.streaming_memory import StreamingMemory

STORAGES = ("bf16", "fp16", "int8")
K, D = 3000, 64
BETA = 1.0 / math.sqrt(D)


def _patterns(seed: int = 0) -> torch.Tensor:
    return torch.randn(K, D, generator=torch.Generator().manual_seed(seed))


def _energy64(patterns: torch.Tensor, states: torch.Tensor, similarity: str) -> torch.Tensor:
    p, x = patterns.double(), states.double()
    if similarity == "dot":
        return -torch.logsumexp(BETA * x @ p.T, 1) / BETA + 0.5 * x.square().sum(1)
    return -torch.logsumexp(-0.5 * BETA * torch.cdist(x, p).square(), 1) / BETA


def _bound(patterns: torch.Tensor, stored: torch.Tensor, states: torch.Tensor, sim: str):
    """The documented bound on |E − Ê| (module docstring of hopfield.models.storage)."""
    p, q, x = patterns.double(), stored.double(), states.double()
    delta = p - q
    if sim == "dot":
        return (x @ delta.T).abs().amax(1)
    return 0.5 * (delta[None] * (2 * x[:, None] - p[None] - q[None])).sum(-1).abs().amax(1)


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
def test_energy_error_within_the_documented_bound(storage: str, similarity: str) -> None:
    patterns = _patterns()
    memory = ModernHopfield(BETA, similarity=similarity, storage=storage)
    memory.store(patterns[:1000])
    memory.store(patterns[1000:])  # appending quantises the new rows the same way
    assert memory.patterns.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
        storage, torch.int8
    )
    states = patterns[:40] + 0.3 * _patterns(seed=1)[:40]
    stored = memory.stored_patterns()
    error = (memory.energy(states).double() - _energy64(patterns, states, similarity)).abs()
    bound = _bound(patterns, stored, states, similarity)
    assert bool((bound > 0).all())
    rounding = 1e-5 * _energy64(patterns, states, similarity).abs() + 1e-4
    assert bool((error <= bound + rounding).all()), (error - bound).max()
    # The memory computes exactly the energy of the stored ξ̂ (float32 rounding only).
    exact = _energy64(stored, states, similarity)
    torch.testing.assert_close(memory.energy(states).double(), exact, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("storage", STORAGES)
def test_stored_patterns_recalled_as_with_float32(storage: str) -> None:
    patterns = _patterns(seed=2)
    full, compact = ModernHopfield(BETA), ModernHopfield(BETA, storage=storage)
    full.store(patterns)
    compact.store(patterns)
    queries = patterns[:500]
    ids = torch.arange(500)
    for memory in (full, compact):
        assert torch.equal(memory.retrieve_topk(queries, 1).indices[:, 0], ids)
    nearest_full = torch.cdist(full.step(queries), patterns).argmin(1)
    nearest_compact = torch.cdist(compact.step(queries), patterns).argmin(1)
    assert torch.equal(nearest_full, nearest_compact)


@pytest.mark.parametrize("storage", STORAGES)
def test_save_and_load_round_trip(tmp_path: Path, storage: str) -> None:
    memory = ModernHopfield(BETA, similarity="euclidean", storage=storage)
    memory.store(_patterns(seed=3)[:200])
    io.save(memory, tmp_path / "m.safetensors")
    loaded = io.load(tmp_path / "m.safetensors")
    assert isinstance(loaded, ModernHopfield)
    assert loaded.storage == as_storage(storage)
    assert torch.equal(loaded.patterns, memory.patterns)
    assert torch.equal(loaded.scales, memory.scales)
    states = _patterns(seed=4)[:5]
    assert torch.equal(loaded.step(states), memory.step(states))


@pytest.mark.parametrize("suffix", [".npy", ".safetensors"])
def test_disk_store_in_two_bytes_equals_the_compact_ram_memory(tmp_path: Path, suffix: str) -> None:
    patterns = _patterns(seed=5)
    kinds = {".npy": [("fp16", torch.float16)], ".safetensors": [("bf16", torch.bfloat16)]}
    for storage, dtype in kinds[suffix]:
        path = tmp_path / f"p{suffix}"
        write_patterns(path, [patterns], dtype=dtype)
        streamed = StreamingMemory(path, BETA, chunk_size=700)
        assert streamed.storage == as_storage(storage)
        ram = ModernHopfield(BETA, storage=storage)
        ram.store(patterns)
        queries = patterns[:8] + 0.2
        torch.testing.assert_close(streamed.energy(queries), ram.energy(queries))
        torch.testing.assert_close(streamed.step(queries), ram.step(queries))
        assert StreamingMemory(**streamed.get_config()).storage == streamed.storage


def test_quantize_int8_rounds_per_pattern_and_options_are_checked() -> None:
    patterns = torch.tensor([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0], [100.0, 3.0, -7.0]])
    codes, scales = quantize(patterns, Int8Storage())
    assert codes.dtype == torch.int8 and codes[0, 0] == 127 and codes[2, 0] == 127
    error = (dequantize(codes, scales, torch.float32) - patterns).abs()
    assert bool((error <= scales[:, None] / 2 + 1e-6).all())
    assert as_storage(None) is StorageDType.full and as_storage("bfloat16") is StorageDType.bf16
    with pytest.raises(ValueError, match="storage must be"):
        ModernHopfield(storage="int4")
    with pytest.raises(ValueError, match=r"outside the range of torch\.float16"):
        ModernHopfield(storage="fp16").store(torch.full((2, 3), 1e6))
    with pytest.raises(ValueError, match="patterns contains NaN"):
        ModernHopfield(storage="int8").store(torch.full((2, 3), float("nan")))


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
def test_few_query_kernel_on_codes_equals_the_widened_blocks(storage: str, similarity: str) -> None:
    """Few queries may read the codes directly (native kernel: bf16 / int8 + scale);
    more queries widen cache-sized blocks. Both compute the same numbers."""
    from hopfield.ops.few_queries import NATIVE_MAX_QUERIES

    memory = ModernHopfield(BETA, similarity=similarity, storage=storage)
    memory.store(_patterns(seed=6))
    few = _patterns(seed=7)[:2]
    many = few.repeat(NATIVE_MAX_QUERIES, 1)  # > NATIVE_MAX_QUERIES rows: widened blocks
    torch.testing.assert_close(memory.step(few), memory.step(many)[:2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(memory.energy(few), memory.energy(many)[:2], rtol=1e-5, atol=1e-4)
