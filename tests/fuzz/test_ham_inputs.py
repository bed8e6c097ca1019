"""Fuzz the HAM graph and its dynamics: ``HAM.energy`` / ``grad`` / ``energy_and_grad`` /
``energy_tree`` / ``activations`` and :func:`hopfield.core.descend`.

Random small graphs (1–3 layers of every Lagrangian of :mod:`hopfield.core`, vector or
token shapes, bias / dense / memory synapses with every separation, energy attention
on tokens) in float32 or float64, fed states of random shapes (wrong rank, wrong
feature size, mismatched batch, missing and unknown layers, non-tensors), dtypes and
value kinds, and descent schedules with bad step sizes, step counts, tolerances and
halving budgets. The outcome rule:

* bad arguments raise ValueError/TypeError naming them (``xs[...]``, ``step_size``, …);
* finite valid states give an energy that is never NaN (``+inf`` only where a
  Lagrangian documents overflow), finite for moderate states and equal to the
  float64 copy of the graph within float32 rounding;
* guarded descent never accepts a step that raises a sample's energy or makes it
  non-finite: the trace is non-increasing and NaN-free, finite after a finite start,
  and the final states are finite; a sample whose energy is unbounded below is
  flagged in ``unbounded`` and held at a finite state.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from fuzz_inputs import DTYPES, FLOATS, KINDS, Draw, make_tensor
from hypothesis import given, settings
from hypothesis import strategies as st

from descent_checks import checked_descend
from hopfield.core import (
    HAM,
    BiasSynapse,
    DenseMemorySynapse,
    DenseSynapse,
    EnergyAttention,
    EnergyLayerNorm,
    Exp,
    Exponential,
    Ghostmax,
    Identity,
    LogSumExp,
    Neurons,
    Polynomial,
    RectifiedPolynomial,
    RectifiedPower,
    ReLUSquared,
    RExp,
    Sigmoid,
    Softmax,
    SphericalNorm,
    Tanh,
)
from hopfield.core.lagrangian_base import Lagrangian
from hopfield.core.synapses import Synapse

LAGRANGIANS: dict[str, Callable[[int], Lagrangian]] = {
    "identity": lambda d: Identity(),
    "tanh": lambda d: Tanh(beta=2.0),
    "sigmoid": lambda d: Sigmoid(beta=0.5),
    "lse": lambda d: LogSumExp(beta=1.5),
    "softmax": lambda d: Softmax(beta=1.0),
    "ghostmax": lambda d: Ghostmax(beta=1.0),
    "exp": lambda d: Exp(beta=0.5),
    "rexp": lambda d: RExp(beta=0.5),
    "relu_power": lambda d: RectifiedPower(3),
    "spherical": lambda d: SphericalNorm(d),
    "layernorm": lambda d: EnergyLayerNorm(d),
}
SEPARATIONS: dict[str, Callable[[], Any]] = {
    "lse": lambda: "lse",
    "exponential": lambda: Exponential(1.0),
    "relu2": ReLUSquared,
    "poly2": lambda: Polynomial(2),
    "poly3": lambda: Polynomial(3),
    "rpoly3": lambda: RectifiedPolynomial(3),
}


@st.composite
def graphs(draw: st.DrawFn) -> HAM:
    """A random HAM of 1–3 layers in float32 or float64."""
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    tokens = draw(st.sampled_from([None, 2]))
    neurons: dict[str, Neurons] = {}
    synapses: dict[str, Synapse] = {}
    connections: list[tuple[tuple[str, ...], str]] = []
    sizes = []
    for i in range(draw(st.integers(1, 3))):
        d = draw(st.integers(1, 6))
        kind = draw(st.sampled_from(sorted(LAGRANGIANS)))
        shape = (d,) if tokens is None else (tokens, d)
        neurons[f"l{i}"] = Neurons(shape, LAGRANGIANS[kind](d), tau=draw(st.floats(0.5, 2.0)))
        sizes.append(d)
        if draw(st.booleans()):
            synapses[f"b{i}"] = BiasSynapse(shape)
            connections.append(((f"l{i}",), f"b{i}"))
        if draw(st.booleans()):
            separation = SEPARATIONS[draw(st.sampled_from(sorted(SEPARATIONS)))]()
            count = draw(st.integers(1, 3))
            synapses[f"m{i}"] = DenseMemorySynapse(count, d, separation=separation, generator=gen)
            connections.append(((f"l{i}",), f"m{i}"))
        if tokens is not None and draw(st.booleans()):
            synapses[f"a{i}"] = EnergyAttention(d, 1, 2, init_std=0.5)
            connections.append(((f"l{i}",), f"a{i}"))
    for i in range(len(sizes) - 1):
        if draw(st.booleans()):
            synapses[f"w{i}"] = DenseSynapse(sizes[i], sizes[i + 1], generator=gen)
            connections.append(((f"l{i}", f"l{i + 1}"), f"w{i}"))
    ham = HAM(neurons, synapses, connections)
    with torch.no_grad():
        for parameter in ham.parameters():
            if parameter.ndim:
                parameter.add_(torch.randn(parameter.shape, generator=gen) * 0.3)
    return ham.to(draw(st.sampled_from([torch.float32, torch.float64])))


SHAPE_FAULTS = ("none", "none", "none", "rank", "features", "batch", "missing", "unknown", "object")


@st.composite
def states(draw: st.DrawFn, ham: HAM) -> tuple[dict[str, Any], str, list[Draw]]:
    """States for ``ham``: a draw per layer, with at most one shape fault."""
    batch = draw(st.integers(0, 3))
    fault = draw(st.sampled_from(SHAPE_FAULTS))
    target = draw(st.sampled_from(sorted(ham.neurons)))
    # a HAM without parameters computes in the dtype of its states
    compute = ham.dtype or draw(st.sampled_from([torch.float32, torch.float64]))
    dtype = draw(st.sampled_from((compute, *DTYPES)))
    xs: dict[str, Any] = {}
    used = []
    for name in ham.neurons:
        shape: tuple[int, ...] = (batch, *ham.layer(name).shape)
        if name == target and fault == "rank":
            shape = shape[1:] if len(shape) > 1 else (batch, 1, 1)
        if name == target and fault == "features":
            shape = (*shape[:-1], shape[-1] + 1)
        if name == target and fault == "batch":
            shape = (batch + 1, *shape[1:])
        kind = draw(st.sampled_from(KINDS)) if name == target else "normal"
        item = Draw(shape, dtype if name == target else compute, kind, draw(st.integers(0, 99)))
        used.append(item)
        xs[name] = make_tensor(item)
    if fault == "missing":
        del xs[target]
    if fault == "unknown":
        xs["nosuch"] = xs[target]
    if fault == "object":
        xs[target] = xs[target].tolist()
    return xs, fault, used


def state_reason(ham: HAM, fault: str, used: list[Draw]) -> str | None:
    """Why ``xs`` must be refused (None: it must be accepted)."""
    if fault == "batch" and len(ham.neurons) == 1:
        fault = "none"  # one layer: just another batch size
    if fault != "none":
        return fault
    if len({item.dtype for item in used}) > 1 and ham.dtype is None:
        return "layers of different dtypes"
    for item in used:
        if item.dtype not in FLOATS:
            return "not real floating"
        if item.kind in ("nan", "inf", "-inf") and item.numel:
            return "non-finite"
        wide = (ham.dtype or item.dtype) == torch.float64 and item.dtype == torch.float64
        if item.kind == "huge" and item.numel and not wide:
            return "overflows the HAM's dtype"
    return None


def undefined(error: BaseException, used: list[Draw]) -> bool:
    """A float64 state of 1e39 may overflow an activation (``exp``): the energy is then
    ``+inf − inf``, reported as an undefined energy of ``xs``."""
    huge = any(item.kind == "huge" for item in used)
    return huge and isinstance(error, ValueError) and "undefined (NaN) energy" in str(error)


def assert_named(error: BaseException, names: tuple[str, ...]) -> None:
    assert isinstance(error, ValueError | TypeError), repr(error)
    assert any(name in str(error) for name in names), f"{error!r} names none of {names}"


def check_energy_calls(ham: HAM, xs: dict[str, Any], fault: str, used: list[Draw]) -> None:
    reason = state_reason(ham, fault, used)
    calls: dict[str, Callable[[], Any]] = {
        "energy": lambda: ham.energy(xs),
        "grad": lambda: ham.grad(xs),
        "energy_and_grad": lambda: ham.energy_and_grad(xs),
        "energy_tree": lambda: ham.energy_tree(xs),
        "activations": lambda: ham.activations(xs),
    }
    for method, call in calls.items():
        try:
            with torch.no_grad():
                result = call()
        except (ValueError, TypeError) as error:
            assert reason is not None or undefined(error, used), f"HAM.{method}: {error!r}"
            assert_named(error, ("xs",))
            continue
        assert reason is None, f"HAM.{method} accepted states with a fault: {reason}"
        check_values(ham, method, result, used)


def check_values(ham: HAM, method: str, result: Any, used: list[Draw]) -> None:
    batch = used[0].shape[0]
    moderate = all(item.kind in ("normal", "sign", "denormal") for item in used)
    if method in ("energy", "energy_and_grad"):
        energy = result[0] if method == "energy_and_grad" else result
        assert energy.shape == (batch,)
        assert energy.dtype == (ham.dtype or used[0].dtype)
        assert not bool(energy.isnan().any()), f"NaN energy from finite states: {energy}"
        if moderate:
            assert bool(torch.isfinite(energy).all()), energy
    if method in ("grad", "activations") or method == "energy_and_grad":
        values = result[1] if method == "energy_and_grad" else result
        for name, value in values.items():
            assert value.shape == (batch, *ham.layer(name).shape)
            if moderate:
                assert bool(torch.isfinite(value).all()), f"{method}[{name}]: {value}"


def check_float64_reference(ham: HAM, xs: dict[str, torch.Tensor]) -> None:
    """Energy and ∂E/∂ĝ of a float32 graph match its float64 copy on the same states."""
    if ham.dtype != torch.float32:
        return
    twin = copy.deepcopy(ham).double()
    with torch.no_grad():
        energy, grads = ham.energy_and_grad(xs)
        states64 = {name: x.to(torch.float32).double() for name, x in xs.items()}
        reference, reference_grads = twin.energy_and_grad(states64)
        tree = twin.energy_tree(states64)
    # rounding scales with the terms that are summed, not with their (cancelling) total
    magnitude = sum(t.abs() for group in tree.values() for t in group.values())
    tolerance = 1e-4 * (1.0 + magnitude)
    assert bool(((energy.double() - reference).abs() <= tolerance).all()), (energy, reference)
    for name, grad in grads.items():
        scale = 1e-3 * (1.0 + reference_grads[name].abs().amax())
        assert float((grad.double() - reference_grads[name]).abs().max()) <= scale


def check_descent(result: Any, ham: HAM, xs: dict[str, torch.Tensor], steps: int) -> None:
    trace = result.energies.detach()
    assert trace.shape[0] == result.steps + 1 and result.steps <= steps
    assert not bool(trace.isnan().any()), f"NaN in the guarded trace: {trace}"
    assert bool((trace[1:] <= trace[:-1]).all()), f"the energy rose: {trace}"
    start_finite = torch.isfinite(trace[0])
    assert bool(torch.isfinite(trace[:, start_finite]).all()), f"non-finite trace: {trace}"
    for name, x in result.states.items():
        assert bool(torch.isfinite(x).all()), f"non-finite final state {name}"
    with torch.no_grad():
        final = ham.energy(result.states)
    same = torch.isclose(final, trace[-1], rtol=1e-5, atol=1e-5) | (final == trace[-1])
    assert bool(same.all()), (final, trace[-1])
    assert result.unbounded.shape == trace[0].shape


def check_ham(
    ham: HAM, xs: dict[str, Any], fault: str, used: list[Draw], step_size: float, grad: bool
) -> None:
    check_energy_calls(ham, xs, fault, used)
    reason = state_reason(ham, fault, used)
    try:
        with torch.set_grad_enabled(grad):  # without autograd: the fast paths
            result = checked_descend(ham, xs, steps=3, step_size=step_size)
    except (ValueError, TypeError) as error:
        assert reason is not None or undefined(error, used), f"descend: {error!r}"
        assert_named(error, ("xs",))
        return
    assert reason is None, f"descend accepted states with a fault: {reason}"
    check_descent(result, ham, xs, 3)
    if all(item.kind in ("normal", "sign") for item in used) and used[0].shape[0]:
        check_float64_reference(ham, xs)


STEP_SIZES = st.sampled_from([0.1, 0.5, 1.0, 10.0, 1e6, 1e30])


@given(data=st.data())
@settings(max_examples=200)
def test_ham_states_and_guarded_descent(data: st.DataObject) -> None:
    ham = data.draw(graphs())
    xs, fault, used = data.draw(states(ham))
    check_ham(ham, xs, fault, used, data.draw(STEP_SIZES), data.draw(st.booleans()))


@pytest.mark.slow
@given(data=st.data())
@settings(max_examples=3000)
def test_ham_states_and_guarded_descent_long(data: st.DataObject) -> None:
    ham = data.draw(graphs())
    xs, fault, used = data.draw(states(ham))
    check_ham(ham, xs, fault, used, data.draw(STEP_SIZES), data.draw(st.booleans()))


def _small_ham(dtype: torch.dtype = torch.float64) -> tuple[HAM, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    ham = HAM(
        {"v": Neurons(3, Tanh()), "h": Neurons(2, LogSumExp())},
        {"w": DenseSynapse(3, 2, generator=gen), "b": BiasSynapse(3)},
        [(("v", "h"), "w"), (("v",), "b")],
    ).to(dtype)
    return ham, ham.init_states(2, std=1.0, generator=gen, dtype=dtype)


NAN, INF = float("nan"), float("inf")
# argument -> (bad values, good values)
SCHEDULE: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "step_size": ((0.0, -1.0, INF, -INF, NAN, True, "0.1", None), (1e-30, 0.1, 1, 10.0, 1e30)),
    "steps": ((-1, 2.0, True, None, "2"), (0, 1, 3)),
    "tol": ((-1.0, NAN, INF, "0"), (None, 0.0, 1e-3)),
    "max_halvings": ((-1, 2.5, True, None), (0, 3, 60)),
    "guard": ((1, "yes", None), (True, False)),
}
SCHEDULE_CASES = [
    (argument, value, good)
    for argument, (bad, ok) in SCHEDULE.items()
    for good, values in ((False, bad), (True, ok))
    for value in values
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("argument", "value", "good"), SCHEDULE_CASES)
def test_descend_schedule_arguments(
    argument: str, value: Any, good: bool, dtype: torch.dtype
) -> None:
    """Bad schedule values raise naming the argument; good ones (step sizes from 1e-30
    to 1e30 included) descend without raising the energy."""
    ham, xs = _small_ham(dtype)
    options: dict[str, Any] = {"steps": 3, "step_size": 0.5, argument: value}
    if not good:
        with pytest.raises((ValueError, TypeError), match=argument):
            checked_descend(ham, xs, **options)
        return
    result = checked_descend(ham, xs, **options)
    if options.get("guard", True):
        check_descent(result, ham, xs, options["steps"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_energy_unbounded_below_is_reported_and_held(dtype: torch.dtype) -> None:
    """Identity neurons under a cubic memory: E → −∞ along the memories. Descent with
    huge steps flags the samples and holds them at finite states."""
    gen = torch.Generator().manual_seed(0)
    ham = HAM(
        {"v": Neurons(3, Identity())},
        {"m": DenseMemorySynapse(2, 3, separation=Polynomial(3), generator=gen)},
        [(("v",), "m")],
    ).to(dtype)
    xs = {"v": ham.synapse("m").memories.detach().clone() * 50}
    result = checked_descend(ham, xs, steps=40, step_size=10.0)
    check_descent(result, ham, xs, 40)
    assert bool(result.unbounded.all()), result.energies[-1]
    assert math.isfinite(float(result.final_energy.detach().min()))


@pytest.mark.parametrize("ham_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dtype", DTYPES)
def test_state_dtypes(ham_dtype: torch.dtype, dtype: torch.dtype) -> None:
    """Real floating states follow the HAM's dtype; complex, integer and bool raise
    TypeError naming the layer."""
    ham, xs = _small_ham(ham_dtype)
    xs = {name: x.to(dtype) for name, x in xs.items()}
    if dtype not in FLOATS:
        with pytest.raises(TypeError, match=r"xs\['v'\]"):
            checked_descend(ham, xs, steps=1)
        return
    result = checked_descend(ham, xs, steps=2)
    assert all(x.dtype == ham_dtype for x in result.states.values())
    check_descent(result, ham, {n: x.to(ham_dtype) for n, x in xs.items()}, 2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("step_size", [1e5, 1e30])
def test_a_step_beyond_the_states_dtype_is_held_not_a_crash(
    dtype: torch.dtype, step_size: float
) -> None:
    """A HAM without parameters computes in its states' dtype; η/τ above float16's
    range once crashed the fused Euler step (``alpha`` cannot hold it)."""
    ham = HAM({"v": Neurons(3, Tanh())}, {}, [])
    xs = {"v": torch.randn(2, 3, generator=torch.Generator().manual_seed(0)).to(dtype)}
    with torch.no_grad():
        result = checked_descend(ham, xs, steps=2, step_size=step_size)
    check_descent(result, ham, xs, 2)


def test_an_overflowing_activation_is_an_undefined_energy_not_nan() -> None:
    """Exp neurons at x = 1e39 (finite in float64): the layer energy is +inf and the
    coupling −inf, so the total was NaN and guarded descent never moved. Now the public
    energy and descend name ``xs``; a finite start still descends."""
    gen = torch.Generator().manual_seed(0)
    ham = HAM(
        {"a": Neurons(1, Exp(beta=0.5)), "b": Neurons(1, Exp(beta=0.5))},
        {"w": DenseSynapse(1, 1, generator=gen)},
        [(("a", "b"), "w")],
    ).double()
    xs = {
        "a": torch.tensor([[1.5]], dtype=torch.float64),
        "b": torch.tensor([[1e39]], dtype=torch.float64),
    }
    for call in (
        ham.energy,
        lambda s: ham.energy_and_grad(s)[0],
        lambda s: checked_descend(ham, s, steps=2),
    ):
        with pytest.raises(ValueError, match=r"xs gives an undefined \(NaN\) energy"):
            call(xs)
    xs["b"] = torch.tensor([[0.5]], dtype=torch.float64)
    check_descent(checked_descend(ham, xs, steps=2), ham, xs, 2)
