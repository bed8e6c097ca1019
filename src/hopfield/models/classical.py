"""Classical (pairwise) Hopfield network on binary states s ∈ {−1, +1}^N.

Hopfield (1982) "Neural networks and physical systems with emergent collective
computational abilities". Energy and update:

    E(s) = −½ sᵀ W s + θᵀ s,        s_i ← sgn(h_i − θ_i),   h = W s,

with a symmetric, zero-diagonal W, so that every asynchronous single-neuron update
lowers E or leaves it unchanged. Three learning rules write W from patterns ξ^μ:

* Hebbian: W = (1/N) Σ_μ ξ^μ ξ^μᵀ, W_ii = 0 (capacity ≈ 0.138 N, Amit, Gutfreund
  & Sompolinsky 1985).
* Storkey (1997) "Increasing the capacity of a Hopfield network without sacrificing
  functionality": the incremental, local rule
  W_ij ← W_ij + (1/N)(ξ_i ξ_j − ξ_i h_ji − h_ij ξ_j) with h_ij = Σ_{k≠i,j} W_ik ξ_k.
* Projection / pseudo-inverse (Personnaz, Guyon & Dreyfus 1985; Kanter & Sompolinsky
  1987): W = Ξ⁺ Ξ (orthogonal projector onto the span of the patterns), W_ii = 0;
  every linearly independent pattern set of size K < N is stored as fixed points.

This module also holds :class:`BinaryAssociativeMemory`, the shared machinery of the
binary memories (validation, the recall loop, synchronous 2-cycle detection, and
buffers that resize when a state dict is loaded); :mod:`hopfield.models.dense` builds
the Dense Associative Memory on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from hopfield._deprecated import moved_attribute
from hopfield._validation import (
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_positive,
    check_rank,
    check_tensor,
)
from hopfield.models.base import MemorySpec, RecallResult

__all__ = [
    "BinaryAssociativeMemory",
    "ClassicalHopfield",
    "hebbian_weights",
    "pseudoinverse_weights",
    "storkey_weights",
]


def __getattr__(name: str) -> Any:
    """``BinaryRecallResult`` is the deprecated name of :class:`RecallResult`."""
    return moved_attribute(__name__, name)

_UPDATES = ("async", "sync")
_ORDERS = ("random", "sweep")
_RULES = ("hebbian", "storkey", "pseudoinverse")




def _check_bipolar(tensor: object, name: str, num_neurons: int, shape: str) -> torch.Tensor:
    """A finite floating tensor of shape ``(rows, num_neurons)`` with entries in {−1, +1}."""
    tensor = check_floating(tensor, name)
    check_rank(tensor, name, 2, shape)
    if tensor.shape[1] != num_neurons:
        raise ValueError(
            f"{name} must have shape {shape} with N={num_neurons}, got {tuple(tensor.shape)}"
        )
    check_finite(tensor, name)
    if not bool(((tensor == 1) | (tensor == -1)).all()):
        raise ValueError(f"{name} must be bipolar: every entry −1 or +1")
    return tensor


def _sign_keep_ties(field: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """sgn(field) with sgn(0) replaced by the current state (ties never flip)."""
    return torch.where(field > 0, 1.0, torch.where(field < 0, -1.0, current)).to(current.dtype)


class BinaryAssociativeMemory(nn.Module):
    """Shared base of the binary memories: store / energy / step / recall.

    Subclasses implement ``_write(patterns)`` (learn from the validated patterns),
    ``_energy(states)`` (float64, ``(B,)``), ``local_field(states)`` (``(B, N)``, whose
    sign is the update target of every neuron) and ``_async_sweep(states, order, mask)``
    (one in-place asynchronous pass in the given neuron order, returning the energy of
    the result, which the sweep's incremental bookkeeping gives at no extra cost).

    The stored patterns live in the buffer ``patterns`` ``(K, N)``, empty (``K = 0``)
    until :meth:`store`. Buffers named in ``_resizable_buffers`` take the shape of the
    incoming tensor in ``load_state_dict`` (only their leading, memory axis may
    differ), so ``type(m)(**m.get_config()).load_state_dict(m.state_dict())`` restores
    a memory of any size.
    """

    _resizable_buffers: ClassVar[tuple[str, ...]] = ("patterns",)
    patterns: torch.Tensor

    def __init__(self, num_neurons: int, *, update: str, order: str, seed: int) -> None:
        super().__init__()
        self.num_neurons = check_int(num_neurons, "num_neurons", 1)
        self.update = check_choice(update, "update", _UPDATES)
        self.order = check_choice(order, "order", _ORDERS)
        self.seed = check_int(seed, "seed", 0)
        self._generator = torch.Generator().manual_seed(self.seed)
        self.register_buffer("patterns", torch.empty(0, num_neurons))

    # --- subclass hooks -------------------------------------------------------------
    def _write(self, patterns: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _energy(self, states: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def local_field(self, states: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _async_sweep(
        self, states: torch.Tensor, order: Sequence[int], mask: torch.Tensor | None
    ) -> torch.Tensor:  # pragma: no cover - abstract
        """Update ``states`` in place; return the float64 energy ``(B,)`` of the result."""
        raise NotImplementedError

    # --- public API ------------------------------------------------------------------
    @property
    def num_patterns(self) -> int:
        """Number of stored patterns K (0 before :meth:`store`)."""
        return int(self.patterns.shape[0])

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor keyword arguments."""
        return {
            "num_neurons": self.num_neurons,
            "update": self.update,
            "order": self.order,
            "seed": self.seed,
        }

    def store(self, patterns: torch.Tensor) -> None:
        """Replace the memory with ``patterns`` ``(K, N)``, entries in {−1, +1}, K ≥ 1."""
        patterns = _check_bipolar(patterns, "patterns", self.num_neurons, "(K, N)")
        if patterns.shape[0] == 0:
            raise ValueError("patterns must contain at least one pattern (K ≥ 1), got K=0")
        self.patterns = patterns.detach().clone()
        self._write(self.patterns)

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """Energy of a batch of states ``(B, N)`` → ``(B,)`` (in the states' dtype)."""
        states = self._check_states(states, "states")
        return self._energy(states.to(self.patterns)).to(states.dtype)

    def step(self, states: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One update of all N neurons: an asynchronous sweep (``update="async"``, in
        seeded random or fixed order) or one synchronous update. Entries where ``mask``
        ``(B, N)`` is True are held fixed. Returns new states; the input is not modified."""
        states = self._check_states(states, "states")
        mask = self._check_mask(mask, states)
        return self._update(states.to(self.patterns).clone(), mask)[0].to(states.dtype)

    def is_fixed_point(
        self, states: torch.Tensor, *, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B,)`` bool: no free neuron would change, sgn(h_i) ∈ {s_i, 0} for all i."""
        states = self._check_states(states, "states")
        mask = self._check_mask(mask, states)
        return self._fixed(states.to(self.patterns), mask)

    def recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None = None,
        max_steps: int = 100,
        tol: float = 0.0,
        mask: torch.Tensor | None = None,
    ) -> RecallResult:
        """Run the dynamics from ``queries`` ``(B, N)``.

        ``steps=None`` runs until every state is a fixed point (or, synchronously, has
        entered a 2-cycle) or ``max_steps`` updates were made; an integer runs exactly
        that many updates. ``mask`` ``(B, N)`` bool clamps entries at the query value.
        States that have stopped (fixed point or cycle) are not updated further.
        ``tol`` must be 0: ±1 states change by whole bits, so a fixed point is exact.
        Returns a :class:`RecallResult` (``energies`` ``(T + 1, B)``, ``converged``: the
        final state is a fixed point; ``extras["cycled"]`` ``(B,)`` bool: stopped in a
        synchronous 2-cycle s_{t+1} = s_{t−1} ≠ s_t, always False when asynchronous).
        """
        queries = self._check_states(queries, "queries")
        mask = self._check_mask(mask, queries)
        if steps is not None:
            check_int(steps, "steps", 0)
        check_int(max_steps, "max_steps", 1)
        if check_positive(tol, "tol", allow_zero=True) != 0.0:
            raise ValueError(f"tol must be 0 for ±1 states (fixed points are exact), got {tol}")
        limit = max_steps if steps is None else steps
        states = queries.to(self.patterns).clone()
        batch = states.shape[0]
        active = torch.ones(batch, dtype=torch.bool, device=states.device)
        cycled = torch.zeros_like(active)
        previous = states.clone()
        energy = self._energy(states)
        energies = [energy.clone()]
        taken = 0
        while taken < limit and (steps is not None or bool(active.any())):
            rows = active.nonzero().squeeze(1)
            taken += 1
            if rows.numel() > 0:  # with a fixed number of steps every state may have stopped
                current = states[rows]
                sub_mask = None if mask is None else mask[rows]
                new, energy[rows] = self._update(current.clone(), sub_mask)
                unchanged = (new == current).all(dim=1)
                if self.update == "sync":
                    closed = ~unchanged & (new == previous[rows]).all(dim=1)
                    cycled[rows[closed]] = True
                    unchanged = unchanged | closed
                previous[rows] = current
                states[rows] = new
                active[rows[unchanged]] = False
            energies.append(energy.clone())
        # A state whose last update changed nothing is a fixed point; test the others.
        converged = ~active & ~cycled
        if bool(active.any()):
            rows = active.nonzero().squeeze(1)
            converged[rows] = self._fixed(states[rows], None if mask is None else mask[rows])
        return RecallResult(
            states=states.to(queries.dtype),
            energies=torch.stack(energies).to(queries.dtype),
            steps=taken,
            converged=converged,
            extras={"cycled": cycled},
        )

    # --- internals -------------------------------------------------------------------
    def _update(
        self, states: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One update of ``states`` (modified in place): ``(new states, float64 energy)``."""
        if self.update == "sync":
            new = _sign_keep_ties(self.local_field(states), states)
            new = new if mask is None else torch.where(mask, states, new)
            return new, self._energy(new)
        if self.order == "random":
            order = torch.randperm(self.num_neurons, generator=self._generator)
        else:
            order = torch.arange(self.num_neurons)
        energy = self._async_sweep(states, order.tolist(), mask)
        return states, energy

    def _fixed(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        stable = self.local_field(states) * states >= 0
        if mask is not None:
            stable = stable | mask
        return stable.all(dim=1)

    def _check_states(self, states: object, name: str) -> torch.Tensor:
        if self.num_patterns == 0:
            raise ValueError(f"the memory is empty: call store(patterns) before using {name}")
        return _check_bipolar(states, name, self.num_neurons, "(B, N)")

    def _check_mask(self, mask: object, states: torch.Tensor) -> torch.Tensor | None:
        if mask is None:
            return None
        mask = check_tensor(mask, "mask")
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool tensor, got dtype {mask.dtype}")
        if mask.shape != states.shape:
            raise ValueError(
                f"mask must have the queries' shape (B, N)={tuple(states.shape)}, "
                f"got {tuple(mask.shape)}"
            )
        return mask.to(self.patterns.device)

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        for name in self._resizable_buffers:
            incoming = state_dict.get(prefix + name)
            current = self._buffers.get(name)
            if (
                isinstance(incoming, torch.Tensor)
                and current is not None
                and incoming.shape != current.shape
                and incoming.shape[1:] == current.shape[1:]
            ):
                self._buffers[name] = torch.empty(
                    incoming.shape, dtype=incoming.dtype, device=current.device
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        self._after_load()

    def _after_load(self) -> None:
        """Hook: rebuild derived (non-persistent) buffers after ``load_state_dict``."""


def _threshold_vector(threshold: float | Sequence[float] | None, num_neurons: int) -> torch.Tensor:
    if threshold is None:
        return torch.zeros(num_neurons)
    if isinstance(threshold, bool):
        raise TypeError("threshold must be a real number or a sequence of N real numbers")
    if isinstance(threshold, int | float):
        vector = torch.full((num_neurons,), float(threshold))
    else:
        vector = torch.as_tensor(threshold, dtype=torch.float32).detach().clone()
        if vector.shape != (num_neurons,):
            raise ValueError(
                f"threshold must be a number or have shape (N,)=({num_neurons},), "
                f"got shape {tuple(vector.shape)}"
            )
    return check_finite(vector, "threshold")


def _rule_spec(name: str, rule: str, weights: str, paper: str) -> MemorySpec:
    """Registry entry of :class:`ClassicalHopfield` with learning rule ``rule``."""
    energy, options = f"E = −½ sᵀWs, {weights}", {"rule": rule}
    return MemorySpec(
        name, "binary", energy, paper, options, "num_neurons", beta_option=None, seeded=True
    )


class ClassicalHopfield(BinaryAssociativeMemory):
    """Classical Hopfield network (Hopfield 1982) with Hebbian, Storkey or projection learning.

    Energy ``E(s) = −½ sᵀWs + θᵀs``; neuron update ``s_i ← sgn(Σ_j W_ij s_j − θ_i)``,
    with sgn(0) keeping the current value. ``update="async"`` sweeps the neurons one at
    a time (``order="random"``: a fresh permutation per sweep from a
    ``torch.Generator`` seeded with ``seed``; ``"sweep"``: 0…N−1), so E never rises;
    ``update="sync"`` updates all neurons at once and :meth:`recall` stops a state that
    enters a 2-cycle (``result.cycled``). A sweep keeps the local fields ``h = sW`` of
    the whole batch and corrects them with a rank-1 update ``h += Δs_i W_i`` after each
    neuron, so a sweep costs O(B·N²) rather than O(B·N³). For the Hebbian rule the
    fields are computed on the integer matrix N·W, so ties sgn(0) are detected exactly.

    Args:
        num_neurons: N.
        rule: ``"hebbian"``, ``"storkey"`` or ``"pseudoinverse"`` (see module docstring).
        update: ``"async"`` or ``"sync"``.
        order: ``"random"`` or ``"sweep"`` (asynchronous updates only).
        seed: seed of the update-order generator (the model owns one generator; a
            fresh model with the same seed reproduces the same run).
        threshold: θ, a number or N numbers (default 0).

    Buffers: ``patterns`` ``(K, N)``, ``weights`` ``(N, N)``, ``threshold`` ``(N,)``
    (saved); ``field_weights``, ``field_threshold`` (float64 copies for the dynamics,
    not saved, rebuilt by :meth:`store` and ``load_state_dict``).
    """


    registry = tuple(
        _rule_spec(*row)
        for row in (
            ("hopfield-hebbian", "hebbian", "W = (1/N) Σ_μ ξ_μ ξ_μᵀ", "Hopfield (1982)"),
            ("hopfield-storkey", "storkey", "W by Storkey's rule", "Storkey (1997)"),
            ("hopfield-pinv", "pseudoinverse", "W = Ξ⁺Ξ (projection)", "Personnaz et al. (1985)"),
        )
    )


    _resizable_buffers: ClassVar[tuple[str, ...]] = ("patterns",)
    weights: torch.Tensor
    threshold: torch.Tensor
    field_weights: torch.Tensor
    field_threshold: torch.Tensor

    def __init__(
        self,
        num_neurons: int,
        *,
        rule: str = "hebbian",
        update: str = "async",
        order: str = "random",
        seed: int = 0,
        threshold: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__(num_neurons, update=update, order=order, seed=seed)
        self.rule = check_choice(rule, "rule", _RULES)
        self.register_buffer("weights", torch.zeros(num_neurons, num_neurons))
        self.register_buffer("threshold", _threshold_vector(threshold, num_neurons))
        # Derived float64 copies used by the dynamics (not saved; rebuilt on store/load).
        self.register_buffer("field_weights", torch.zeros(0, 0, dtype=torch.float64), False)
        self.register_buffer("field_threshold", torch.zeros(0, dtype=torch.float64), False)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        nonzero = bool(self.threshold.ne(0).any())
        config.update(rule=self.rule, threshold=self.threshold.tolist() if nonzero else None)
        return config

    # --- learning --------------------------------------------------------------------
    def _write(self, patterns: torch.Tensor) -> None:
        xi = patterns.to(torch.float64)
        self.threshold = self.threshold.to(patterns)
        if self.rule == "hebbian":
            counts = (xi.T @ xi).fill_diagonal_(0.0)  # N·W, integers
            self.weights = (counts / self.num_neurons).to(patterns.dtype)
            self.field_weights = counts
            self.field_threshold = self.threshold.to(torch.float64) * self.num_neurons
            return
        rule = storkey_weights if self.rule == "storkey" else pseudoinverse_weights
        self.weights = rule(xi).to(patterns.dtype)
        self._refresh_field_weights()

    def _after_load(self) -> None:
        self._refresh_field_weights()

    def _refresh_field_weights(self) -> None:
        """Cache ``(W', θ')``, a positive multiple of ``(W, θ)`` in float64, for the
        dynamics. Hebbian: ``N·W`` rounded to the integers it is, so fields are exact."""
        weights = self.weights.to(torch.float64)
        threshold = self.threshold.to(torch.float64)
        if self.rule == "hebbian":
            weights, threshold = (
                torch.round(weights * self.num_neurons),
                threshold * self.num_neurons,
            )
        self.field_weights, self.field_threshold = weights, threshold

    def _field_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.field_weights.shape != self.weights.shape:
            self._refresh_field_weights()
        return self.field_weights, self.field_threshold

    # --- energy and dynamics ---------------------------------------------------------
    def _energy(self, states: torch.Tensor) -> torch.Tensor:
        weights, threshold = self._field_weights()
        s = states.to(torch.float64)
        scale = self.num_neurons if self.rule == "hebbian" else 1
        return (-0.5 * ((s @ weights) * s).sum(dim=1) + s @ threshold) / scale

    def local_field(self, states: torch.Tensor) -> torch.Tensor:
        """``h − θ`` ``(B, N)`` (a positive multiple of it for the Hebbian rule)."""
        weights, threshold = self._field_weights()
        return states.to(torch.float64) @ weights - threshold

    def _async_sweep(
        self, states: torch.Tensor, order: Sequence[int], mask: torch.Tensor | None
    ) -> torch.Tensor:
        weights, threshold = self._field_weights()
        field = states.to(torch.float64) @ weights - threshold
        for i in order:
            current = states[:, i]
            new = _sign_keep_ties(field[:, i], current)
            if mask is not None:
                new = torch.where(mask[:, i], current, new)
            delta = new - current
            if bool(delta.any()):
                states[:, i] = new
                field.addr_(delta.to(torch.float64), weights[i])
        # field = c(sW − θ) with c = N (Hebbian) or 1, so −½sᵀWs + θᵀs = (θ'·s − s·field)/2c
        s = states.to(torch.float64)
        scale = self.num_neurons if self.rule == "hebbian" else 1
        return (s @ threshold - (s * field).sum(dim=1)) / (2 * scale)


def hebbian_weights(patterns: torch.Tensor) -> torch.Tensor:
    """``W = (1/N) Σ_μ ξ^μ ξ^μᵀ`` with zero diagonal (Hopfield 1982); patterns ``(K, N)``."""
    weights = patterns.T @ patterns / patterns.shape[1]
    return weights.fill_diagonal_(0.0)


def storkey_weights(patterns: torch.Tensor) -> torch.Tensor:
    """Storkey (1997) incremental rule, patterns written one at a time.

    ``W_ij ← W_ij + (1/N)(ξ_i ξ_j − ξ_i h_ji − h_ij ξ_j)``, ``h_ij = Σ_{k≠i,j} W_ik ξ_k``.
    With W symmetric and zero-diagonal, ``h_ij = h_i − W_ij ξ_j`` (``h = Wξ``), so the
    increment is ``(1/N)(ξξᵀ − ξhᵀ − hξᵀ + 2W)``; the diagonal is kept at zero."""
    num_neurons = patterns.shape[1]
    weights = torch.zeros(num_neurons, num_neurons, dtype=patterns.dtype, device=patterns.device)
    for xi in patterns:
        field = weights @ xi
        increment = torch.outer(xi, xi) - torch.outer(xi, field) - torch.outer(field, xi)
        weights = weights + (increment + 2 * weights) / num_neurons
        weights.fill_diagonal_(0.0)
    return weights


def pseudoinverse_weights(patterns: torch.Tensor) -> torch.Tensor:
    """Projection rule ``W = Ξ⁺Ξ`` (projector onto span{ξ^μ}), zero diagonal.

    Personnaz, Guyon & Dreyfus (1985); Kanter & Sompolinsky (1987). Each stored
    pattern gets field ``h_i = (1 − P_ii) ξ_i``, so it is a fixed point whenever
    ``P_ii < 1`` (no unit vector lies in the span)."""
    projector = torch.linalg.pinv(patterns) @ patterns
    projector = 0.5 * (projector + projector.T)
    return projector.fill_diagonal_(0.0)
