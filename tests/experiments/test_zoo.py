"""The model zoo: every entry builds, stores, recalls and never raises its energy."""

from __future__ import annotations

import pytest
import torch

from hopfield.data.generators import random_bipolar
from hopfield.experiments import zoo
from hopfield.models.base import RecallResult

AVAILABLE = zoo.available_models()


def test_registry_names_and_defaults_are_consistent() -> None:
    assert set(zoo.DEFAULT_MODELS) <= set(zoo.ZOO)
    for name, entry in zoo.ZOO.items():
        assert entry.name == name and entry.energy and entry.paper
    with pytest.raises(ValueError, match="hopfield-hebbian"):
        zoo.get_entry("hopfield-typo")


@pytest.mark.parametrize("name", AVAILABLE)
def test_each_model_recalls_stored_patterns_with_monotone_energy(name: str) -> None:
    patterns = random_bipolar(4, 64, seed=1)
    model = zoo.build_memory(name, patterns, seed=0)
    flips = torch.rand(patterns.shape, generator=torch.Generator().manual_seed(2)) < 0.05
    queries = torch.where(flips, -patterns, patterns)
    result = zoo.recall_memory(model, queries, max_steps=20)
    assert isinstance(result, RecallResult)
    assert result.states.shape == patterns.shape
    assert result.energies.shape == (result.steps + 1, 4)
    energies = result.energies.to(torch.float64)
    finite = torch.isfinite(energies[1:]) & torch.isfinite(energies[:-1])
    rises = (energies[1:] - energies[:-1])[finite]
    scale = energies[torch.isfinite(energies)].abs().max().clamp(min=1.0)
    assert bool((rises <= 1e-6 * scale).all()), f"{name}: energy rose"
    if name != "linear":  # a single linear read leaves cross-talk
        assert torch.equal(torch.where(result.states > 0, 1.0, -1.0), patterns), name


class _ReadOnlyMemory(torch.nn.Module):
    """Stand-in: a memory with ``store``/``retrieve`` only (no recall, no energy)."""

    def store(self, patterns: torch.Tensor) -> None:
        self.patterns = patterns

    def retrieve(self, queries: torch.Tensor) -> torch.Tensor:
        return self.patterns[(queries @ self.patterns.T).argmax(dim=1)]


def test_recall_adapter_reads_once_and_clamps_known_entries() -> None:
    memory = _ReadOnlyMemory()
    patterns = random_bipolar(3, 10, seed=4)
    memory.store(patterns)
    queries = patterns.clone()
    queries[:, :2] = 1.0
    mask = torch.zeros_like(queries, dtype=torch.bool)
    mask[:, 0] = True
    result = zoo.recall_memory(memory, queries, mask=mask)
    assert result.steps == 1 and bool(result.converged.all())
    assert torch.equal(result.states[:, 1:], patterns[:, 1:])
    assert torch.equal(result.states[:, 0], queries[:, 0])
    assert bool(torch.isnan(result.energies).all())


@pytest.mark.skipif("hopfield-hebbian" not in AVAILABLE, reason="classical model not available")
def test_zoo_memory_builds_on_store_and_is_seeded() -> None:
    patterns = random_bipolar(5, 40, seed=5)
    queries = -patterns
    queries[:, :30] = patterns[:, :30]
    runs = []
    for _ in range(2):
        memory = zoo.ZooMemory("hopfield-hebbian", seed=7)
        with pytest.raises(ValueError, match="store"):
            memory.recall(queries)
        memory.store(patterns)
        runs.append(memory.recall(queries, max_steps=10).states)
    assert torch.equal(runs[0], runs[1])


@pytest.mark.skipif("lsr" not in AVAILABLE, reason="LSR model not available")
def test_lsr_default_beta_is_paper_beta_max() -> None:
    patterns = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 5.0]])
    entry = zoo.get_entry("lsr")
    # R_min = half the minimum distance = 1, β_max = 2 / R_min² = 2
    assert entry.resolve_beta(patterns, None) == pytest.approx(2.0)
    assert entry.resolve_beta(patterns, 0.5) == 0.5
    assert entry.resolve_beta(patterns[:1], None) == 1.0
