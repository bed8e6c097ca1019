"""The descent in the memories' span (hopfield.core.memory_span) against the direct step.

A single spherical layer under one dense memory descends in the coordinates
``x = c x₀ + aΞ`` (one ``B × M × M`` product per step). Its iterates, energies, step
sizes and rejections must be those of the direct step (float64: to rounding), the
first step must be the autograd step, and the cached Gram matrix must follow any
change of the memories.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.core import (
    HAM,
    DenseMemorySynapse,
    Neurons,
    SphericalNorm,
    descend,
    dynamics,
    memory_span,
)
from hopfield.core.separation import Polynomial, Separation

DIM, MEMORIES = 12, 10


def _ham(
    *,
    beta: float = 6.0,
    separation: Separation | None = None,
    tau: float = 1.0,
    bias: bool = False,
    memories: int = MEMORIES,
    dim: int = DIM,
    seed: int = 0,
) -> HAM:
    gen = torch.Generator().manual_seed(seed)
    kwargs: dict = {"beta": beta} if separation is None else {"separation": separation}
    synapse = DenseMemorySynapse(memories, dim, generator=gen, **kwargs)
    ham = HAM(
        neurons={"v": Neurons(dim, SphericalNorm(dim, gamma=1.5), tau=tau)},
        synapses={"memory": synapse},
        connections=[(("v",), "memory")],
    ).double()
    if bias:
        with torch.no_grad():
            ham.layer("v").lagrangian.delta.copy_(0.2 * torch.randn(dim, generator=gen))
    return ham.requires_grad_(False)


def _queries(ham: HAM, batch: int = 7, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    synapse = ham.synapse("memory")
    assert isinstance(synapse, DenseMemorySynapse)
    memories = synapse.memories.detach()
    index = torch.randint(0, memories.shape[0], (batch,), generator=gen)
    noise = torch.randn(batch, memories.shape[1], generator=gen, dtype=memories.dtype)
    return 2.0 * memories[index] + 0.5 * noise


def _both(ham: HAM, x: torch.Tensor, steps: int, step_size: float, guard: bool = True):  # type: ignore[no-untyped-def]
    assert memory_span.plan(ham, x, steps, step_size) is not None
    with torch.no_grad():
        span = dynamics._iterate(ham, {"v": x}, {}, steps, step_size, None, guard, 20)
        direct = dynamics._iterate(ham, {"v": x}, {}, steps, step_size, None, guard, 20, span=False)
    return span, direct


@pytest.mark.parametrize(
    ("options", "step_size", "guard"),
    [
        ({}, 0.1, True),
        ({}, 0.1, False),
        ({"bias": True, "tau": 2.0}, 0.3, True),
        ({"separation": Polynomial(3)}, 0.05, True),
        ({"beta": 20.0}, 1.0, False),
    ],
)
def test_span_descent_is_the_direct_descent(options: dict, step_size: float, guard: bool) -> None:
    ham = _ham(**options)
    x = _queries(ham)
    span, direct = _both(ham, x, steps=6, step_size=step_size, guard=guard)
    torch.testing.assert_close(span.states["v"], direct.states["v"], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(span.energies, direct.energies, rtol=1e-12, atol=1e-12)
    assert torch.equal(span.step_sizes, direct.step_sizes)
    assert span.rejections == direct.rejections
    assert span.steps == direct.steps == 6
    assert not bool(span.converged.any()) and not bool(span.unbounded.any())


def test_span_guard_with_rejections_is_the_direct_guard() -> None:
    """Large steps: the same samples are halved the same number of times."""
    ham = _ham(beta=8.0, bias=True)
    x = _queries(ham, batch=16)
    span, direct = _both(ham, x, steps=3, step_size=3.0)
    assert direct.rejections > 10
    assert span.rejections == direct.rejections
    assert torch.equal(span.step_sizes, direct.step_sizes)
    torch.testing.assert_close(span.energies, direct.energies, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(span.states["v"], direct.states["v"], rtol=1e-9, atol=1e-9)
    trace = span.energies
    assert bool((trace[1:] <= trace[:-1]).all())


def test_first_span_step_is_the_autograd_step() -> None:
    """``x₁ = x₀ − η ∂E/∂ĝ`` with ``∂E/∂ĝ`` by autograd of the total energy (float64)."""
    ham = _ham(bias=True)
    x = _queries(ham)
    norm = ham.layer("v").lagrangian
    synapse = ham.synapse("memory")
    with torch.enable_grad():
        g = norm.activation(x).detach().requires_grad_(True)
        energy = (g * x).sum() - norm(x).sum() + synapse.energy(g).sum()
        (grad,) = torch.autograd.grad(energy, g)
    expected = x - 0.25 * grad
    with torch.no_grad():
        descend(ham, {"v": x}, steps=5, step_size=0.25)  # caches ΞΞᵀ: one step is then cheaper
        result = descend(ham, {"v": x}, steps=1, step_size=0.25, guard=False)
        assert memory_span.plan(ham, x, 1, 0.25) is not None
        torch.testing.assert_close(result.states["v"], expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(result.energies[1], ham.energy({"v": expected}))


def test_float32_energies_follow_the_states_over_a_long_descent() -> None:
    """The reported energy is the energy of the returned state (no drift in float32)."""
    ham = _ham(bias=True).float()
    x = _queries(ham, batch=32).float()
    with torch.no_grad():
        result = descend(ham, {"v": x}, steps=300, step_size=0.5)
        assert memory_span.plan(ham, x, 300, 0.5) is not None
        energy = ham.energy(result.states)
    torch.testing.assert_close(result.final_energy, energy, rtol=1e-5, atol=1e-5)


def test_the_cached_gram_matrix_follows_the_memories() -> None:
    ham = _ham()
    x = _queries(ham)
    synapse = ham.synapse("memory")
    assert isinstance(synapse, DenseMemorySynapse)
    for change in ("copy_", "data"):
        with torch.no_grad():
            descend(ham, {"v": x}, steps=3, step_size=0.1)  # fills the cache
            new = torch.randn_like(synapse.memories)
            if change == "copy_":
                synapse.memories.copy_(new)
            else:
                synapse.memories.data.copy_(new)
        span, direct = _both(ham, x, steps=3, step_size=0.1)
        torch.testing.assert_close(span.states["v"], direct.states["v"], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", ["many_memories", "no_steps", "two_layers", "layer_norm"])
def test_span_path_is_not_planned_where_it_does_not_apply(case: str) -> None:
    ham = _ham(memories=200) if case == "many_memories" else _ham()
    x = _queries(ham)
    steps = 0 if case == "no_steps" else 5
    if case == "two_layers":
        ham = HAM(
            neurons={"v": Neurons(DIM, SphericalNorm(DIM)), "h": Neurons(3, SphericalNorm(3))},
            synapses={"memory": DenseMemorySynapse(MEMORIES, DIM)},
            connections=[(("v",), "memory")],
        ).double()
    if case == "layer_norm":
        from hopfield.core import EnergyLayerNorm

        ham.layer("v").lagrangian = EnergyLayerNorm(DIM).double()
    assert memory_span.plan(ham, x, steps, 0.1) is None


def test_descend_keeps_the_direct_path_for_tol_clamp_and_gradients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    original = memory_span.run

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(memory_span, "run", spy)
    ham = _ham()
    x = _queries(ham)
    with torch.no_grad():
        descend(ham, {"v": x}, steps=4, step_size=0.1)
        assert len(calls) == 1
        descend(ham, {"v": x}, steps=4, step_size=0.1, tol=1e-3)
        descend(ham, {"v": x}, steps=4, step_size=0.1, clamp={"v": torch.zeros(DIM).bool()})
    descend(ham, {"v": x.clone().requires_grad_(True)}, steps=4, step_size=0.1)
    assert len(calls) == 1


@settings(max_examples=60, deadline=None)
@given(
    dim=st.integers(1, 8),
    memories=st.integers(1, 12),
    beta=st.floats(0.1, 30.0),
    step_size=st.floats(1e-3, 8.0),
    steps=st.integers(1, 6),
    guard=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_span_descent_on_random_memories(
    dim: int,
    memories: int,
    beta: float,
    step_size: float,
    steps: int,
    guard: bool,
    bias: bool,
    seed: int,
) -> None:
    """Any size and step: a finite trace, non-increasing with the guard, that is the
    energy of the returned states, and step sizes η·2⁻ᵏ or 0."""
    ham = _ham(beta=beta, bias=bias, memories=memories, dim=dim, seed=seed)
    x = _queries(ham, batch=5, seed=seed + 1)
    with torch.no_grad():
        descend(ham, {"v": x}, steps=50, step_size=step_size)  # caches ΞΞᵀ
        if memory_span.plan(ham, x, steps, step_size) is None:
            return  # the direct path is cheaper for these sizes
        result = descend(ham, {"v": x}, steps=steps, step_size=step_size, guard=guard)
        energy = ham.energy(result.states)
    trace = result.energies
    assert bool(torch.isfinite(trace).all())
    if guard:
        assert bool((trace[1:] <= trace[:-1]).all())
    torch.testing.assert_close(trace[-1], energy, rtol=1e-9, atol=1e-9)
    sizes = result.step_sizes[result.step_sizes > 0] / step_size
    assert bool((torch.log2(sizes) == torch.round(torch.log2(sizes))).all())
