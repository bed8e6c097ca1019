"""Every memory of the registry (and the memories over other pattern sources) against
the contract of :mod:`hopfield.models.base`: signatures, return types and shapes,
energy never rising along ``recall``, ``store`` validation, empty batches."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from hopfield.io.pattern_store import write_patterns
from hopfield.models import registry
from hopfield.models.base import AssociativeMemory, RecallResult
from hopfield.models.bures_wasserstein import commuting_gaussians_on_sphere
from hopfield.models.sparse_recovery import bounded_integer_dataset, sparse_corruption
from hopfield.models.streaming_memory import StreamingMemory

DIM, COUNT, BATCH = 12, 4, 3


@dataclass
class Case:
    """A memory with data: ``store(patterns, **store_kw)``, queries with ``query_kw``."""

    model: Any
    patterns: torch.Tensor
    queries: torch.Tensor
    store_kw: dict[str, Any] = field(default_factory=dict)
    query_kw: dict[str, Any] = field(default_factory=dict)
    query_slice: Callable[[dict[str, Any], slice], dict[str, Any]] = lambda kw, s: kw


def _vector_case(name: str, gen: torch.Generator) -> Case:
    entry = registry.spec(name)
    if entry.binary:
        patterns = torch.randint(0, 2, (COUNT, DIM), generator=gen).float() * 2 - 1
        flips = torch.rand(BATCH, DIM, generator=gen) < 0.15
        queries = torch.where(flips, -patterns[:BATCH], patterns[:BATCH])
    else:
        patterns = torch.randn(COUNT, DIM, generator=gen, dtype=torch.float64)
        queries = patterns[:BATCH] + 0.3 * torch.randn(
            BATCH, DIM, generator=gen, dtype=torch.float64
        )
    options = {"num_features": 256} if name == "random-features" else {}
    if name == "random-features":
        options["dtype"] = torch.float64
    model = registry.build_memory(name, patterns, seed=0, **options)
    return Case(model, patterns, queries)


def _gaussian_case(gen: torch.Generator) -> Case:
    means, covariances, _ = commuting_gaussians_on_sphere(COUNT, 3, seed=0)
    model = registry.build("bures-wasserstein", beta=2.0)
    noisy = means[:BATCH] + 0.1 * torch.randn(BATCH, 3, generator=gen, dtype=means.dtype)
    return Case(
        model,
        means,
        noisy,
        {"covariances": covariances},
        {"covariances": covariances[:BATCH].clone()},
        lambda kw, s: {"covariances": kw["covariances"][s]},
    )


def _phase_case(gen: torch.Generator) -> Case:
    patterns = torch.randint(0, 2, (COUNT, DIM), generator=gen).double() * 2 - 1
    model = registry.build("kuramoto", num_oscillators=DIM, quartic=1.0)
    phases = model.encode(patterns[:BATCH]) + 0.3 * torch.randn(BATCH, DIM, generator=gen)
    return Case(model, patterns, torch.remainder(phases.double(), 2 * math.pi))


def _constrained_case(gen: torch.Generator) -> Case:
    data, _ = bounded_integer_dataset(24, DIM, 4, seed=0)
    corrupted, _ = sparse_corruption(data[:BATCH], 1, seed=1)
    return Case(registry.build("sparse-recovery"), data, corrupted)


def make_case(name: str) -> Case:
    gen = torch.Generator().manual_seed(0)
    state = registry.spec(name).state
    if state in registry.VECTOR_STATES:
        return _vector_case(name, gen)
    factories = {"gaussian": _gaussian_case, "phase": _phase_case, "constrained": _constrained_case}
    case = factories[state](gen)
    case.model.store(case.patterns, **case.store_kw)
    return case


NAMES = registry.available()

PENDING: dict[tuple[str, str], str] = {
}
"""Known deviations of memories owned by other areas (owner: what is wrong); each runs as
a strict xfail, so the entry must be removed once the owner fixes it."""


def names_for(check: str) -> list[Any]:
    """:data:`NAMES`, with the :data:`PENDING` deviations of ``check`` as strict xfails."""
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=PENDING[(n, check)]))
        if (n, check) in PENDING
        else n
        for n in NAMES
    ]


def _energy_tolerance(energies: torch.Tensor) -> float:
    return 1e-5 * (1.0 + float(energies.abs().max())) if energies.numel() else 0.0


def _largest_rise(energies: torch.Tensor) -> float:
    rises = energies.diff(dim=0)
    return float(rises.max()) if rises.numel() else 0.0


@pytest.mark.parametrize("name", NAMES)
def test_signatures_follow_the_contract(name: str) -> None:
    entry = registry.spec(name)
    cls = entry.memory_class
    assert cls.__doc__ and entry.energy and entry.paper
    recall = inspect.signature(cls.recall).parameters
    for keyword in ("steps", "max_steps", "tol", "mask"):
        assert recall[keyword].kind is inspect.Parameter.KEYWORD_ONLY, (name, keyword)
    assert recall["steps"].default is None and recall["mask"].default is None
    step = inspect.signature(cls.step).parameters
    assert step["mask"].kind is inspect.Parameter.KEYWORD_ONLY and step["mask"].default is None
    first = list(inspect.signature(cls.store).parameters.values())[1]
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    for method in (cls.store, cls.energy, cls.step, cls.recall):
        rest = list(inspect.signature(method).parameters.values())[2:]
        assert all(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in rest), (
            f"{name}.{method.__name__}: arguments after the first must be keywords"
        )
    assert not hasattr(cls, "gradient") or cls.gradient.__doc__.startswith("Deprecated")


@pytest.mark.parametrize("name", NAMES)
def test_recall_returns_a_recall_result_and_never_raises_the_energy(name: str) -> None:
    case = make_case(name)
    model = case.model
    assert isinstance(model, AssociativeMemory) and isinstance(model, nn.Module)
    energy = model.energy(case.queries, **case.query_kw)
    assert energy.shape == (BATCH,)
    result = model.recall(case.queries, max_steps=25, **case.query_kw)
    assert isinstance(result, RecallResult)
    assert result.states.shape == case.queries.shape
    assert result.energies.shape == (result.steps + 1, BATCH)
    assert result.converged.shape == (BATCH,) and result.converged.dtype == torch.bool
    torch.testing.assert_close(result.energies[0], energy.to(result.energies.dtype))
    assert _largest_rise(result.energies) <= _energy_tolerance(result.energies), result.energies
    fixed = model.recall(case.queries, steps=2, **case.query_kw)
    assert fixed.steps == 2 and fixed.energies.shape == (3, BATCH)
    if hasattr(model, "energy_grad"):
        assert model.energy_grad(case.queries, **case.query_kw).shape == case.queries.shape


@pytest.mark.parametrize("name", NAMES)
def test_step_never_raises_the_energy_and_respects_the_mask(name: str) -> None:
    case = make_case(name)
    model = case.model
    before = model.energy(case.queries, **case.query_kw)
    stepped = model.step(case.queries, **case.query_kw)
    states = stepped[0] if isinstance(stepped, tuple) else stepped
    assert states.shape == case.queries.shape
    after_kw = case.query_kw if not isinstance(stepped, tuple) else {"covariances": stepped[1]}
    after = model.energy(states, **after_kw)
    assert bool((after <= before + _energy_tolerance(before)).all()), (before, after)
    mask = torch.zeros(case.queries.shape, dtype=torch.bool)
    mask[:, :2] = True
    held = model.step(case.queries, mask=mask, **case.query_kw)
    held_states = held[0] if isinstance(held, tuple) else held
    torch.testing.assert_close(held_states[mask], case.queries[mask].to(held_states.dtype))


@pytest.mark.parametrize("name", names_for("store"))
def test_store_returns_none_and_rejects_bad_patterns(name: str) -> None:
    case = make_case(name)
    model = case.model
    argument = list(inspect.signature(type(model).store).parameters)[1]
    assert model.store(case.patterns, **case.store_kw) is None
    bad = case.patterns.clone()
    bad.view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match=argument):
        model.store(bad, **case.store_kw)
    with pytest.raises(TypeError, match=argument):
        model.store(case.patterns.to(torch.complex128), **case.store_kw)
    with pytest.raises(ValueError, match=argument):
        model.store(case.patterns[0], **case.store_kw)


@pytest.mark.parametrize("name", names_for("empty"))
def test_an_empty_batch_gives_an_empty_result(name: str) -> None:
    case = make_case(name)
    empty = case.queries[:0]
    kw = case.query_slice(case.query_kw, slice(0, 0))
    assert case.model.energy(empty, **kw).shape == (0,)
    result = case.model.recall(empty, max_steps=5, **kw)
    assert result.states.shape == empty.shape
    assert result.converged.shape == (0,) and result.energies.shape[1] == 0


@pytest.mark.parametrize("name", registry.available(registry.VECTOR_STATES))
def test_build_memory_resolves_width_beta_and_seed(name: str) -> None:
    entry = registry.spec(name)
    case = make_case(name)
    assert type(case.model) is entry.memory_class
    for key, value in entry.options.items():
        if key in getattr(case.model, "get_config", dict)():
            assert case.model.get_config()[key] == value or not isinstance(value, str | bool)


def test_registry_lookup_errors_and_state_filter() -> None:
    with pytest.raises(ValueError, match="model must be one of"):
        registry.spec("hopfield-typo")
    with pytest.raises(ValueError, match="states must be among"):
        registry.available(["vectors"])
    with pytest.raises(ValueError, match="gaussian states"):
        registry.build_memory("bures-wasserstein", torch.zeros(2, 3))
    assert set(registry.available(["binary"])) < set(registry.available())
    assert len(set(NAMES)) == len(NAMES)


def test_streaming_memory_follows_the_contract(tmp_path: Path) -> None:
    """The on-disk log-sum-exp memory (no registry entry: it needs a file) obeys the
    same contract for recall, step and empty batches."""
    gen = torch.Generator().manual_seed(0)
    patterns = torch.randn(COUNT, DIM, generator=gen, dtype=torch.float64)
    write_patterns(tmp_path / "p.npy", [patterns])
    model = StreamingMemory(tmp_path / "p.npy", beta=2.0)
    assert isinstance(model, AssociativeMemory)
    queries = patterns[:BATCH] + 0.3 * torch.randn(BATCH, DIM, generator=gen, dtype=torch.float64)
    result = model.recall(queries, max_steps=25)
    assert result.energies.shape == (result.steps + 1, BATCH)
    assert _largest_rise(result.energies) <= _energy_tolerance(result.energies)
    assert model.recall(queries[:0]).states.shape == (0, DIM)
