"""Fuzz the registry's memories of structured states: Gaussians (``bures-wasserstein``),
oscillator phases (``kuramoto``) and constrained vectors (``sparse-recovery``).

Each memory is stored with fuzzed data (patterns, means and covariances) and then fed
fuzzed states: every call returns a finite result of the documented shape (matched
against a float64 copy for moderate inputs) or raises ValueError/TypeError naming the
argument; an empty batch gives an empty result; a call before ``store`` is a
ValueError saying the memory is empty.
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
    class_draws,
    draws,
    make_tensor,
    matrix,
    moderate,
    must_reject,
    outcome,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.models import BuresWassersteinMemory, KuramotoMemory, SparseRecoveryMemory

D = 3  # Gaussian dimension
N = 6  # oscillators / vector length


def covariances_like(draw: Draw) -> torch.Tensor:
    """SPD covariances ``(K, D, D)`` with the draw's dtype and special value (if any)."""
    rows = draw.shape[0]
    gen = torch.Generator().manual_seed(draw.seed)
    factor = torch.randn(rows, D, D, generator=gen, dtype=torch.float64)
    spd = factor @ factor.transpose(1, 2) * 0.1 + torch.eye(D, dtype=torch.float64)
    if draw.numel and draw.kind in ("nan", "inf", "-inf", "huge"):
        spd[0, 0, 0] = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}.get(
            draw.kind, 1e39
        )
    if draw.dtype == torch.complex64:
        return torch.complex(spd.float(), spd.float())
    if draw.dtype in (torch.int64, torch.bool):
        return spd.round().to(draw.dtype)
    return spd.to(draw.dtype)


def _bw() -> BuresWassersteinMemory:
    model = BuresWassersteinMemory(2.0)
    good = Draw((4, D), torch.float32, "normal", 0)
    model.store(make_tensor(good), covariances=covariances_like(good))
    return model


def _kuramoto() -> KuramotoMemory:
    model = KuramotoMemory(N, seed=0)
    model.store(make_tensor(Draw((2, N), torch.float32, "sign", 0)))
    return model


def _sparse() -> SparseRecoveryMemory:
    model = SparseRecoveryMemory()
    model.store(make_tensor(Draw((2, N), torch.float32, "normal", 0)))
    return model


# name -> (memory factory, call on (memory, fuzzed tensor), argument name)
CALLS: dict[str, tuple[Callable[[], Any], Callable[[Any, torch.Tensor], Any], str]] = {
    "bures-wasserstein.energy(means)": (
        _bw, lambda m, x: m.energy(x, covariances=covariances_like(_normal(x, D))), "means",
    ),
    "bures-wasserstein.energy(covariances)": (
        _bw, lambda m, x: m.energy(_means(x), covariances=x), "covariances",
    ),
    "bures-wasserstein.recall": (
        _bw,
        lambda m, x: m.recall(x, covariances=covariances_like(_normal(x, D)), steps=2).states,
        "means",
    ),
    "kuramoto.energy": (_kuramoto, lambda m, x: m.energy(x), "phases"),
    "kuramoto.energy_grad": (_kuramoto, lambda m, x: m.energy_grad(x), "phases"),
    "kuramoto.recall": (_kuramoto, lambda m, x: m.recall(x, steps=3).states, "queries"),
    "sparse-recovery.energy": (_sparse, lambda m, x: m.energy(x), "states"),
    "sparse-recovery.recall": (_sparse, lambda m, x: m.recall(x, steps=1).states, "states"),
}  # fmt: skip
WIDTH = {name: D if name.startswith("bures") else N for name in CALLS}


def _normal(x: torch.Tensor, width: int) -> Draw:
    """A moderate float32 draw with the batch of ``x`` (the partner argument)."""
    return Draw((x.shape[0], width), torch.float32, "normal", 7)


def _eye() -> torch.Tensor:
    return torch.eye(D)[None]


def _means(covariances: torch.Tensor) -> torch.Tensor:
    return make_tensor(_normal(covariances, D))


def fuzzed(name: str, draw: Draw) -> torch.Tensor:
    if name == "bures-wasserstein.energy(covariances)":
        return covariances_like(draw)
    return make_tensor(draw)


def check_call(name: str, draw: Draw) -> None:
    factory, call, argument = CALLS[name]
    memory = factory()
    x = fuzzed(name, draw)
    with torch.no_grad():
        result, error = outcome(lambda: call(memory, x), (argument,))
    if error is not None:
        assert draw.numel or draw.dtype not in FLOATS, f"{name}: empty input raised {error!r}"
        return
    wide = "kuramoto" in name or "sparse" in name  # they compute in float64
    reason = must_reject(draw, memory_dtype=torch.float64 if wide else _dtype(memory))
    assert reason is None, f"{name} accepted {reason} {argument} {draw}"
    assert result.shape[0] == draw.shape[0]
    assert_finite(result, name)
    if moderate(draw) and draw.shape[0] and "recall" not in name:
        twin = copy.deepcopy(memory).double()
        with torch.no_grad():
            reference = call(twin, x.to(_dtype(memory)).double())
        torch.testing.assert_close(result.double(), reference.double(), rtol=1e-4, atol=1e-4)


def _dtype(memory: Any) -> torch.dtype:
    for tensor in [*memory.parameters(), *memory.buffers()]:
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


QUERIES = {name: draws(matrix(st.integers(0, 3), WIDTH[name])) for name in CALLS}


@pytest.mark.parametrize("name", CALLS)
@given(data=st.data())
@settings(max_examples=15)
def test_structured_calls(name: str, data: st.DataObject) -> None:
    check_call(name, data.draw(QUERIES[name]))


@pytest.mark.slow
@pytest.mark.parametrize("name", CALLS)
@given(data=st.data())
@settings(max_examples=300)
def test_structured_calls_long(name: str, data: st.DataObject) -> None:
    check_call(name, data.draw(QUERIES[name]))


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        pytest.param(name, draw, id=f"{name}-{draw}")
        for name in CALLS
        for draw in class_draws((3, WIDTH[name]))
    ],
)
def test_structured_call_classes(name: str, draw: Draw) -> None:
    check_call(name, draw)


STORES: dict[str, tuple[Callable[[torch.Tensor], Any], str, str]] = {
    "bures-wasserstein(means)": (
        lambda x: BuresWassersteinMemory().store(x, covariances=covariances_like(_normal(x, D))),
        "means", "normal",
    ),
    "bures-wasserstein(covariances)": (
        lambda x: BuresWassersteinMemory().store(_means(x), covariances=x),
        "covariances", "normal",
    ),
    "kuramoto": (lambda x: KuramotoMemory(N).store(x), "patterns", "sign"),
    "sparse-recovery": (lambda x: SparseRecoveryMemory().store(x), "patterns", "normal"),
}  # fmt: skip


def check_store(name: str, draw: Draw) -> None:
    call, argument, good_kind = STORES[name]
    x = covariances_like(draw) if name.endswith("(covariances)") else make_tensor(draw)
    _, error = outcome(lambda: call(x), (argument,))
    reason = must_reject(draw, memory_dtype=draw.dtype if draw.dtype in FLOATS else torch.float32)
    if draw.shape[0] == 0:
        reason = reason or "empty"
    if name == "kuramoto" and draw.kind not in ("sign",) and draw.numel:
        reason = reason or "not ±1"
    if error is None:
        assert reason is None, f"{name}.store accepted {reason} {argument} {draw}"
    elif draw.kind == good_kind and draw.dtype in (torch.float32, torch.float64) and draw.shape[0]:
        raise AssertionError(f"{name}.store refused good {argument} {draw}: {error!r}")


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        pytest.param(name, draw, id=f"{name}-{draw}")
        for name in STORES
        for draw in [*class_draws((2, D if "bures" in name else N)),
                     Draw((2, D if "bures" in name else N), torch.float32, "sign", 0)]
    ],
)  # fmt: skip
def test_structured_store_classes(name: str, draw: Draw) -> None:
    check_store(name, draw)


@pytest.mark.parametrize(
    ("factory", "call"),
    [
        (BuresWassersteinMemory, lambda m: m.energy(torch.ones(1, D), covariances=_eye())),
        (lambda: KuramotoMemory(N), lambda m: m.energy(torch.ones(1, N))),
        (SparseRecoveryMemory, lambda m: m.energy(torch.ones(1, N))),
    ],
)  # fmt: skip
def test_a_call_before_store_is_a_value_error(factory: Callable[[], Any], call: Any) -> None:
    with pytest.raises(ValueError, match=r"store|fit"):
        call(factory())
