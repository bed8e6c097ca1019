"""The registry: every vector memory builds, stores, recalls and never raises its energy;
``docs/models.md`` lists exactly the registry; the former zoo names still work."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch

from hopfield.data.generators import random_bipolar
from hopfield.experiments import demo_config
from hopfield.models import registry
from hopfield.models.base import RecallResult

AVAILABLE = registry.available(registry.VECTOR_STATES)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_registry_names_and_defaults_are_consistent() -> None:
    from hopfield.experiments.demo_config import DEFAULT_MODELS

    assert set(DEFAULT_MODELS) <= set(AVAILABLE)
    for name in registry.available():
        entry = registry.spec(name)
        assert entry.name == name and entry.energy and entry.paper
        assert name in {e.name for e in entry.memory_class.__dict__["registry"]}
    with pytest.raises(ValueError, match="hopfield-hebbian"):
        registry.spec("hopfield-typo")


def test_docs_models_table_lists_exactly_the_registry() -> None:
    table = DOCS.read_text(encoding="utf-8").split("## The registry", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.MULTILINE)
    assert documented == registry.available()


def test_former_zoo_names_forward_to_the_registry_with_a_warning() -> None:
    from hopfield.experiments import zoo

    with pytest.warns(DeprecationWarning, match="registry"):
        assert list(zoo.ZOO) == AVAILABLE
    with pytest.warns(DeprecationWarning, match="registry"):
        assert zoo.available_models() == AVAILABLE
    with pytest.warns(DeprecationWarning, match="registry"):
        assert zoo.get_entry is registry.spec
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert zoo.ZooMemory is registry.RebuildingMemory
    with pytest.warns(DeprecationWarning, match="demo_config"):
        assert zoo.DEFAULT_MODELS == demo_config.DEFAULT_MODELS


def test_no_module_of_the_package_imports_the_zoo_shim() -> None:
    """The shim is for users only: the library and the app read the registry."""
    import ast

    import hopfield

    root = Path(hopfield.__file__).resolve().parent
    importers = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "experiments" / "zoo.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                names.append(node.module or "")
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if "hopfield.experiments.zoo" in names:
                importers.append(str(path.relative_to(root)))
    assert importers == []


@pytest.mark.parametrize("name", AVAILABLE)
def test_each_model_recalls_stored_patterns_with_monotone_energy(name: str) -> None:
    patterns = random_bipolar(4, 64, seed=1)
    model = registry.build_memory(name, patterns, seed=0)
    flips = torch.rand(patterns.shape, generator=torch.Generator().manual_seed(2)) < 0.05
    queries = torch.where(flips, -patterns, patterns)
    result = registry.recall_memory(model, queries, max_steps=20)
    assert isinstance(result, RecallResult)
    assert result.states.shape == patterns.shape
    assert result.energies.shape == (result.steps + 1, 4)
    energies = result.energies.to(torch.float64)
    finite = torch.isfinite(energies[1:]) & torch.isfinite(energies[:-1])
    rises = (energies[1:] - energies[:-1])[finite]
    scale = energies[torch.isfinite(energies)].abs().max().clamp(min=1.0)
    assert bool((rises <= 1e-6 * scale).all()), f"{name}: energy rose"
    # a single linear read leaves cross-talk; random features estimate the kernel
    if name not in {"linear", "random-features"}:
        assert torch.equal(torch.where(result.states > 0, 1.0, -1.0), patterns), name


def test_recall_memory_clamps_known_entries_through_the_contract() -> None:
    """Every registry memory takes ``mask``; the linear memory (once read-only, then
    wrapped here) now recalls itself and keeps the clamped entries."""
    patterns = random_bipolar(3, 10, seed=4)
    memory = registry.build_memory("linear", patterns)
    queries = patterns.clone()
    queries[:, :2] = 1.0
    mask = torch.zeros_like(queries, dtype=torch.bool)
    mask[:, 0] = True
    result = registry.recall_memory(memory, queries, mask=mask)
    assert result.steps == 1 and result.energies.shape == (2, 3)
    assert torch.equal(result.states[:, 0], queries[:, 0])
    assert bool(torch.isfinite(result.energies).all())


@pytest.mark.skipif("hopfield-hebbian" not in AVAILABLE, reason="classical model not available")
def test_zoo_memory_builds_on_store_and_is_seeded() -> None:
    patterns = random_bipolar(5, 40, seed=5)
    queries = -patterns
    queries[:, :30] = patterns[:, :30]
    runs = []
    for _ in range(2):
        memory = registry.RebuildingMemory("hopfield-hebbian", seed=7)
        with pytest.raises(ValueError, match="store"):
            memory.recall(queries)
        memory.store(patterns)
        runs.append(memory.recall(queries, max_steps=10).states)
    assert torch.equal(runs[0], runs[1])


def test_rebuilding_memory_satisfies_the_contract_and_delegates() -> None:
    from hopfield.models.base import AssociativeMemory

    patterns = random_bipolar(4, 32, seed=6)
    memory = registry.RebuildingMemory("modern-dot", beta=4.0)
    assert isinstance(memory, AssociativeMemory)
    with pytest.raises(ValueError, match="store"):
        memory.energy(patterns)
    memory.store(patterns)
    inner = memory.model
    assert inner is not None
    queries = patterns.clone()
    queries[:, :8] *= -1
    assert torch.equal(memory.energy(queries), inner.energy(queries))
    assert torch.equal(memory.step(queries), inner.step(queries))
    loose = memory.recall(queries, max_steps=50, tol=1.0)
    tight = memory.recall(queries, max_steps=50, tol=0.0)
    assert loose.steps < tight.steps  # tol reaches the model


@pytest.mark.skipif("lsr" not in AVAILABLE, reason="LSR model not available")
def test_lsr_default_beta_is_paper_beta_max() -> None:
    patterns = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 5.0]])
    entry = registry.spec("lsr")
    # R_min = half the minimum distance = 1, β_max = 2 / R_min² = 2
    assert entry.resolve_beta(patterns, None) == pytest.approx(2.0)
    assert entry.resolve_beta(patterns, 0.5) == 0.5
    assert entry.resolve_beta(patterns[:1], None) == 1.0
