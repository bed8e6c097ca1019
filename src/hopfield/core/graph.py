"""The HAM graph: named neuron layers, named hypersynapses and the connections between them.

A Hierarchical Associative Memory (tutorial "Modern Methods in Associative Memory",
ch. HAMUX; Krotov & Hopfield 2021) is three dicts: neuron layers (a Lagrangian and
a shape each), hypersynapses (energy functions of activations), and connections
(which layers each synapse reads). Its total energy is

    E(x) = Σ_layers [⟨x_l, ĝ_l⟩ − L_l(x_l)] + Σ_synapses E_s(ĝ_{s₁}, …, ĝ_{s_k}),

with ``ĝ_l = ∇L_l(x_l)``. Treating each layer's energy as a function of its
activation (the Legendre transform), ``∂E_layer/∂ĝ_l = x_l``, so

    ∂E/∂ĝ_l = x_l + Σ_{s ∋ l} ∂E_s/∂ĝ_l,

and the dynamics ``τ_l dx_l/dt = −∂E/∂ĝ_l`` give, by the chain rule through
``ĝ_l = ∇L_l(x_l)``,

    dE/dt = Σ_l (∂E/∂ĝ_l)ᵀ ∇²L_l (dx_l/dt) = −Σ_l τ_l⁻¹ (∂E/∂ĝ_l)ᵀ ∇²L_l (∂E/∂ĝ_l) ≤ 0,

since every Lagrangian is convex (``∇²L_l ⪰ 0``). :func:`hopfield.core.dynamics.descend`
integrates these dynamics with a guard that enforces the decrease in discrete time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from hopfield.core.config import Configurable
from hopfield.core.neurons import Neurons
from hopfield.core.synapses.base import Synapse

__all__ = ["HAM", "Connection"]

#: A connection: the names of the layers a synapse reads (in its argument order) and its name.
Connection = tuple[tuple[str, ...], str]


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(f"{what} names must be non-empty strings without '.', got {name!r}")
    return name


def _module_dict(items: object, what: str, kind: type[nn.Module]) -> nn.ModuleDict:
    if not isinstance(items, Mapping):
        raise TypeError(f"{what} must be a dict of name -> {kind.__name__}, got {type(items)}")
    for name, module in items.items():
        _check_name(name, what)
        if not isinstance(module, kind):
            raise TypeError(
                f"{what}[{name!r}] must be a {kind.__name__}, got {type(module).__name__}"
            )
    try:
        return nn.ModuleDict(dict(items))
    except KeyError as error:  # names that clash with ModuleDict attributes ("keys", …)
        raise ValueError(f"invalid {what} name: {error}") from None


def _synapse_energy_and_grad(
    synapse: Synapse, activations: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """``(E_s, (∂E_s/∂ĝ…))``, fused when the synapse offers ``energy_and_grad``."""
    fused = getattr(synapse, "energy_and_grad", None)
    if fused is None:
        return synapse.energy(*activations), synapse.grad(*activations)
    energy, grads = fused(*activations)
    return energy, (grads,) if isinstance(grads, torch.Tensor) else tuple(grads)


def check_energy_defined(energy: torch.Tensor, name: str = "xs") -> torch.Tensor:
    """``energy`` if no sample's is NaN; else a ``ValueError`` naming ``name``. Finite
    states give NaN only when activations overflow (``+inf − inf`` between a layer and a
    synapse, e.g. :class:`~hopfield.core.lagrangians.Exp` beyond ``βx = 60``)."""
    undefined = torch.isnan(energy.detach())
    if bool(undefined.any()):
        rows = undefined.nonzero().flatten().tolist()
        raise ValueError(
            f"{name} gives an undefined (NaN) energy at samples {rows[:8]}: an activation "
            "overflows (inf − inf); keep the states within the Lagrangians' finite range"
        )
    return energy


class HAM(Configurable, nn.Module):
    """A Hierarchical Associative Memory: neurons, hypersynapses and their connections.

    Energy ``E = Σ_l [⟨x_l, ĝ_l⟩ − L_l(x_l)] + Σ_s E_s(ĝ…)`` (one value per batch
    element) and its gradient wrt activations ``∂E/∂ĝ_l = x_l + Σ_s ∂E_s/∂ĝ_l``
    (see the module docstring for the Lyapunov argument). States are plain dicts
    ``{layer name: tensor (B, *shape)}``.

    Args:
        neurons: ``{name: Neurons}``.
        synapses: ``{name: Synapse}``; each synapse is used by exactly one connection.
        connections: ``[((layer, …), synapse), …]``: the synapse reads the
            activations of the named layers, in that order.

    Example::

        ham = HAM(
            neurons={"v": Neurons(64, SphericalNorm(64))},
            synapses={"memory": DenseMemorySynapse(16, 64, beta=8.0)},
            connections=[(("v",), "memory")],
        )
    """

    def __init__(
        self,
        neurons: Mapping[str, Neurons],
        synapses: Mapping[str, Synapse],
        connections: Sequence[tuple[Sequence[str], str]],
    ) -> None:
        super().__init__()
        self.neurons = _module_dict(neurons, "neurons", Neurons)
        self.synapses = _module_dict(synapses, "synapses", Synapse)
        if not self.neurons:
            raise ValueError("neurons must name at least one layer, got an empty dict")
        self.connections: tuple[Connection, ...] = self._check_connections(connections)

    # -- construction --------------------------------------------------------------

    def _check_connections(self, connections: object) -> tuple[Connection, ...]:
        if not isinstance(connections, Sequence) or isinstance(connections, str):
            raise TypeError(
                "connections must be a sequence of ((layer, ...), synapse) pairs, "
                f"got {type(connections).__name__}"
            )
        checked = tuple(self._check_connection(c) for c in connections)
        used = [synapse for _, synapse in checked]
        for name in self.synapses:
            count = used.count(name)
            if count != 1:
                raise ValueError(
                    f"synapse {name!r} must appear in exactly one connection, found {count}"
                )
        return checked

    def _check_connection(self, connection: object) -> Connection:
        if not (isinstance(connection, Sequence) and len(connection) == 2):
            raise TypeError(
                f"each connection must be a pair ((layer, ...), synapse), got {connection!r}"
            )
        layers, synapse = connection
        if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
            raise TypeError(
                f"the layers of a connection must be a non-empty tuple of names, got {layers!r}"
            )
        for layer in layers:
            if layer not in self.neurons:
                raise ValueError(
                    f"connection {connection!r} names unknown layer {layer!r}; "
                    f"known layers: {list(self.neurons)}"
                )
        if synapse not in self.synapses:
            raise ValueError(
                f"connection {connection!r} names unknown synapse {synapse!r}; "
                f"known synapses: {list(self.synapses)}"
            )
        arity = getattr(self.synapses[synapse], "arity", None)
        if arity is not None and arity != len(layers):
            raise ValueError(
                f"synapse {synapse!r} joins {arity} layer(s), but connection {connection!r} "
                f"gives {len(layers)}"
            )
        return tuple(layers), synapse

    # -- accessors -----------------------------------------------------------------

    def layer(self, name: str) -> Neurons:
        """The :class:`Neurons` of layer ``name``."""
        return cast(Neurons, self.neurons[name])

    def synapse(self, name: str) -> Synapse:
        """The :class:`Synapse` called ``name``."""
        return cast(Synapse, self.synapses[name])

    @property
    def taus(self) -> dict[str, float]:
        """Time constant τ of every layer."""
        return {name: self.layer(name).tau for name in self.neurons}

    # -- validation ----------------------------------------------------------------

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype of the HAM's first floating parameter; ``None`` without any (a HAM
        without parameters computes in the dtype of its states)."""
        for parameter in self.parameters():
            if parameter.is_floating_point():
                return parameter.dtype
        return None

    def _cast(self, value: object, name: str) -> object:
        """A real floating tensor in :attr:`dtype` (other objects are left to the checks)."""
        dtype = self.dtype
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            return value
        if dtype is None or value.dtype == dtype:
            return value
        cast = value.to(dtype)
        if not bool(torch.isfinite(cast).all()) and bool(torch.isfinite(value).all()):
            raise ValueError(
                f"{name} overflows the HAM's dtype {dtype}: values up to "
                f"{float(value.abs().max()):.3g} become inf when cast from {value.dtype}"
            )
        return cast

    def check_states(self, xs: object, name: str = "xs") -> dict[str, torch.Tensor]:
        """Validate a state dict: exactly the layer names, each ``(B, *shape)``, finite,
        one batch size and one dtype for all layers; real floating tensors are cast to
        the HAM's :attr:`dtype` first (complex, integer and bool raise ``TypeError``).
        ``B = 0`` is allowed (an empty batch). Returns a new dict."""
        if not isinstance(xs, Mapping):
            raise TypeError(f"{name} must be a dict of layer name -> tensor, got {type(xs)}")
        missing = [layer for layer in self.neurons if layer not in xs]
        unknown = [key for key in xs if key not in self.neurons]
        if missing or unknown:
            raise ValueError(
                f"{name} must have exactly the layers {list(self.neurons)}; "
                f"missing {missing}, unknown {unknown}"
            )
        states = {}
        for layer in self.neurons:
            label = f"{name}[{layer!r}]"
            states[layer] = self.layer(layer).check_state(self._cast(xs[layer], label), label)
        first = next(iter(self.neurons))
        dtype, batch = states[first].dtype, states[first].shape[0]
        for layer, x in states.items():
            if x.dtype != dtype:
                raise TypeError(
                    f"{name}[{layer!r}] has dtype {x.dtype}, but {name}[{first!r}] has {dtype}; "
                    "all layers must share one dtype"
                )
            if x.shape[0] != batch:
                raise ValueError(
                    f"{name}[{layer!r}] must have shape {self.layer(layer).expected_shape} with "
                    f"B = {batch} (the batch size of {name}[{first!r}]), "
                    f"got shape {tuple(x.shape)}"
                )
        return states

    def _check_activations(
        self, gs: object, xs: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        if not isinstance(gs, Mapping) or set(gs) != set(self.neurons):
            raise ValueError(f"gs must be a dict with exactly the layers {list(self.neurons)}")
        checked = {}
        for layer, x in xs.items():
            label = f"gs[{layer!r}]"
            g = self._cast(gs[layer], label)
            if not isinstance(g, torch.Tensor) or g.shape != x.shape:
                raise ValueError(
                    f"{label} must be a tensor of shape {tuple(x.shape)} (that of xs[{layer!r}])"
                )
            if not g.is_floating_point():
                raise TypeError(f"{label} must have a real floating-point dtype, got {g.dtype}")
            if g.dtype != x.dtype:
                raise TypeError(f"{label} has dtype {g.dtype}, but xs[{layer!r}] has {x.dtype}")
            if not bool(torch.isfinite(g).all()):
                raise ValueError(f"{label} contains NaN or inf values")
            checked[layer] = g
        return checked

    # -- energy and gradient -------------------------------------------------------

    def init_states(self, batch_size: int, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Initial states of every layer (:meth:`Neurons.init_state`; kwargs ``std``,
        ``generator``, ``dtype``, ``device`` are passed on; one generator is drawn from
        layer after layer)."""
        return {name: self.layer(name).init_state(batch_size, **kwargs) for name in self.neurons}

    def activations(self, xs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``ĝ_l = ∇L_l(x_l)`` for every layer."""
        return self._activations(self.check_states(xs))

    def energy(
        self, xs: Mapping[str, torch.Tensor], gs: Mapping[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Total energy ``Σ_l [⟨x_l, ĝ_l⟩ − L_l] + Σ_s E_s``, shape ``(B,)``.

        Pass ``gs`` (the activations of ``xs``) to avoid recomputing them.
        """
        states = self.check_states(xs)
        acts = None if gs is None else self._check_activations(gs, states)
        return check_energy_defined(self._energy(states, acts))

    def energy_tree(
        self, xs: Mapping[str, torch.Tensor], gs: Mapping[str, torch.Tensor] | None = None
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Every term of the energy by name:
        ``{"neurons": {layer: (B,)}, "synapses": {synapse: (B,)}}``; they sum to :meth:`energy`.
        """
        states = self.check_states(xs)
        acts = self._activations(states) if gs is None else self._check_activations(gs, states)
        return self._energy_tree(states, acts)

    def grad(
        self, xs: Mapping[str, torch.Tensor], gs: Mapping[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """``∂E/∂ĝ_l = x_l + Σ_s ∂E_s/∂ĝ_l`` for every layer (closed forms via ``Synapse.grad``)."""
        states = self.check_states(xs)
        acts = self._activations(states) if gs is None else self._check_activations(gs, states)
        return self._grad(states, acts)

    def energy_and_grad(
        self, xs: Mapping[str, torch.Tensor], gs: Mapping[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """:meth:`energy` and :meth:`grad` together, each synapse evaluated once (its
        ``energy_and_grad`` when it has one, sharing e.g. the product ``Ξĝ``)."""
        states = self.check_states(xs)
        acts = self._activations(states) if gs is None else self._check_activations(gs, states)
        energy, grads = self._energy_and_grad(states, acts)
        return check_energy_defined(energy), grads

    def forward(self, xs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Same as :meth:`energy`."""
        return self.energy(xs)

    # -- unchecked internals (used by the dynamics, after one validation) ----------

    def _activations(self, xs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: self.layer(name).activation(xs[name]) for name in self.neurons}

    def _energy_tree(
        self, xs: Mapping[str, torch.Tensor], gs: Mapping[str, torch.Tensor]
    ) -> dict[str, dict[str, torch.Tensor]]:
        neurons = {name: self.layer(name).energy(xs[name], gs[name]) for name in self.neurons}
        synapses = {
            name: self.synapse(name).energy(*(gs[layer] for layer in layers))
            for layers, name in self.connections
        }
        return {"neurons": neurons, "synapses": synapses}

    def _energy(
        self, xs: Mapping[str, torch.Tensor], gs: Mapping[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        acts = self._activations(xs) if gs is None else gs
        tree = self._energy_tree(xs, acts)
        terms = [*tree["neurons"].values(), *tree["synapses"].values()]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    def _grad(
        self, xs: Mapping[str, torch.Tensor], gs: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        grads = dict(xs)
        for layers, name in self.connections:
            parts = self.synapse(name).grad(*(gs[layer] for layer in layers))
            for layer, part in zip(layers, parts, strict=True):
                grads[layer] = grads[layer] + part
        return grads

    def _activations_and_energy(
        self, xs: Mapping[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Activations of every layer and the sum of the neuron energies (shared work)."""
        gs, total = {}, None
        for name in self.neurons:
            gs[name], term = self.layer(name).activation_and_energy(xs[name])
            total = term if total is None else total + term
        assert total is not None  # at least one layer (checked at construction)
        return gs, total

    def _energy_and_grad(
        self, xs: Mapping[str, torch.Tensor], gs: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total: torch.Tensor | None = None
        for name in self.neurons:
            term = self.layer(name).energy(xs[name], gs[name])
            total = term if total is None else total + term
        assert total is not None  # at least one layer (checked at construction)
        return self._synapses_energy_and_grad(xs, gs, total)

    def _synapses_energy_and_grad(
        self, xs: Mapping[str, torch.Tensor], gs: Mapping[str, torch.Tensor], total: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``total`` plus every synapse energy, and ``∂E/∂ĝ = x + Σ_s ∂E_s/∂ĝ``."""
        grads = dict(xs)
        for layers, name in self.connections:
            energy, parts = _synapse_energy_and_grad(self.synapse(name), [gs[n] for n in layers])
            total = total + energy
            for layer, part in zip(layers, parts, strict=True):
                grads[layer] = grads[layer] + part
        return total, grads

    def extra_repr(self) -> str:
        return "connections=[" + ", ".join(f"{ls} -> {s!r}" for ls, s in self.connections) + "]"
