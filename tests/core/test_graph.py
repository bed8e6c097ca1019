"""HAM graph: energy = Σ tree, ∂E/∂ĝ = x + Σ synapse grads, the Lyapunov identity, validation."""

from __future__ import annotations

import pytest
import torch

from hopfield.core import (
    HAM,
    BiasSynapse,
    DenseMemorySynapse,
    DenseSynapse,
    EnergyLayerNorm,
    Identity,
    LogSumExp,
    Neurons,
    ReLUSquared,
    Sigmoid,
    Tanh,
)
from hopfield.core.synapses import Synapse


def _three_layer_ham(seed: int = 0, tau_hidden: float = 1.0) -> HAM:
    """v (4, 6) tokens with layer norm, h (4, 5) tanh tokens, c (3,) softmax."""
    gen = torch.Generator().manual_seed(seed)
    ham = HAM(
        neurons={
            "v": Neurons((4, 6), EnergyLayerNorm(6)),
            "h": Neurons((4, 5), Tanh(beta=1.5)),
            "c": Neurons(3, LogSumExp(beta=2.0)),
            "s": Neurons(6, Sigmoid()),
        },
        synapses={
            "vh": DenseSynapse(6, 5, generator=gen),
            "memory": DenseMemorySynapse(7, 6, separation=ReLUSquared(), generator=gen),
            "bias_c": BiasSynapse(3),
            "self_s": DenseSynapse(6, 6, generator=gen),
            "cs": DenseSynapse(3, 6, generator=gen),
        },
        connections=[
            (("v", "h"), "vh"),
            (("v",), "memory"),
            (("c",), "bias_c"),
            (("s", "s"), "self_s"),  # a layer read twice by one synapse
            (("c", "s"), "cs"),
        ],
    ).double()
    with torch.no_grad():
        for p in ham.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.3)
    return ham


def _states(ham: HAM, batch: int = 3, seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return ham.init_states(batch, std=1.0, generator=gen, dtype=torch.float64)


def test_energy_is_the_sum_of_the_energy_tree() -> None:
    ham = _three_layer_ham()
    xs = _states(ham)
    tree = ham.energy_tree(xs)
    assert set(tree["neurons"]) == {"v", "h", "c", "s"}
    assert set(tree["synapses"]) == {"vh", "memory", "bias_c", "self_s", "cs"}
    terms = [*tree["neurons"].values(), *tree["synapses"].values()]
    assert all(t.shape == (3,) for t in terms)
    torch.testing.assert_close(ham.energy(xs), torch.stack(terms).sum(0), rtol=0, atol=1e-12)
    torch.testing.assert_close(ham(xs), ham.energy(xs))


def test_energy_tree_terms_match_their_definitions() -> None:
    ham = _three_layer_ham()
    xs = _states(ham)
    gs = ham.activations(xs)
    tree = ham.energy_tree(xs)
    for name, x in xs.items():
        lagrangian = ham.layer(name).lagrangian
        expected = (x * gs[name]).reshape(3, -1).sum(1) - lagrangian(x)
        torch.testing.assert_close(tree["neurons"][name], expected)
    W = ham.synapse("vh").weight
    expected_vh = -torch.einsum("bti,ij,btj->b", gs["v"], W, gs["h"])
    torch.testing.assert_close(tree["synapses"]["vh"], expected_vh)


def test_grad_is_state_plus_autograd_of_synapse_energies() -> None:
    ham = _three_layer_ham()
    xs = _states(ham)
    gs = {k: g.detach().requires_grad_(True) for k, g in ham.activations(xs).items()}
    synapse_energy = sum(ham.energy_tree(xs, gs)["synapses"].values())
    assert isinstance(synapse_energy, torch.Tensor)
    auto = torch.autograd.grad(synapse_energy.sum(), list(gs.values()))
    closed = ham.grad(xs)
    for (name, x), a in zip(xs.items(), auto, strict=True):
        assert a.abs().max() > 1e-3
        torch.testing.assert_close(closed[name], x + a, rtol=0, atol=1e-10)


def test_grad_equals_autograd_of_total_energy_with_states_fixed() -> None:
    """With ``x`` held fixed, ``∂/∂ĝ [⟨x, ĝ⟩ − L(x) + Σ_s E_s(ĝ)] = x + Σ_s ∂E_s/∂ĝ``."""
    ham = _three_layer_ham(seed=3)
    xs = _states(ham, seed=4)
    gs = {k: g.detach().requires_grad_(True) for k, g in ham.activations(xs).items()}
    total = ham.energy(xs, gs)
    auto = torch.autograd.grad(total.sum(), list(gs.values()))
    for (name, closed), a in zip(ham.grad(xs).items(), auto, strict=True):
        torch.testing.assert_close(closed, a, rtol=0, atol=1e-10, msg=name)


def test_fused_energy_and_grad_equals_energy_and_grad() -> None:
    ham = _three_layer_ham(seed=7)
    xs = _states(ham, seed=8)
    energy, grads = ham.energy_and_grad(xs)
    torch.testing.assert_close(energy, ham.energy(xs), rtol=0, atol=1e-10)
    for name, grad in ham.grad(xs).items():
        torch.testing.assert_close(grads[name], grad, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("lagrangian", "inverse"),
    [
        (Tanh(beta=1.7), lambda g: torch.atanh(g) / 1.7),
        (Sigmoid(beta=0.6), lambda g: torch.logit(g) / 0.6),
        (Identity(), lambda g: g),
    ],
)
def test_neuron_energy_as_function_of_activation_has_gradient_x(lagrangian, inverse) -> None:  # type: ignore[no-untyped-def]
    """The Legendre identity behind ``∂E_layer/∂ĝ = x`` (invertible activations)."""
    neurons = Neurons(5, lagrangian).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    g = neurons.activation(x).detach().requires_grad_(True)
    x_of_g = inverse(g)
    energy = neurons.energy(x_of_g, g)
    (grad,) = torch.autograd.grad(energy.sum(), [g])
    torch.testing.assert_close(grad, x, rtol=1e-8, atol=1e-8)


def test_energy_rate_is_minus_hessian_quadratic_form() -> None:
    """``dE/dt = −Σ_l τ_l⁻¹ uᵀ ∇²L_l u`` with ``u = ∂E/∂ĝ``, and it is ≤ 0."""
    ham = _three_layer_ham(seed=5)
    ham.layer("h").tau = 2.5
    ham.layer("c").tau = 0.5
    xs = {k: v.requires_grad_(True) for k, v in _states(ham, seed=6).items()}
    u = {k: v.detach() for k, v in ham.grad(xs).items()}
    grads_x = torch.autograd.grad(ham.energy(xs).sum(), list(xs.values()))
    rate = sum(
        ((gx * -u[name] / ham.layer(name).tau).reshape(3, -1).sum(1))
        for (name, gx) in zip(xs, grads_x, strict=True)
    )
    quadratic = torch.zeros(3, dtype=torch.float64)
    for name, x in xs.items():
        act = ham.layer(name).activation(x)
        (hess_u,) = torch.autograd.grad((act * u[name]).sum(), [x])  # ∇²L u (per sample)
        quadratic = quadratic + (u[name] * hess_u).reshape(3, -1).sum(1) / ham.layer(name).tau
    assert isinstance(rate, torch.Tensor)
    torch.testing.assert_close(rate, -quadratic, rtol=1e-9, atol=1e-10)
    assert bool((rate <= 0).all()) and bool((rate < 0).any())


def test_init_states_shapes_dtype_and_generator() -> None:
    ham = _three_layer_ham()
    a = ham.init_states(2, std=1.0, generator=torch.Generator().manual_seed(0))
    b = ham.init_states(2, std=1.0, generator=torch.Generator().manual_seed(0))
    assert {k: tuple(v.shape) for k, v in a.items()} == {
        "v": (2, 4, 6),
        "h": (2, 4, 5),
        "c": (2, 3),
        "s": (2, 6),
    }
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["v"].flatten()[:5], a["h"].flatten()[:5])  # one stream, not reused
    zeros = ham.init_states(1, dtype=torch.float64)
    assert all(v.dtype == torch.float64 and not v.any() for v in zeros.values())


def test_parameters_of_neurons_and_synapses_are_registered() -> None:
    ham = _three_layer_ham()
    names = {name for name, _ in ham.named_parameters()}
    assert "synapses.vh.weight" in names
    assert "synapses.memory.memories" in names
    assert "neurons.v.lagrangian.gamma" in names
    assert ham.taus == {"v": 1.0, "h": 1.0, "c": 1.0, "s": 1.0}


def _tiny_neurons() -> dict[str, Neurons]:
    return {"a": Neurons(3, Identity()), "b": Neurons(2, Tanh())}


@pytest.mark.parametrize(
    ("synapses", "connections", "error", "match"),
    [
        (
            {"w": DenseSynapse(3, 2)},
            [(("a", "z"), "w")],
            ValueError,
            r"unknown layer 'z'.*\['a', 'b'\]",
        ),
        (
            {"w": DenseSynapse(3, 2)},
            [(("a", "b"), "q")],
            ValueError,
            r"unknown synapse 'q'.*\['w'\]",
        ),
        ({"w": DenseSynapse(3, 2)}, [(("a",), "w")], ValueError, "joins 2 layer"),
        ({"w": DenseSynapse(3, 2)}, [], ValueError, "exactly one connection, found 0"),
        ({"w": BiasSynapse(3)}, [(("a",), "w"), (("a",), "w")], ValueError, "found 2"),
        ({"w": BiasSynapse(3)}, [("a", "w")], TypeError, "non-empty tuple of names"),
        ({"w": BiasSynapse(3)}, [(("a",), "w", "x")], TypeError, "pair"),
        ({"w": BiasSynapse(3)}, "aw", TypeError, "connections"),
        ({"w": torch.nn.Linear(2, 2)}, [(("a",), "w")], TypeError, r"synapses\['w'\]"),
        ({"keys": BiasSynapse(3)}, [(("a",), "keys")], ValueError, "invalid synapses name"),
        ({"a.b": BiasSynapse(3)}, [(("a",), "a.b")], ValueError, "names"),
    ],
)
def test_construction_validation(synapses, connections, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        HAM(_tiny_neurons(), synapses, connections)


def test_construction_rejects_bad_neurons() -> None:
    with pytest.raises(ValueError, match="at least one layer"):
        HAM({}, {}, [])
    with pytest.raises(TypeError, match=r"neurons\['a'\] must be a Neurons"):
        HAM({"a": Identity()}, {}, [])  # type: ignore[dict-item]


def _tiny_ham() -> HAM:
    return HAM(_tiny_neurons(), {"w": DenseSynapse(3, 2)}, [(("a", "b"), "w")])


@pytest.mark.parametrize(
    ("states", "error", "match"),
    [
        ({"a": torch.zeros(2, 3)}, ValueError, r"missing \['b'\]"),
        (
            {"a": torch.zeros(2, 3), "b": torch.zeros(2, 2), "z": torch.zeros(2)},
            ValueError,
            r"unknown \['z'\]",
        ),
        (
            {"a": torch.zeros(2, 4), "b": torch.zeros(2, 2)},
            ValueError,
            r"xs\['a'\] must have shape \(B, 3\)",
        ),
        (
            {"a": torch.zeros(2, 3), "b": torch.zeros(2, 2, 1)},
            ValueError,
            r"xs\['b'\] must have shape \(B, 2\)",
        ),
        (
            {"a": torch.zeros(2, 3, dtype=torch.int64), "b": torch.zeros(2, 2)},
            TypeError,
            "floating",
        ),
        ({"a": torch.full((2, 3), float("nan")), "b": torch.zeros(2, 2)}, ValueError, "NaN"),
        ({"a": torch.zeros(2, 3), "b": torch.full((2, 2), float("inf"))}, ValueError, "NaN or inf"),
        ({"a": torch.zeros(2, 3), "b": torch.zeros(3, 2)}, ValueError, "B = 2"),
        (
            {"a": torch.zeros(2, 3, dtype=torch.complex64), "b": torch.zeros(2, 2)},
            TypeError,
            r"xs\['a'\] must have a real floating-point dtype",
        ),
        (
            {"a": torch.full((2, 3), 1e39, dtype=torch.float64), "b": torch.zeros(2, 2)},
            ValueError,
            r"xs\['a'\] overflows the HAM's dtype torch.float32",
        ),
        (
            {"a": [0.0, 0.0, 0.0], "b": torch.zeros(2, 2)},
            TypeError,
            r"xs\['a'\] must be a torch.Tensor",
        ),
        ([torch.zeros(2, 3)], TypeError, "dict"),
    ],
)
def test_check_states_names_layer_and_expected_shape(states, error, match) -> None:  # type: ignore[no-untyped-def]
    ham = _tiny_ham()
    with pytest.raises(error, match=match):
        ham.check_states(states)
    with pytest.raises(error, match=match):
        ham.energy(states)
    with pytest.raises(error, match=match):
        ham.grad(states)


def test_activations_argument_is_checked() -> None:
    ham = _tiny_ham()
    xs = ham.init_states(2)
    with pytest.raises(ValueError, match=r"gs\['b'\] must be a tensor of shape \(2, 2\)"):
        ham.grad(xs, {"a": torch.zeros(2, 3), "b": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match="exactly the layers"):
        ham.energy(xs, {"a": torch.zeros(2, 3)})


def test_synapse_without_arity_attribute_is_accepted() -> None:
    class Quadratic(Synapse):
        def energy(self, *activations: torch.Tensor) -> torch.Tensor:
            return sum(g.square().sum(1) for g in activations)  # type: ignore[return-value]

    ham = HAM(_tiny_neurons(), {"q": Quadratic()}, [(("a", "a"), "q")])
    xs = {"a": torch.randn(2, 3, dtype=torch.float64), "b": torch.randn(2, 2, dtype=torch.float64)}
    grads = ham.grad(xs)
    torch.testing.assert_close(grads["a"], xs["a"] + 4 * xs["a"])  # read twice: 2·(2g)
    torch.testing.assert_close(grads["b"], xs["b"])


def test_energy_attention_synapse_plugs_into_the_graph() -> None:
    from hopfield.core import EnergyAttention

    gen = torch.Generator().manual_seed(9)
    ham = HAM(
        {"tokens": Neurons((5, 8), EnergyLayerNorm(8))},
        {
            "attention": EnergyAttention(8, num_heads=2, head_dim=4, init_std=0.3),
            "hopfield": DenseMemorySynapse(6, 8, separation=ReLUSquared(), generator=gen),
        },
        [(("tokens",), "attention"), (("tokens",), "hopfield")],
    ).double()
    xs = _states(ham, batch=2, seed=10)
    energy, fused = ham.energy_and_grad(xs)
    gs = {k: g.detach().requires_grad_(True) for k, g in ham.activations(xs).items()}
    (auto,) = torch.autograd.grad(ham.energy(xs, gs).sum(), [gs["tokens"]])
    torch.testing.assert_close(fused["tokens"], auto, rtol=0, atol=1e-10)
    torch.testing.assert_close(ham.grad(xs)["tokens"], auto, rtol=0, atol=1e-10)
    torch.testing.assert_close(energy, ham.energy(xs), rtol=0, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_states_follow_the_ham_dtype(dtype: torch.dtype) -> None:
    """States of another floating dtype are cast to the HAM's (float32) before the checks."""
    ham = _tiny_ham()
    gen = torch.Generator().manual_seed(0)
    xs = {"a": torch.randn(2, 3, generator=gen), "b": torch.randn(2, 2, generator=gen)}
    cast = {name: x.to(dtype) for name, x in xs.items()}
    expected = ham.energy({name: x.float() for name, x in cast.items()})
    energy = ham.energy(cast)
    assert energy.dtype == torch.float32
    torch.testing.assert_close(energy, expected)
    assert all(g.dtype == torch.float32 for g in ham.grad(cast).values())


def test_empty_batch_gives_empty_results() -> None:
    ham = _tiny_ham()
    xs = {"a": torch.zeros(0, 3), "b": torch.zeros(0, 2)}
    assert ham.energy(xs).shape == (0,)
    assert {name: tuple(g.shape) for name, g in ham.grad(xs).items()} == {"a": (0, 3), "b": (0, 2)}
    tree = ham.energy_tree(xs)
    assert all(v.shape == (0,) for part in tree.values() for v in part.values())


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (torch.zeros(2, 3, dtype=torch.complex64), TypeError, r"gs\['a'\].*real floating"),
        (torch.full((2, 3), float("nan")), ValueError, r"gs\['a'\] contains NaN"),
        (torch.zeros(2, 4), ValueError, r"gs\['a'\] must be a tensor of shape \(2, 3\)"),
    ],
)
def test_bad_activations_are_named(bad: torch.Tensor, error: type, match: str) -> None:
    ham = _tiny_ham()
    xs = {"a": torch.zeros(2, 3), "b": torch.zeros(2, 2)}
    gs = {"a": bad, "b": torch.zeros(2, 2)}
    for call in (ham.energy, ham.grad, ham.energy_and_grad, ham.energy_tree):
        with pytest.raises(error, match=match):
            call(xs, gs)
