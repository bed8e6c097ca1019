"""One log-sum-exp memory, several pattern sources: the energy, gradient, update and
top-k are the same functions whatever yields the patterns (RAM, disk, a custom source)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from hopfield.distributed import sharded
from hopfield.io.pattern_store import write_patterns
from hopfield.models import lse_memory, modern, streaming_memory
from hopfield.models.lse_memory import (
    LogSumExpMemory,
    PatternSource,
    TensorSource,
    energy_from_lse,
    lse_energy,
    lse_topk,
    lse_update,
)
from hopfield.models.modern import ModernHopfield
from hopfield.models.streaming_memory import StreamingMemory


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


class _ListSource(PatternSource):
    """Patterns as a list of uneven chunks (a stand-in for any other backend)."""

    def __init__(self, patterns: torch.Tensor, sizes: list[int]) -> None:
        self.parts = list(torch.split(patterns, sizes))

    @property
    def num_patterns(self) -> int:
        return sum(int(part.shape[0]) for part in self.parts)

    def chunks(
        self, *, keep: bool = False
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
        start = 0
        for part in self.parts:
            yield start, part, None
            start += int(part.shape[0])


class _ListMemory(LogSumExpMemory):
    def __init__(self, patterns: torch.Tensor, beta: float, similarity: str) -> None:
        super().__init__(beta, similarity=similarity)
        self.source = _ListSource(patterns, [7, 100, 1, 92])
        self._patterns_dim = int(patterns.shape[1])

    @property
    def num_patterns(self) -> int:
        return self.source.num_patterns

    @property
    def dim(self) -> int | None:
        return self._patterns_dim

    def pattern_source(self) -> PatternSource:
        return self.source


def test_energy_from_lse_is_the_closed_form_for_both_similarities() -> None:
    patterns, states = _randn(30, 5).double(), _randn(4, 5, seed=1).double()
    beta = 0.8
    dot = beta * states @ patterns.T
    want_dot = -torch.logsumexp(dot, 1) / beta + 0.5 * states.square().sum(1)
    got_dot = lse_energy(TensorSource(patterns), states, beta, similarity="dot")
    torch.testing.assert_close(got_dot, want_dot)
    euclid = -0.5 * beta * torch.cdist(states, patterns).square()
    want_euclid = -torch.logsumexp(euclid, 1) / beta
    got_euclid = lse_energy(TensorSource(patterns), states, beta, similarity="euclidean")
    torch.testing.assert_close(got_euclid, want_euclid)
    # Leading dimensions and a tensor β broadcast (the layers' use).
    batched = energy_from_lse(states[None], torch.logsumexp(dot, 1)[None], torch.tensor(beta))
    torch.testing.assert_close(batched[0], want_dot)


@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
def test_a_custom_source_gives_the_in_memory_results(similarity: str) -> None:
    patterns = _randn(200, 6)
    queries = patterns[:5] + 0.5 * _randn(5, 6, seed=2)
    reference = ModernHopfield(0.9, similarity=similarity)
    reference.store(patterns)
    custom = _ListMemory(patterns, 0.9, similarity)
    torch.testing.assert_close(custom.energy(queries), reference.energy(queries))
    torch.testing.assert_close(custom.step(queries), reference.step(queries))
    torch.testing.assert_close(custom.energy_grad(queries), reference.energy_grad(queries))
    got, want = custom.recall(queries, steps=3), reference.recall(queries, steps=3)
    torch.testing.assert_close(got.energies, want.energies)
    top_custom, top_ram = custom.retrieve_topk(queries, 9), reference.retrieve_topk(queries, 9)
    assert torch.equal(top_custom.indices, top_ram.indices)
    torch.testing.assert_close(top_custom.values, top_ram.values)


@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
def test_topk_is_one_api_on_ram_and_disk(tmp_path: Path, similarity: str) -> None:
    patterns = _randn(700, 8)
    path = tmp_path / "p.npy"
    write_patterns(path, [patterns])
    ram = ModernHopfield(1.2, similarity=similarity, chunk_size=64)
    ram.store(patterns)
    disk = StreamingMemory(path, 1.2, similarity=similarity, chunk_size=100)
    queries = _randn(6, 8, seed=3)
    a, b = ram.retrieve_topk(queries, 11), disk.retrieve_topk(queries, 11)
    assert torch.equal(a.indices, b.indices)
    for got, want in zip(a, b, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    # k = K is the full softmax update.
    torch.testing.assert_close(ram.retrieve_topk(queries, 700).values, ram.step(queries))
    with pytest.raises(ValueError, match=r"k must lie in \[1, 700\]"):
        ram.retrieve_topk(queries, 0)
    with pytest.raises(TypeError, match="k must be an int"):
        lse_topk(ram.pattern_source(), queries, 1.2, 2.0, similarity=similarity)  # type: ignore[arg-type]


def test_update_returns_the_energy_of_its_input() -> None:
    patterns, states = _randn(64, 4).double(), _randn(3, 4, seed=4).double()
    source = TensorSource(patterns, chunk_size=10)
    retrieved, energy = lse_update(source, states, 2.0, similarity="dot")
    torch.testing.assert_close(energy, lse_energy(source, states, 2.0, similarity="dot"))
    torch.testing.assert_close(retrieved, torch.softmax(2.0 * states @ patterns.T, 1) @ patterns)


def test_the_energy_is_written_once() -> None:
    """No memory module restates the energy: none defines its own ``_energy_from_lse``,
    ``energy_grad`` or ``_update`` for the dense softmax path."""
    for module in (modern, streaming_memory, sharded):
        source = inspect.getsource(module)
        assert "_energy_from_lse" not in source, module.__name__
        assert "-logsumexp / " not in source and "- logsumexp /" not in source, module.__name__
    for cls in (StreamingMemory, sharded.ShardedMemory):
        for name in ("energy", "energy_grad", "_update", "retrieve_topk"):
            assert getattr(cls, name) is getattr(LogSumExpMemory, name), (cls, name)
    assert "-logsumexp / beta" in inspect.getsource(lse_memory.energy_from_lse)
