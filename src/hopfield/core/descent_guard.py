"""The energy guard of :func:`hopfield.core.dynamics.descend`: one explicit-Euler
trial per step, halved per sample until the total energy does not rise, and the
report of energies that are unbounded below.

A trial step that raises a sample's energy, or makes it NaN or ±inf, is retried with
half the step for that sample only (at most ``max_halvings`` times); a rise within
``ROUNDING_ULPS`` ulps of ``|E|`` is rounding noise and the sample stays put. A trial
energy of −inf means the HAM's energy is unbounded below (e.g. a convex synapse
energy that outgrows the neurons' energies): the sample is flagged and held at its
last finite state, and :func:`warn_unbounded` issues one
:class:`UnboundedEnergyWarning` per call of ``descend``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from hopfield.core.graph import HAM

__all__ = [
    "ROUNDING_ULPS",
    "Moves",
    "Point",
    "Search",
    "UnboundedEnergyWarning",
    "evaluate",
    "guarded_search",
    "guarded_step",
    "max_abs_move",
    "warn_unbounded",
]

States = dict[str, torch.Tensor]


class UnboundedEnergyWarning(RuntimeWarning):
    """Some samples of a descent reached an energy of −inf: the HAM's energy is
    unbounded below (its minimum does not exist), so those samples cannot converge.
    :attr:`~hopfield.core.dynamics.DescentResult.unbounded` says which."""


def warn_unbounded(unbounded: torch.Tensor, guard: bool, *, stacklevel: int = 3) -> None:
    """One :class:`UnboundedEnergyWarning` naming how many samples of ``unbounded``
    ``(B,)`` (bool) reached −inf and what became of them; nothing when none did."""
    count = int(unbounded.sum())
    if count == 0:
        return
    fate = (
        "guarded descent held them at their last finite state"
        if guard
        else "plain Euler (guard=False) left them at the overflowed state"
    )
    warnings.warn(
        UnboundedEnergyWarning(
            f"{count} of {unbounded.shape[0]} samples reached an energy of -inf: the HAM's "
            "energy is unbounded below (e.g. a synapse energy that grows faster than the "
            f"neurons' energies), so they have no minimum to converge to; {fate} "
            "(DescentResult.unbounded flags them)"
        ),
        stacklevel=stacklevel,
    )


@dataclass
class Point:
    """A state of the descent with everything the next step needs."""

    states: States
    gs: States
    energy: torch.Tensor
    grads: States | None  # ∂E/∂ĝ, None when only the energy was evaluated


def evaluate(ham: HAM, states: States, *, with_grads: bool) -> Point:
    """Activations, total energy and (optionally, fused) ``∂E/∂ĝ`` at ``states``."""
    gs, neuron_energy = ham._activations_and_energy(states)
    if with_grads:
        energy, grads = ham._synapses_energy_and_grad(states, gs, neuron_energy)
        return Point(states, gs, energy, grads)
    return Point(states, gs, ham._energy(states, gs), None)


@dataclass
class Moves:
    """The Euler increments ``−(η/τ_l) ∂E/∂ĝ_l`` (zero on clamped entries), formed on
    demand: the common full step ``x − (η/τ) ∂E/∂ĝ`` is one fused ``add``."""

    ham: HAM
    grads: States
    step_size: float
    clamp: Mapping[str, torch.Tensor]

    def rate(self, name: str) -> float:
        return -self.step_size / self.ham.layer(name).tau

    def of(self, rows: torch.Tensor | None = None) -> States:
        """The increments of every sample, or of the samples ``rows``."""
        grads = self.grads if rows is None else _rows(self.grads, rows)
        moves = {}
        for name, grad in grads.items():
            move = grad * self.rate(name)
            if name in self.clamp:
                mask = self.clamp[name]
                if rows is not None and mask.ndim == move.ndim and mask.shape[0] > 1:
                    mask = mask.index_select(0, rows)
                move = torch.where(mask, torch.zeros_like(move), move)
            moves[name] = move
        return moves

    def step(self, xs: States, scale: torch.Tensor, whole: bool) -> States:
        """``x + scale_b · move``; ``whole`` (every scale is 1) takes the fused path."""
        if whole and not self.clamp and self._rates_fit(xs):
            return {
                name: torch.add(x, self.grads[name], alpha=self.rate(name))
                for name, x in xs.items()
            }
        return _apply(xs, self.of(), scale)

    def _rates_fit(self, xs: States) -> bool:
        """``add``'s ``alpha = η/τ`` must be representable in each state's dtype
        (float16: 65504); otherwise the unfused path multiplies in the grads' dtype."""
        return all(abs(self.rate(n)) <= torch.finfo(x.dtype).max for n, x in xs.items())


def _apply(xs: States, moves: States, scale: torch.Tensor) -> States:
    """``x + scale_b · move`` per sample; ``scale`` has shape ``(B,)``."""
    out = {}
    for name, x in xs.items():
        s = scale.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
        out[name] = x + s * moves[name]
    return out


#: A trial whose energy rises by at most this many ulps of ``|E|`` is rejected without
#: halving: the change is rounding noise, and a smaller step cannot resolve it.
ROUNDING_ULPS = 32


def _rows(values: States, rows: torch.Tensor) -> States:
    return {name: v.index_select(0, rows) for name, v in values.items()}


def _put_rows(target: Point, rows: torch.Tensor, source: Point) -> Point:
    """``target`` with its samples ``rows`` replaced by ``source`` (a point of ``len(rows)``)."""

    def put(dst: States, src: States) -> States:
        return {name: v.index_copy(0, rows, src[name]) for name, v in dst.items()}

    grads = None
    if target.grads is not None and source.grads is not None:
        grads = put(target.grads, source.grads)
    return Point(
        put(target.states, source.states),
        put(target.gs, source.gs),
        target.energy.index_copy(0, rows, source.energy),
        grads,
    )


def _point_rows(point: Point, rows: torch.Tensor) -> Point:
    grads = None if point.grads is None else _rows(point.grads, rows)
    return Point(
        _rows(point.states, rows),
        _rows(point.gs, rows),
        point.energy.index_select(0, rows),
        grads,
    )


def _accepts(trial: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """A trial is accepted when its energy is finite and not above ``energy``."""
    return torch.isfinite(trial) & (trial <= energy)


@dataclass
class Search:
    """Outcome of :func:`guarded_search`: per-sample scale, rejected trials, the accepted point
    and the samples whose trial energy was −inf."""

    scale: torch.Tensor
    rejections: int
    point: Point
    unbounded: torch.Tensor


def guarded_search(
    ham: HAM, point: Point, moves: Moves, active: torch.Tensor, max_halvings: int, fused: bool
) -> Search:
    """Largest scale in ``{1, ½, …, 2^-max_halvings, 0}`` per sample not raising its energy.

    Runs without gradient tracking. The full step is tried on the whole batch; only
    the samples whose energy rose (or became NaN/±inf) are retried (on their own
    rows) with half the step. A sample stays put (scale 0) when it is inactive, when
    its halvings are exhausted, when the rise is rounding noise (≤ ``ROUNDING_ULPS``
    ulps of ``|E|``), or when its trial energy is −inf (flagged ``unbounded``). With
    ``fused`` the accepted point carries ``∂E/∂ĝ`` and is ready for the next step
    (without, only ``scale`` is meant to be used).
    """
    energy = point.energy.detach()
    eps = torch.finfo(energy.dtype).eps
    scale = active.to(energy.dtype)
    unbounded = torch.zeros_like(active)
    with torch.no_grad():
        trial = moves.step(point.states, scale, bool(active.all()))
        result = evaluate(ham, trial, with_grads=fused)
        rows = (active & ~_accepts(result.energy, energy)).nonzero().squeeze(1)
        trial_energy = result.energy.index_select(0, rows)
        rejections = 0
        for attempt in range(max_halvings + 1):
            if rows.numel() == 0:
                break
            rejections += rows.numel()
            old = energy.index_select(0, rows)
            below = trial_energy == float("-inf")
            unbounded = unbounded.index_fill(0, rows[below], True)
            noise = ROUNDING_ULPS * eps * (old.abs() + trial_energy.abs())
            stay = below | (torch.isfinite(trial_energy) & (trial_energy - old <= noise))
            if attempt == max_halvings:
                stay = torch.ones_like(stay)
            if bool(stay.any()):  # these take the old point at the end (scale 0)
                scale = scale.index_fill(0, rows[stay], 0.0)
            rows = rows[~stay]
            if rows.numel() == 0:
                break
            scale = scale.index_copy(0, rows, scale.index_select(0, rows) * 0.5)
            sub_states = _apply(_rows(point.states, rows), moves.of(rows), scale[rows])
            sub = evaluate(ham, sub_states, with_grads=fused)
            ok = _accepts(sub.energy, energy.index_select(0, rows))
            if bool(ok.any()):
                result = _put_rows(result, rows[ok], _point_rows(sub, ok.nonzero().squeeze(1)))
            rows, trial_energy = rows[~ok], sub.energy[~ok]
        if fused:
            result = _hold(scale == 0, point, result)
    return Search(scale, rejections, result, unbounded)


def _hold(keep: torch.Tensor, old: Point, new: Point) -> Point:
    """``new`` with the samples ``keep`` (bool ``(B,)``) replaced by ``old``, in one pass."""
    if not bool(keep.any()):
        return new
    if bool(keep.all()):
        return old
    assert old.grads is not None and new.grads is not None
    return Point(
        _select(~keep, new.states, old.states),
        _select(~keep, new.gs, old.gs),
        torch.where(keep, old.energy, new.energy),
        _select(~keep, new.grads, old.grads),
    )


def guarded_step(ham: HAM, point: Point, moves: Moves, scale: torch.Tensor) -> Point:
    """Apply the searched ``scale`` with gradient tracking; a sample whose recomputed
    energy would still exceed the old one (it cannot, barring nondeterminism) stays put."""
    new = evaluate(ham, _apply(point.states, moves.of(), scale), with_grads=True)
    ok = _accepts(new.energy, point.energy).detach()
    if bool(ok.all()):
        return new
    assert new.grads is not None and point.grads is not None
    return Point(
        _select(ok, new.states, point.states),
        _select(ok, new.gs, point.gs),
        torch.where(ok, new.energy, point.energy),
        _select(ok, new.grads, point.grads),
    )


def _select(ok: torch.Tensor, new: States, old: States) -> States:
    """Per sample: ``new`` where ``ok`` else ``old``."""
    return {
        name: torch.where(ok.reshape(-1, *([1] * (x.ndim - 1))), x, old[name])
        for name, x in new.items()
    }


def max_abs_move(moves: States, scale: torch.Tensor) -> torch.Tensor:
    """Largest ``|scale_b · move|`` over every layer and entry, per sample ``(B,)``."""
    with torch.no_grad():
        per_layer = [m.flatten(1).abs().amax(dim=1) for m in moves.values()]
        return torch.stack(per_layer).amax(dim=0) * scale.abs()
