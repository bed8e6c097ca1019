"""Fuzz every public memory: store, energy and recall on random shapes, dtypes and values.

Memories reject non-finite data after casting to their dtype and reject complex; an
empty batch gives an empty result; a finite result matches the same memory evaluated
in float64.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from fuzz_inputs import (
    FLOATS,
    Draw,
    assert_finite,
    draws,
    make_tensor,
    matrix,
    moderate,
    must_reject,
    outcome,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hopfield.models import LogSumReLUMemory

DIM = 6


def memory_api() -> tuple[list[str], Callable[..., nn.Module], Callable[..., Any]]:
    """``(names, build_memory, recall_memory)`` of the memory registry.

    The one adapter between this suite and the registry: ``hopfield.models.registry``
    when it exists, else the model zoo of the experiments.
    """
    try:
        from hopfield.models import registry
    except ImportError:
        from hopfield.experiments import zoo

        return zoo.available_models(), zoo.build_memory, zoo.recall_memory
    names = registry.available(registry.VECTOR_STATES)
    return names, registry.build_memory, registry.recall_memory


NAMES, BUILD, RECALL = memory_api()

PATTERNS = draws(matrix(st.integers(0, 5), DIM))
QUERIES = draws(matrix(st.integers(0, 4), DIM))


def _memory_dtype(model: nn.Module) -> torch.dtype:
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _float64_reference(model: nn.Module, queries: torch.Tensor) -> torch.Tensor | None:
    """The energy of ``queries`` (cast to the memory's dtype) under a float64 copy."""
    try:
        twin = copy.deepcopy(model).double()
    except Exception:  # pragma: no cover - a model that cannot be copied has no reference
        return None
    if _memory_dtype(twin) != torch.float64:
        return None
    cast = queries.to(_memory_dtype(model)).double()
    with torch.no_grad():
        return twin.energy(cast)  # type: ignore[operator]


def check_memory(name: str, patterns_draw: Draw, queries_draw: Draw) -> None:
    """The outcome rule for one memory on one pair of draws."""
    patterns, queries = make_tensor(patterns_draw), make_tensor(queries_draw)
    model, error = outcome(lambda: BUILD(name, patterns), ("patterns", "keys"))
    if error is not None:
        return
    assert must_reject(patterns_draw, memory_dtype=patterns.dtype) is None, (
        f"{name} stored {patterns_draw} without an error"
    )
    dtype = _memory_dtype(model)
    energy_name = next(iter(_parameters(model.energy)))
    with torch.no_grad():
        energies, error = outcome(lambda: model.energy(queries), (energy_name,))
    if error is not None:
        assert queries_draw.numel or queries_draw.dtype not in FLOATS, (
            f"{name}: empty float queries raised {error!r}"
        )
        return
    reason = must_reject(queries_draw, memory_dtype=dtype)
    assert reason is None, f"{name}.energy accepted {reason} queries {queries_draw}"
    assert energies.shape == (queries.shape[0],)
    checked = energies
    if isinstance(model, LogSumReLUMemory) and model.eps == 0:
        # documented: E = +inf outside every support (never NaN, never -inf)
        checked = energies.nan_to_num(posinf=0.0, neginf=float("nan"))
    assert_finite(checked, f"{name}.energy")
    if moderate(patterns_draw, queries_draw) and queries.shape[0]:
        reference = _float64_reference(model, queries)
        if reference is not None:
            tol = {torch.float16: 1e-2, torch.bfloat16: 5e-2}.get(dtype, 1e-3)
            torch.testing.assert_close(energies.double(), reference, rtol=tol, atol=tol)
    with torch.no_grad():
        result, error = outcome(lambda: RECALL(model, queries, max_steps=3), ("queries", "states"))
    assert error is None, f"{name}.recall rejected queries its energy accepted: {error}"
    assert result.states.shape == queries.shape
    assert_finite(result.states, f"{name} recalled states")
    trace = result.energies
    if isinstance(model, LogSumReLUMemory) and model.eps == 0:
        trace = trace.nan_to_num(posinf=0.0, neginf=float("nan"))
    assert_finite(trace, f"{name} recall energies")


def _parameters(method: Any) -> list[str]:
    import inspect

    return [p for p in inspect.signature(method).parameters if p != "self"]


@pytest.mark.parametrize("name", NAMES)
@given(patterns=PATTERNS, queries=QUERIES)
@settings(max_examples=12)
def test_memory_store_energy_recall(name: str, patterns: Draw, queries: Draw) -> None:
    check_memory(name, patterns, queries)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@given(patterns=PATTERNS, queries=QUERIES)
@settings(max_examples=300)
def test_memory_store_energy_recall_long(name: str, patterns: Draw, queries: Draw) -> None:
    check_memory(name, patterns, queries)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", NAMES)
def test_empty_query_batch_gives_an_empty_result(name: str, dtype: torch.dtype) -> None:
    """In every floating dtype of the memory (a float16 memory's empty batch once took
    a path that mixed its dtype with float32 key norms)."""
    gen = torch.Generator().manual_seed(0)
    patterns = torch.randn(4, DIM, generator=gen).sign().to(dtype)
    model, error = outcome(lambda: BUILD(name, patterns), ("patterns", "keys"))
    if error is not None:
        assert dtype != torch.float32, f"{name} refused float32 patterns: {error!r}"
        return
    queries = torch.empty(0, DIM, dtype=_memory_dtype(model))
    with torch.no_grad():
        energies = model.energy(queries)
        result = RECALL(model, queries, max_steps=3)
    assert energies.shape == (0,)
    assert result.states.shape == (0, DIM)
