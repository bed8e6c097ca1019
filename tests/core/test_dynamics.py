"""Guarded energy descent: monotone energy over random HAMs, clamping, τ, tolerance,
validation, and gradients through unrolled steps."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descent_checks import checked_descend
from hopfield.core import (
    HAM,
    BiasSynapse,
    DenseMemorySynapse,
    DenseSynapse,
    DescentResult,
    EnergyLayerNorm,
    Identity,
    LogSumExp,
    Neurons,
    Polynomial,
    RectifiedPower,
    ReLUSquared,
    Sigmoid,
    SphericalNorm,
    Tanh,
    UnboundedEnergyWarning,
    descend,
)
from hopfield.core.lagrangian_base import Lagrangian
from hopfield.core.synapses import Synapse

LAGRANGIANS = ["identity", "tanh", "sigmoid", "lse", "spherical", "layernorm", "relu_power"]


def _lagrangian(kind: str, features: int, beta: float) -> Lagrangian:
    builders: dict[str, Callable[[], Lagrangian]] = {
        "identity": Identity,
        "tanh": lambda: Tanh(beta=beta),
        "sigmoid": lambda: Sigmoid(beta=beta),
        "lse": lambda: LogSumExp(beta=beta, learnable_beta=True),
        "spherical": lambda: SphericalNorm(features),
        "layernorm": lambda: EnergyLayerNorm(features),
        "relu_power": lambda: RectifiedPower(2 + beta),
    }
    return builders[kind]()


def _memory_synapse(kind: int, features: int, gen: torch.Generator) -> DenseMemorySynapse:
    if kind == 0:
        return DenseMemorySynapse(3, features, beta=2.0, learnable_beta=True, generator=gen)
    if kind == 1:
        return DenseMemorySynapse(3, features, separation=ReLUSquared(), generator=gen)
    return DenseMemorySynapse(3, features, separation=Polynomial(2), generator=gen)


@st.composite
def random_hams(draw: st.DrawFn) -> tuple[HAM, dict[str, torch.Tensor], int]:
    """A random 1–3 layer HAM (float64), random initial states, and a seed."""
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    tokens = draw(st.sampled_from([None, 2]))
    n_layers = draw(st.integers(1, 3))
    neurons: dict[str, Neurons] = {}
    synapses: dict[str, Synapse] = {}
    connections: list[tuple[tuple[str, ...], str]] = []
    features: list[int] = []
    for i in range(n_layers):
        d = draw(st.integers(1, 5))
        kind = draw(st.sampled_from(LAGRANGIANS))
        beta = draw(st.floats(0.3, 3.0))
        shape = (d,) if tokens is None else (tokens, d)
        neurons[f"l{i}"] = Neurons(shape, _lagrangian(kind, d, beta), tau=draw(st.floats(0.5, 2.0)))
        features.append(d)
        if draw(st.booleans()):
            synapses[f"bias{i}"] = BiasSynapse(shape)
            connections.append(((f"l{i}",), f"bias{i}"))
        if draw(st.booleans()):
            synapses[f"mem{i}"] = _memory_synapse(draw(st.integers(0, 2)), d, gen)
            connections.append(((f"l{i}",), f"mem{i}"))
    for i in range(n_layers - 1):
        if draw(st.booleans()):
            synapses[f"w{i}"] = DenseSynapse(features[i], features[i + 1], generator=gen)
            connections.append(((f"l{i}", f"l{i + 1}"), f"w{i}"))
    ham = HAM(neurons, synapses, connections).double()
    weight_scale = draw(st.floats(0.1, 2.0))
    with torch.no_grad():
        for p in ham.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * weight_scale)
    batch = draw(st.integers(1, 3))
    xs = ham.init_states(batch, std=draw(st.floats(0.1, 3.0)), generator=gen, dtype=torch.float64)
    return ham, xs, seed


def _check_guard_never_raises_energy(data: st.DataObject) -> None:
    ham, xs, seed = data.draw(random_hams())
    step_size = data.draw(st.floats(1e-3, 10.0))
    steps = data.draw(st.integers(1, 4))
    clamp = None
    if data.draw(st.booleans()):
        first = next(iter(xs))
        gen = torch.Generator().manual_seed(seed + 1)
        clamp = {first: torch.rand(xs[first].shape, generator=gen) < 0.5}
    with torch.set_grad_enabled(data.draw(st.booleans())):
        result = checked_descend(ham, xs, steps=steps, step_size=step_size, clamp=clamp)
    trace = result.energies.detach()
    assert trace.shape == (steps + 1, xs[next(iter(xs))].shape[0])
    assert bool((trace[1:] <= trace[:-1]).all()), f"energy rose: {trace}"
    with torch.no_grad():
        final = ham.energy(result.states)
    assert bool((final <= ham.energy(xs).detach()).all())
    torch.testing.assert_close(final, trace[-1], rtol=1e-12, atol=1e-12)
    if clamp is not None:
        for name, mask in clamp.items():
            assert torch.equal(result.states[name].detach()[mask], xs[name][mask])


class _SingleThread:
    """Tiny tensors: one intra-op thread avoids thread wake-up latency on a busy machine."""

    def __enter__(self) -> None:
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.threads)


@settings(max_examples=500)
@given(st.data())
def test_guarded_descent_never_raises_energy_on_random_hams(data: st.DataObject) -> None:
    with _SingleThread():
        _check_guard_never_raises_energy(data)


@pytest.mark.slow
@settings(max_examples=3000)
@given(st.data())
def test_guarded_descent_never_raises_energy_on_random_hams_long(data: st.DataObject) -> None:
    with _SingleThread():
        _check_guard_never_raises_energy(data)


def _quadratic_ham(scale: float = 3.0, tau: float = 1.0) -> HAM:
    """Identity neurons with a strong symmetric coupling: plain Euler diverges for η ≳ 1."""
    gen = torch.Generator().manual_seed(0)
    coupling, bias = DenseSynapse(4, 3, generator=gen), BiasSynapse(4)
    with torch.no_grad():
        coupling.weight.mul_(scale)
        bias.bias.normal_(generator=gen)
    return HAM(
        {"v": Neurons(4, Identity(), tau=tau), "h": Neurons(3, Tanh())},
        {"w": coupling, "b": bias},
        [(("v", "h"), "w"), (("v",), "b")],
    ).double()


def _start(ham: HAM, batch: int = 4, seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return ham.init_states(batch, std=1.0, generator=gen, dtype=torch.float64)


def test_guard_rejects_steps_that_plain_euler_takes_uphill() -> None:
    (ham,) = (_quadratic_ham(),)
    xs = _start(ham)
    with torch.no_grad():
        plain = checked_descend(ham, xs, steps=5, step_size=3.0, guard=False)
        guarded = checked_descend(ham, xs, steps=5, step_size=3.0)
    assert bool((plain.energies[1:] > plain.energies[:-1]).any())  # the guard is needed here
    assert plain.rejections == 0
    assert bool((guarded.energies[1:] <= guarded.energies[:-1]).all())
    assert guarded.rejections > 0
    assert bool((guarded.step_sizes < 3.0).any())
    # accepted sizes are 3·2^-k or 0
    k = torch.log2(3.0 / guarded.step_sizes[guarded.step_sizes > 0])
    torch.testing.assert_close(k, k.round())


def test_guard_is_per_sample() -> None:
    """A batch gives the same trajectories as its samples run one by one."""
    ham = _quadratic_ham()
    xs = _start(ham, batch=5)
    with torch.no_grad():
        batched = checked_descend(ham, xs, steps=4, step_size=2.0)
        for b in range(5):
            one = {k: v[b : b + 1] for k, v in xs.items()}
            single = checked_descend(ham, one, steps=4, step_size=2.0)
            torch.testing.assert_close(single.step_sizes[:, 0], batched.step_sizes[:, b])
            for name in xs:
                torch.testing.assert_close(single.states[name][0], batched.states[name][b])
    assert len(set(batched.step_sizes[0].tolist())) > 1  # samples really took different steps


def test_unguarded_step_is_explicit_euler_with_per_layer_tau() -> None:
    ham = _quadratic_ham(scale=0.5)
    ham.layer("v").tau = 4.0
    ham.layer("h").tau = 0.5
    xs = _start(ham)
    grads = ham.grad(xs)
    result = checked_descend(ham, xs, steps=1, step_size=0.2, guard=False)
    torch.testing.assert_close(result.states["v"], xs["v"] - 0.2 / 4.0 * grads["v"])
    torch.testing.assert_close(result.states["h"], xs["h"] - 0.2 / 0.5 * grads["h"])
    torch.testing.assert_close(result.energies[1], ham.energy(result.states))
    assert torch.equal(result.step_sizes, torch.full((1, 4), 0.2, dtype=torch.float64))


def test_halvings_exhausted_leave_the_sample_in_place() -> None:
    ham = _quadratic_ham(scale=5.0)
    xs = _start(ham)
    with torch.no_grad():
        result = checked_descend(ham, xs, steps=1, step_size=1e6, max_halvings=0)
    assert result.rejections == 4
    assert torch.equal(result.step_sizes, torch.zeros(1, 4, dtype=torch.float64))
    for name in xs:
        assert torch.equal(result.states[name], xs[name])
    assert torch.equal(result.energies[1], result.energies[0])


def test_clamped_entries_and_layers_never_move() -> None:
    ham = _quadratic_ham()
    xs = _start(ham)
    mask = torch.tensor([True, False, True, False])
    for clamp in ({"v": mask}, {"v": mask.expand(4, 4).clone()}, {"h": True}, ["h"], {"h"}):
        result = checked_descend(ham, xs, steps=6, step_size=0.5, clamp=clamp)
        v, h = result.states["v"].detach(), result.states["h"].detach()
        if "v" in clamp:
            assert torch.equal(v[:, mask], xs["v"][:, mask])
            assert not torch.equal(v[:, ~mask], xs["v"][:, ~mask])
            assert not torch.equal(h, xs["h"])
        else:
            assert torch.equal(h, xs["h"])
            assert not torch.equal(v, xs["v"])


def test_tolerance_stops_early_and_reports_convergence() -> None:
    ham = _quadratic_ham(scale=0.3)
    xs = _start(ham)
    result = checked_descend(ham, xs, steps=500, step_size=0.5, tol=1e-6)
    assert isinstance(result, DescentResult)
    assert 1 < result.steps < 500
    assert bool(result.converged.all())
    assert result.energies.shape == (result.steps + 1, 4)
    assert result.step_sizes.shape == (result.steps, 4)
    grads = ham.grad(result.states)  # a fixed point: ∂E/∂ĝ ≈ 0
    assert max(float(g.detach().abs().max()) for g in grads.values()) < 1e-4
    no_tol = checked_descend(ham, xs, steps=3, step_size=0.5)
    assert no_tol.steps == 3 and not bool(no_tol.converged.any())


def test_zero_steps_returns_initial_states() -> None:
    ham = _quadratic_ham()
    xs = _start(ham)
    result = checked_descend(ham, xs, steps=0)
    assert result.steps == 0 and result.rejections == 0
    assert result.energies.shape == (1, 4) and result.step_sizes.shape == (0, 4)
    assert all(torch.equal(result.states[k], xs[k]) for k in xs)


def test_inputs_are_not_modified() -> None:
    ham = _quadratic_ham()
    xs = _start(ham)
    copies = {k: v.clone() for k, v in xs.items()}
    clamp = {"v": torch.tensor([True, False, True, False])}
    checked_descend(ham, xs, steps=3, step_size=2.0, clamp=clamp)
    assert all(torch.equal(xs[k], copies[k]) for k in xs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": -1}, ValueError, "steps must be ≥ 0"),
        ({"steps": 2.0}, TypeError, "steps must be an int"),
        ({"steps": True}, TypeError, "steps must be an int"),
        ({"steps": 1, "step_size": 0.0}, ValueError, "step_size"),
        ({"steps": 1, "step_size": -1.0}, ValueError, "step_size"),
        ({"steps": 1, "step_size": float("nan")}, ValueError, "step_size"),
        ({"steps": 1, "tol": -1e-3}, ValueError, "tol"),
        ({"steps": 1, "max_halvings": -1}, ValueError, "max_halvings"),
        ({"steps": 1, "guard": 1}, TypeError, "guard"),
        ({"steps": 1, "clamp": {"z": True}}, ValueError, r"unknown layer 'z'.*\['v', 'h'\]"),
        (
            {"steps": 1, "clamp": {"v": torch.ones(3, dtype=torch.bool)}},
            ValueError,
            r"broadcastable.*\(4, 4\)",
        ),
        ({"steps": 1, "clamp": {"v": torch.ones(4)}}, TypeError, "bool tensor"),
        ({"steps": 1, "clamp": "v"}, TypeError, "clamp"),
    ],
)
def test_descend_validation(kwargs, error, match) -> None:  # type: ignore[no-untyped-def]
    ham = _quadratic_ham()
    with pytest.raises(error, match=match):
        checked_descend(ham, _start(ham), **kwargs)


def test_descend_validates_ham_and_states() -> None:
    ham = _quadratic_ham()
    with pytest.raises(TypeError, match="ham must be a HAM"):
        checked_descend(torch.nn.Linear(2, 2), _start(ham), steps=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"xs\['h'\] must have shape \(B, 3\)"):
        checked_descend(ham, {"v": torch.zeros(2, 4), "h": torch.zeros(2, 4)}, steps=1)


def _learnable_ham() -> HAM:
    gen = torch.Generator().manual_seed(2)
    return HAM(
        {
            "v": Neurons(6, Tanh(beta=1.2, learnable_beta=True)),
            "c": Neurons(4, LogSumExp(learnable_beta=True)),
        },
        {
            "memory": DenseMemorySynapse(5, 6, beta=3.0, learnable_beta=True, generator=gen),
            "w": DenseSynapse(6, 4, generator=gen),
        },
        [(("v",), "memory"), (("v", "c"), "w")],
    ).double()


def _loss(ham: HAM, xs: dict[str, torch.Tensor], guard: bool) -> torch.Tensor:
    result = checked_descend(ham, xs, steps=3, step_size=0.3, guard=guard)
    acts = ham.activations(result.states)
    return acts["v"].sin().sum() + acts["c"].square().sum() + 0.1 * result.final_energy.sum()


@pytest.mark.parametrize("guard", [True, False])
def test_gradient_reaches_betas_and_weights_through_three_steps(guard: bool) -> None:
    ham = _learnable_ham()
    xs = _start(ham, batch=3)
    ham.zero_grad()
    _loss(ham, xs, guard).backward()
    for name in (
        "neurons.v.lagrangian.log_beta",
        "neurons.c.lagrangian.log_beta",
        "synapses.memory.log_beta",
        "synapses.memory.memories",
        "synapses.w.weight",
    ):
        grad = ham.get_parameter(name).grad
        assert grad is not None and float(grad.abs().max()) > 0, name


def test_backprop_through_descent_matches_finite_differences() -> None:
    ham = _learnable_ham()
    xs = _start(ham, batch=3)
    param = ham.get_parameter("synapses.memory.log_beta")
    ham.zero_grad()
    _loss(ham, xs, True).backward()
    assert param.grad is not None
    eps, start = 1e-6, param.detach().clone()
    with torch.no_grad():
        param.copy_(start + eps)
        up = float(_loss(ham, xs, True))
        param.copy_(start - eps)
        down = float(_loss(ham, xs, True))
        param.copy_(start)
    numeric = (up - down) / (2 * eps)
    assert math.isclose(float(param.grad), numeric, rel_tol=1e-5, abs_tol=1e-8)


class _UphillSynapse(Synapse):
    """``E = offset + ε·Σĝ`` with a deliberately wrong ``grad`` (``−ĝ − 1``): with Identity
    neurons the Euler step moves ``x`` by ``+η`` and raises ``½|x|²`` at ``x = 0``."""

    arity = 1

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset

    def energy(self, *activations: torch.Tensor) -> torch.Tensor:
        (g,) = activations
        return self.offset + 1e-12 * g.sum(dim=1)

    def grad(self, *activations: torch.Tensor) -> tuple[torch.Tensor, ...]:
        (g,) = activations
        return (-g - 1.0,)


@pytest.mark.parametrize(("offset", "trials_per_sample"), [(0.0, 6), (1e13, 1)])
def test_rise_within_rounding_noise_is_rejected_without_halving(
    offset: float, trials_per_sample: int
) -> None:
    """A real rise is halved until the halvings run out; a rise of a few ulps of |E|
    (here: the same rise on top of a 1e13 offset) is rejected once, without halving."""
    ham = HAM({"v": Neurons(4, Identity())}, {"up": _UphillSynapse(offset)}, [(("v",), "up")])
    xs = {"v": torch.zeros(3, 4, dtype=torch.float64)}
    result = checked_descend(ham, xs, steps=1, step_size=0.1, max_halvings=5)
    assert result.rejections == 3 * trials_per_sample
    assert torch.equal(result.states["v"], xs["v"])
    assert torch.equal(result.step_sizes, torch.zeros(1, 3, dtype=torch.float64))


def _unbounded_ham(dtype: torch.dtype) -> HAM:
    """``E = ½|x|² − Σ_μ (ξ_μ·x)²`` with large ``ξ``: unbounded below, the descent
    multiplies ``x`` by ~40 per step until the energy overflows to −inf."""
    gen = torch.Generator().manual_seed(0)
    synapse = DenseMemorySynapse(2, 3, separation=Polynomial(2), std=10.0, generator=gen)
    ham = HAM({"v": Neurons(3, Identity())}, {"m": synapse}, [(("v",), "m")])
    return ham.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_energy_unbounded_below_is_flagged_and_held_at_a_finite_state(dtype: torch.dtype) -> None:
    ham = _unbounded_ham(dtype)
    xs = {"v": torch.tensor([[1.0, -0.5, 0.3], [0.0, 0.0, 0.0]], dtype=dtype)}  # 0: a fixed point
    with torch.no_grad():
        result = checked_descend(ham, xs, steps=300, step_size=0.1)
    assert result.unbounded.tolist() == [True, False]
    assert bool(torch.isfinite(result.energies).all())
    assert bool((result.energies[1:] <= result.energies[:-1]).all())
    assert bool(torch.isfinite(result.states["v"]).all())
    # held from the −inf trial on: its last steps have size 0
    assert bool((result.step_sizes[-5:, 0] == 0).all())
    assert float(result.energies[-1, 0]) < -1e30


@pytest.mark.parametrize("guard", [True, False])
def test_an_unbounded_energy_gives_one_warning_per_call_naming_the_samples(guard: bool) -> None:
    ham = _unbounded_ham(torch.float32)
    xs = {"v": torch.tensor([[1.0, -0.5, 0.3], [0.0, 0.0, 0.0], [0.2, 0.1, -1.0]])}
    fate = "held them at their last finite state" if guard else "left them at the overflowed"
    with pytest.warns(UnboundedEnergyWarning) as caught:
        result = descend(ham, xs, steps=300, step_size=0.1, guard=guard)
    assert result.unbounded.tolist() == [True, False, True]
    assert len(caught) == 1  # once per call, not once per step or per sample
    message = str(caught[0].message)
    assert message.startswith("2 of 3 samples reached an energy of -inf")
    assert "unbounded below" in message and fate in message
    assert issubclass(UnboundedEnergyWarning, RuntimeWarning)
    assert caught[0].filename == __file__  # attributed to the caller of descend
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnboundedEnergyWarning)
        bounded = descend(ham, {"v": xs["v"][1:2]}, steps=300, step_size=0.1, guard=guard)
    assert not bool(bounded.unbounded.any())


def test_unguarded_descent_flags_an_energy_that_reached_minus_inf() -> None:
    ham = _unbounded_ham(torch.float32)
    xs = {"v": torch.tensor([[1.0, -0.5, 0.3], [0.0, 0.0, 0.0]])}
    result = checked_descend(ham, xs, steps=100, step_size=0.1, guard=False)
    assert result.unbounded.tolist() == [True, False]


class _CliffSynapse(Synapse):
    """``E = Σĝ`` for ``Σĝ < 1`` and NaN beyond (a trial past the cliff is non-finite)."""

    arity = 1

    def energy(self, *activations: torch.Tensor) -> torch.Tensor:
        s = activations[0].sum(dim=1)
        return torch.where(s < 1.0, -s, torch.full_like(s, float("nan")))

    def grad(self, *activations: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (-torch.ones_like(activations[0]),)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_trial_energy_is_halved_not_accepted(value: float) -> None:
    class Cliff(_CliffSynapse):
        def energy(self, *activations: torch.Tensor) -> torch.Tensor:
            energy = super().energy(*activations)
            return torch.where(energy.isnan(), torch.full_like(energy, value), energy)

    ham = HAM({"v": Neurons(2, Identity())}, {"c": Cliff()}, [(("v",), "c")]).double()
    xs = {"v": torch.zeros(1, 2, dtype=torch.float64)}
    result = checked_descend(ham, xs, steps=1, step_size=1.0)  # full step: Σx = 2, past the cliff
    assert bool(torch.isfinite(result.energies).all())
    assert 0 < float(result.step_sizes[0, 0]) < 1.0
    assert result.rejections >= 1
    assert not bool(result.unbounded.any())


def test_empty_batch_descends_to_an_empty_result() -> None:
    ham = _quadratic_ham()
    xs = {"v": torch.zeros(0, 4, dtype=torch.float64), "h": torch.zeros(0, 3, dtype=torch.float64)}
    result = checked_descend(ham, xs, steps=3)
    assert result.energies.shape == (4, 0) and result.step_sizes.shape == (3, 0)
    assert result.states["v"].shape == (0, 4) and result.unbounded.shape == (0,)


def test_states_of_another_dtype_are_cast_to_the_ham_dtype() -> None:
    ham = _quadratic_ham()  # float64
    xs = {name: x.float() for name, x in _start(ham).items()}
    result = checked_descend(ham, xs, steps=2)
    assert result.states["v"].dtype == torch.float64
    expected = checked_descend(ham, {name: x.double() for name, x in xs.items()}, steps=2)
    torch.testing.assert_close(result.energies, expected.energies)
