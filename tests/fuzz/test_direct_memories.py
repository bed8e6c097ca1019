"""Fuzz the memories and task memories that take more than a pattern matrix, and β.

Each case builds one object on moderate data and feeds it one fuzzed argument: the
call either returns a finite result of the documented shape (matched against a
float64 copy for moderate inputs) or raises ValueError/TypeError naming the argument.
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import torch
from fuzz_inputs import (
    BAD_BETAS,
    BETAS,
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
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hopfield.core.separation import Exponential
from hopfield.core.synapses.memory import DenseMemorySynapse
from hopfield.models import (
    KernelizedHopfield,
    LogSumReLUMemory,
    ModernHopfield,
    RandomFeatureMemory,
    SoftmaxKernelMemory,
    StochasticExponentialAM,
    registry,
)
from hopfield.tasks import AssociativeMemoryBuffer, ClAM, HopfieldOODScorer

D = 5

# ModernHopfield's family (DenseMemory) validates after the cast and rejects complex in
# the lse helper's branch (one log-sum-exp memory, models/lse_memory.py); until it lands
# LogSumReLUMemory still checks before the cast and drops imaginary parts.
LSE_PENDING = pytest.mark.xfail(
    importlib.util.find_spec("hopfield.models.lse_memory") is None,
    reason="DenseMemory checks queries before the cast to its dtype and accepts complex "
    "patterns; fixed by the lse helper's one-LSE-memory change (not on main yet)",
    strict=True,
)


LSE_QUERIES = {
    "LogSumReLUMemory.energy",
    "ModernHopfield.energy",
    "ModernHopfield(euclidean).energy",
    "ModernHopfield(top_k=2).energy",
}
LSE_STORES = {"LogSumReLUMemory.store", "ModernHopfield.store"}


def _lse_pending(name: str, draw: Draw) -> bool:
    """The classes the lse change fixes: complex patterns, 1e39 float64 queries."""
    if not LSE_PENDING.args[0]:
        return False
    if name in LSE_STORES:
        return draw.dtype == torch.complex64 and draw.numel > 0
    return name in LSE_QUERIES and draw.kind == "huge" and draw.dtype == torch.float64


def _class_cases(names: Iterable[str]) -> list[Any]:
    """``(name, draw)`` for every class draw, the lse-pending ones marked xfail."""
    cases = []
    for name in names:
        for draw in class_draws((3, D)):
            if _lse_pending(name, draw):
                cases.append(pytest.param(name, draw, marks=LSE_PENDING, id=f"{name}-{draw}"))
            else:
                cases.append(pytest.param(name, draw, id=f"{name}-{draw}"))
    return cases


def _patterns(rows: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, D, generator=torch.Generator().manual_seed(seed))


def _modern(**options: Any) -> Callable[[torch.Tensor], Any]:
    model = ModernHopfield(2.0, **options)
    model.store(_patterns())
    return model.energy


def _random_features() -> Callable[[torch.Tensor], Any]:
    model = RandomFeatureMemory(D, 16, beta=0.5)
    model.store(_patterns())
    return model.energy


def _kernelized() -> Callable[[torch.Tensor], Any]:
    model = KernelizedHopfield(D, beta=2.0)
    model.store(_patterns())
    return model.energy


def _lsr() -> Callable[[torch.Tensor], Any]:
    model = LogSumReLUMemory(0.05, eps=1e-3)
    model.store(_patterns())
    return model.energy


def _softmax_kernel() -> Callable[[torch.Tensor], Any]:
    model = SoftmaxKernelMemory(D, 3, beta=2.0)
    model.store(_patterns(), _patterns(seed=1)[:, :3])
    return model.retrieve


def _buffer(method: str) -> Callable[[torch.Tensor], Any]:
    buffer = AssociativeMemoryBuffer(_patterns(), _patterns(seed=1)[:, :3], beta=2.0)
    return getattr(buffer, method)


def _clam(method: str) -> Callable[[torch.Tensor], Any]:
    return getattr(ClAM(_patterns(3), beta=2.0, steps=2), method)


def _ood() -> Callable[[torch.Tensor], Any]:
    return HopfieldOODScorer(1.0).fit(_patterns(8)).score


# name -> (factory of the call under fuzz, argument name, output rows follow the batch)
QUERY_CALLS: dict[str, tuple[Callable[[], Callable[[torch.Tensor], Any]], str]] = {
    "ModernHopfield.energy": (_modern, "states"),
    "ModernHopfield(euclidean).energy": (lambda: _modern(similarity="euclidean"), "states"),
    "ModernHopfield(top_k=2).energy": (lambda: _modern(top_k=2), "states"),
    "RandomFeatureMemory.energy": (_random_features, "states"),
    "KernelizedHopfield.energy": (_kernelized, "states"),
    "LogSumReLUMemory.energy": (_lsr, "states"),
    "SoftmaxKernelMemory.retrieve": (_softmax_kernel, "queries"),
    "AssociativeMemoryBuffer.read": (lambda: _buffer("read"), "query"),
    "AssociativeMemoryBuffer.energy": (lambda: _buffer("energy"), "query"),
    "ClAM.energy": (lambda: _clam("energy"), "points"),
    "ClAM.forward": (lambda: _clam("forward"), "points"),
    "HopfieldOODScorer.score": (_ood, "x"),
}
QUERIES = draws(matrix(st.integers(0, 4), D))


def check_query_call(name: str, draw: Draw) -> None:
    factory, argument = QUERY_CALLS[name]
    call = factory()
    queries = make_tensor(draw)
    with torch.no_grad():
        result, error = outcome(lambda: call(queries), (argument,))
    if error is not None:
        assert draw.numel or draw.dtype not in FLOATS, f"{name}: empty queries raised {error!r}"
        return
    # the OOD scorer computes in the queries' dtype (memories cast to it)
    follows = name == "HopfieldOODScorer.score" and queries.is_floating_point()
    reason = must_reject(draw, memory_dtype=queries.dtype if follows else torch.float32)
    assert reason is None, f"{name} accepted {reason} {argument} {draw}"
    assert result.shape[0] == queries.shape[0]
    assert_finite(result, name)
    if moderate(draw) and queries.shape[0] and isinstance(call.__self__, torch.nn.Module):  # type: ignore[attr-defined]
        owner = copy.deepcopy(call.__self__).double()  # type: ignore[attr-defined]
        with torch.no_grad():
            reference = getattr(owner, call.__name__)(queries.float().double())
        torch.testing.assert_close(result.double(), reference, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", QUERY_CALLS)
@given(draw=QUERIES)
@settings(max_examples=15)
def test_query_calls(name: str, draw: Draw) -> None:
    assume(not _lse_pending(name, draw))  # in the class table, as xfail
    check_query_call(name, draw)


@pytest.mark.parametrize(("name", "draw"), _class_cases(QUERY_CALLS))
def test_query_call_classes(name: str, draw: Draw) -> None:
    check_query_call(name, draw)


@pytest.mark.slow
@pytest.mark.parametrize("name", QUERY_CALLS)
@given(draw=QUERIES)
@settings(max_examples=400)
def test_query_calls_long(name: str, draw: Draw) -> None:
    assume(not _lse_pending(name, draw))
    check_query_call(name, draw)


PATTERNS = draws(matrix(st.integers(0, 4), D))


def _store(cls: Callable[[], Any]) -> Callable[[torch.Tensor], Any]:
    return lambda patterns: cls().store(patterns)


# name -> (call taking the fuzzed patterns, argument name)
STORE_CALLS: dict[str, tuple[Callable[[torch.Tensor], Any], str]] = {
    "ModernHopfield.store": (_store(ModernHopfield), "patterns"),
    "LogSumReLUMemory.store": (_store(LogSumReLUMemory), "patterns"),
    "RandomFeatureMemory.store": (_store(lambda: RandomFeatureMemory(D, 8)), "patterns"),
    "KernelizedHopfield.store": (_store(lambda: KernelizedHopfield(D)), "patterns"),
    "DenseMemorySynapse.from_memories": (DenseMemorySynapse.from_memories, "memories"),
    "AssociativeMemoryBuffer(keys)": (
        lambda keys: AssociativeMemoryBuffer(keys, torch.ones(keys.shape[0], 2)),
        "keys",
    ),
    "ClAM(prototypes)": (lambda prototypes: ClAM(prototypes), "prototypes"),
    "HopfieldOODScorer.fit": (lambda inliers: HopfieldOODScorer(1.0).fit(inliers), "inliers"),
}


# calls whose memory keeps a floating input's dtype (the others hold float32)
KEEP_DTYPE = {"ModernHopfield.store", "LogSumReLUMemory.store", "KernelizedHopfield.store"}
KEEP_DTYPE |= {"ClAM(prototypes)", "HopfieldOODScorer.fit"}


def check_store_call(name: str, draw: Draw) -> None:
    call, argument = STORE_CALLS[name]
    patterns = make_tensor(draw)
    _, error = outcome(lambda: call(patterns), (argument,))
    if error is None:
        kept = name in KEEP_DTYPE and patterns.is_floating_point()
        reason = must_reject(draw, memory_dtype=patterns.dtype if kept else torch.float32)
        assert reason is None, f"{name} accepted {reason} {argument} {draw}"


@pytest.mark.parametrize("name", STORE_CALLS)
@given(draw=PATTERNS)
@settings(max_examples=15)
def test_store_calls(name: str, draw: Draw) -> None:
    assume(not _lse_pending(name, draw))  # in the class table, as xfail
    check_store_call(name, draw)


@pytest.mark.parametrize(("name", "draw"), _class_cases(STORE_CALLS))
def test_store_call_classes(name: str, draw: Draw) -> None:
    check_store_call(name, draw)


@pytest.mark.slow
@pytest.mark.parametrize("name", STORE_CALLS)
@given(draw=PATTERNS)
@settings(max_examples=400)
def test_store_calls_long(name: str, draw: Draw) -> None:
    assume(not _lse_pending(name, draw))
    check_store_call(name, draw)


BETA_CALLS: dict[str, Callable[[float], Any]] = {
    "Exponential": Exponential,
    "ModernHopfield": ModernHopfield,
    "LogSumReLUMemory": LogSumReLUMemory,
    "RandomFeatureMemory": lambda beta: RandomFeatureMemory(D, 8, beta=beta),
    "KernelizedHopfield": lambda beta: KernelizedHopfield(D, beta=beta),
    "SoftmaxKernelMemory": lambda beta: SoftmaxKernelMemory(D, 3, beta=beta),
    "StochasticExponentialAM": lambda beta: StochasticExponentialAM(D, beta=beta),
    "AssociativeMemoryBuffer": lambda beta: AssociativeMemoryBuffer(
        _patterns(), _patterns(seed=1), beta=beta
    ),
    "ClAM": lambda beta: ClAM(_patterns(3), beta=beta),
    "HopfieldOODScorer": HopfieldOODScorer,
}


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("name", BETA_CALLS)
def test_beta(name: str, beta: float) -> None:
    """β ≤ 0, ±inf and NaN raise ValueError naming beta; 1 builds; 1e6 builds or is
    refused by a documented bound (a ValueError naming beta)."""
    built, error = outcome(lambda: BETA_CALLS[name](beta), ("beta",))
    if beta in BAD_BETAS or beta != beta:
        assert error is not None and isinstance(error, ValueError), f"{name}({beta}) built"
    elif beta == 1.0:
        assert built is not None, f"{name}({beta}) raised {error!r}"


@pytest.mark.parametrize("beta", [1e6, 1.0])
@pytest.mark.parametrize("name", ["ModernHopfield", "LogSumReLUMemory", "KernelizedHopfield"])
def test_large_beta_energies_stay_finite(name: str, beta: float) -> None:
    model = BETA_CALLS[name](beta)
    patterns = _patterns()
    model.store(patterns)
    with torch.no_grad():
        energies = model.energy(torch.cat([patterns, _patterns(seed=3)]))
    assert not bool(torch.isnan(energies).any())
    assert bool(torch.isfinite(energies[:4]).all())


def test_log_sum_relu_beta_beyond_the_memory_dtype_is_named_not_nan() -> None:
    """β above float32's range made β·0 = inf·0 = NaN energies; the registry default
    β of patterns too close together for their dtype is refused naming the patterns."""
    model = LogSumReLUMemory(1e39)
    model.store(_patterns())
    with pytest.raises(ValueError, match="beta"):
        model.energy(_patterns(seed=2))
    wide = LogSumReLUMemory(1e39)  # a float64 memory holds the same β
    wide.store(_patterns().double())
    assert not bool(wide.energy(_patterns(seed=2).double()).isnan().any())
    tiny = torch.where(_patterns() > 0, 1e-40, -1e-40)
    with pytest.raises(ValueError, match="patterns are too close together"):
        registry.build_memory("lsr", tiny)
