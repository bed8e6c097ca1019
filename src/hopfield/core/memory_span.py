"""Descent of one spherical layer under one dense memory, in the span of the memories.

For a HAM with a single layer ``x`` (``SphericalNorm``, ``ĝ = γ x/√(‖x‖²+ε) + δ``)
read by a single :class:`~hopfield.core.synapses.memory.DenseMemorySynapse` (memories
``Ξ``, ``M × D``), the gradient is ``∂E/∂ĝ = x − wΞ`` with ``w = softmax(βΞĝ)`` (or
``F'(Ξĝ)``), so an Euler step ``x ← (1 − h) x + h wΞ`` (``h = η/τ``) keeps every state
in the span of the initial state and the memories::

    x = c·x₀ + aΞ,    c ← (1 − h) c,    a ← (1 − h) a + h w.

Everything the energy and the guard need is then a ``B × M`` quantity. With the
Gram matrix ``G = ΞΞᵀ`` and ``P = x₀Ξᵀ`` (both computed once)::

    R = Ξx = c P + aG,    ‖x‖² = x·x = c² ‖x₀‖² + c (a·P) + a·R,
    Ξĝ = γ R/√(‖x‖²+ε) + Ξδ,    E = −γε/√(‖x‖²+ε) − lse(βΞĝ)/β.

One step costs one product ``aG`` (``2·B·M²`` FLOP) instead of the two products
``Ξĝ`` and ``wΞ`` of the direct step (``4·B·M·D``), and since ``R`` is affine in the
step size, every halving the guard tries costs ``O(B·M)`` and no product. The state
itself is formed once, at the end (``x = c x₀ + aΞ``). The iterates are those of the
direct step in exact arithmetic (they differ by rounding only); the guard applies
the same rule (:func:`hopfield.core.descend`). :func:`plan` chooses this path only
when its FLOP count (with the Gram matrix, cached per synapse) is below the direct
one's, for inference (no autograd graph), without clamping and without ``tol``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch

from hopfield.core.graph import HAM
from hopfield.core.norm_lagrangians import SphericalNorm
from hopfield.core.separation import Separation
from hopfield.core.synapses.memory import DenseMemorySynapse

__all__ = ["SpanDescent", "SpanRun", "plan", "run"]

#: ``G = ΞΞᵀ`` per synapse, with the memories it was computed from (compared on use).
_GRAMS: weakref.WeakKeyDictionary[DenseMemorySynapse, tuple[torch.Tensor, torch.Tensor]] = (
    weakref.WeakKeyDictionary()
)


def _gram(synapse: DenseMemorySynapse) -> torch.Tensor | None:
    """The cached ``ΞΞᵀ`` of ``synapse`` if its memories are unchanged, else ``None``."""
    cached = _GRAMS.get(synapse)
    memories = synapse.memories
    if cached is None:
        return None
    seen, gram = cached
    same = seen.shape == memories.shape and seen.dtype == memories.dtype
    if same and seen.device == memories.device and torch.equal(seen, memories.detach()):
        return gram
    return None


def _single_memory(ham: HAM) -> tuple[SphericalNorm, DenseMemorySynapse, float] | None:
    """``(norm, synapse, τ)`` when ``ham`` is one spherical layer of shape ``(D,)`` read by
    one dense-memory synapse, else ``None``."""
    if len(ham.neurons) != 1 or len(ham.connections) != 1:
        return None
    name = next(iter(ham.neurons))
    layer, synapse = ham.layer(name), ham.synapse(ham.connections[0][1])
    norm = layer.lagrangian
    if type(norm) is not SphericalNorm or len(layer.shape) != 1:
        return None
    if type(synapse) is not DenseMemorySynapse:
        return None
    return norm, synapse, layer.tau


def plan(ham: HAM, x0: torch.Tensor, steps: int, step_size: float) -> SpanDescent | None:
    """A :class:`SpanDescent` from ``x0`` when ``ham`` has the form of the module docstring
    and the span path needs fewer FLOP than the direct one for ``steps`` steps."""
    parts = _single_memory(ham)
    batch = x0.shape[0]
    if parts is None or batch == 0 or steps == 0:
        return None
    norm, synapse, tau = parts
    m, d = synapse.memories.shape
    # FLOP: the span pays P = x₀Ξᵀ and x = c x₀ + aΞ (and ΞΞᵀ unless cached), then 2BM²
    # per step; the direct descent 4BMD per evaluation (steps + 1 of them)
    span_flop = 4 * batch * m * d + steps * 2 * batch * m * m
    direct_flop = (steps + 1) * 4 * batch * m * d
    if span_flop >= direct_flop:  # not even with a cached Gram matrix
        return None
    gram = _gram(synapse)
    if gram is None and span_flop + 2 * m * m * d >= direct_flop:
        return None
    memories = synapse.memories.detach()
    if gram is None:
        gram = memories @ memories.T
        _GRAMS[synapse] = (memories.clone(), gram)
    return SpanDescent(norm, synapse, x0, gram, step_size / tau)


@dataclass
class _Point:
    """A state ``x = c x₀ + aΞ`` with ``R = Ξx``, ``‖x‖²``, the weights ``w`` of its
    gradient ``x − wΞ`` and its energy."""

    c: torch.Tensor  # (B,)
    a: torch.Tensor  # (B, M)
    overlaps: torch.Tensor  # R, (B, M)
    norm2: torch.Tensor  # (B,)
    weights: torch.Tensor  # (B, M)
    energy: torch.Tensor  # (B,)


def _rows(mask: torch.Tensor) -> torch.Tensor:
    return mask.unsqueeze(1)


def _affine(
    values: torch.Tensor, row_scale: torch.Tensor, shift: torch.Tensor | None
) -> torch.Tensor:
    """``values · row_scale_b + shift`` in one pass."""
    if shift is None:
        return values * _rows(row_scale)
    return torch.addcmul(shift, values, _rows(row_scale))


class SpanDescent:
    """Euler descent of ``E = −γε/√(‖x‖²+ε) − lse(βΞĝ)/β`` (a spherical layer under a
    dense memory; Krotov & Hopfield 2021, model B; tutorial ch. HAMUX) for one batch
    ``x₀``, in the coordinates ``x = c x₀ + aΞ`` of the module docstring: the update
    ``x ← (1 − h) x + h wΞ`` is ``c ← (1 − h) c``, ``a ← (1 − h) a + h w``. Built by
    :func:`plan`, stepped by :func:`run`."""

    def __init__(
        self,
        norm: SphericalNorm,
        synapse: DenseMemorySynapse,
        x0: torch.Tensor,
        gram: torch.Tensor,
        rate: float,
    ) -> None:
        self.memories = synapse.memories.detach()
        self.gram, self.x0, self.rate = gram, x0.detach(), rate
        self.gamma, self.eps = norm.gamma.detach(), norm.eps
        delta = norm.delta
        self.bias = None if delta is None else self.memories @ delta.detach()  # Ξδ, (M,)
        self.separation: Separation | None = synapse.separation
        self.beta = synapse.beta.detach()
        self.scaled_bias = None if self.bias is None else self.beta * self.bias
        self.score_scale = self.beta * self.gamma  # βγ
        self.neuron_scale = -self.eps * self.gamma  # the neuron energy is −γε/√(‖x‖²+ε)
        self.start = x0 @ self.memories.T  # P = x₀Ξᵀ
        self.start_norm2 = torch.linalg.vecdot(x0, x0)

    def initial(self) -> _Point:
        """The point ``x₀`` (``c = 1``, ``a = 0``)."""
        c = torch.ones_like(self.start_norm2)
        return self.evaluate(c, torch.zeros_like(self.start), self.start, self.start_norm2)

    def evaluate(
        self, c: torch.Tensor, a: torch.Tensor, overlaps: torch.Tensor, norm2: torch.Tensor
    ) -> _Point:
        """Energy and gradient weights of ``x = c x₀ + aΞ`` with ``Ξx = overlaps`` and
        ``‖x‖² = norm2``."""
        inv = torch.rsqrt(norm2 + self.eps)
        if self.separation is None:  # scores βΞĝ = βγ R/‖x‖ + βΞδ in one pass
            scores = _affine(overlaps, inv * self.score_scale, self.scaled_bias)
            weights = torch.softmax(scores, dim=-1)  # row by row in cache: faster than by hand
            lse = scores.amax(dim=-1).sub_(weights.amax(dim=-1).log_())  # exact: max w ≥ 1/M
            energy = torch.addcmul(lse.div_(-self.beta), inv, self.neuron_scale)
        else:
            h = _affine(overlaps, self.gamma * inv, self.bias)
            energy = torch.addcmul(-self.separation(h).sum(dim=-1), inv, self.neuron_scale)
            weights = self.separation.derivative(h)
        return _Point(c, a, overlaps, norm2, weights, energy)

    def _at(
        self,
        c: torch.Tensor,
        a: torch.Tensor,
        overlaps: torch.Tensor,
        start: torch.Tensor | None = None,
    ) -> _Point:
        """The point ``(c, a)`` with ``Ξx = overlaps`` (``‖x‖² = c²‖x₀‖² + a·(cP + R)``);
        ``start``: ``cP`` if at hand (overwritten)."""
        start = self.start * c.unsqueeze(1) if start is None else start
        dot = torch.linalg.vecdot(a, start.add_(overlaps))
        return self.evaluate(c, a, overlaps, torch.addcmul(dot, c * c, self.start_norm2))

    def full_step(self, point: _Point) -> _Point:
        """The point after the full step ``h = rate``: the one product ``aG`` of a step.
        While every sample has the same ``c`` (no sample held back yet), ``cP`` enters the
        product as its scalar ``beta`` instead of a pass of its own."""
        c = point.c * (1.0 - self.rate)
        a = torch.lerp(point.a, point.weights, self.rate)
        if not bool((c == c[0]).all()):
            start = self.start * c.unsqueeze(1)
            return self._at(c, a, torch.addmm(start, a, self.gram), start)
        overlaps = torch.addmm(self.start, a, self.gram, beta=float(c[0]))
        start_dot = torch.addcmul(torch.linalg.vecdot(a, self.start), c, self.start_norm2)
        norm2 = torch.addcmul(torch.linalg.vecdot(a, overlaps), c, start_dot)
        return self.evaluate(c, a, overlaps, norm2)

    def trial(self, point: _Point, full: _Point, scale: torch.Tensor) -> _Point:
        """The point after the step ``h = scale_b · rate`` per sample; ``R`` is affine in
        ``h``, so it is interpolated from the full step's (no product)."""
        h = scale * self.rate
        c = point.c * (1.0 - h)
        a = torch.lerp(point.a, point.weights, _rows(h))
        return self._at(c, a, torch.lerp(point.overlaps, full.overlaps, _rows(scale)))

    def states(self, point: _Point) -> torch.Tensor:
        """``x = c x₀ + aΞ``, ``(B, D)``."""
        return torch.addmm(self.x0 * point.c.unsqueeze(1), point.a, self.memories)


def select(keep: torch.Tensor, old: _Point, new: _Point) -> _Point:
    """Per sample: ``old`` where ``keep`` else ``new``."""
    rows = _rows(keep)
    return _Point(
        torch.where(keep, old.c, new.c),
        torch.where(rows, old.a, new.a),
        torch.where(rows, old.overlaps, new.overlaps),
        torch.where(keep, old.norm2, new.norm2),
        torch.where(rows, old.weights, new.weights),
        torch.where(keep, old.energy, new.energy),
    )


@dataclass
class SpanRun:
    """Outcome of :func:`run`: final states, energy trace, per-step scales, rejected
    trials and the samples whose energy reached −inf."""

    states: torch.Tensor
    energies: list[torch.Tensor]
    scales: list[torch.Tensor]
    rejections: int
    unbounded: torch.Tensor


def _accepts(trial: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(trial) & (trial <= energy)


def _search(
    span: SpanDescent,
    point: _Point,
    full: _Point,
    active: torch.Tensor | None,
    max_halvings: int,
    noise_ulps: int,
) -> tuple[torch.Tensor, _Point, int, torch.Tensor | None]:
    """The guard of :func:`hopfield.core.descend` on the span coordinates: ``(scale, accepted
    point, rejected trials, samples whose trial energy was −inf or None)``. ``full`` is
    the trial at the full step; halved trials are interpolated from it (no product).
    ``active``: the samples that may move (``None``: all)."""
    energy = point.energy
    ones = torch.ones_like(energy)
    if active is None:
        result = trial = full
        failed = ~_accepts(trial.energy, energy)
        if not bool(failed.any()):  # the common case: every sample descends
            return ones, result, 0, None
        scale = ones
    else:
        scale = active.to(energy.dtype)
        result = trial = span.trial(point, full, scale)
        failed = active & ~_accepts(trial.energy, energy)
    eps = torch.finfo(energy.dtype).eps
    unbounded = torch.zeros_like(failed)
    rejections = 0
    for attempt in range(max_halvings + 1):
        count = int(failed.sum())
        if count == 0:
            break
        rejections += count
        below = failed & (trial.energy == float("-inf"))
        unbounded = unbounded | below
        noise = noise_ulps * eps * (energy.abs() + trial.energy.abs())
        rounding = torch.isfinite(trial.energy) & (trial.energy - energy <= noise)
        stay = failed if attempt == max_halvings else failed & (below | rounding)
        halve = failed & ~stay
        scale = torch.where(stay, 0.0, torch.where(halve, scale * 0.5, scale))
        if not bool(halve.any()):
            break
        trial = span.trial(point, full, scale)
        ok = halve & _accepts(trial.energy, energy)
        if bool(ok.any()):
            result = select(~ok, result, trial)
        failed = halve & ~ok
    keep = scale == 0
    if bool(keep.all()):
        result = point
    elif bool(keep.any()):
        result = select(keep, point, result)
    return scale, result, rejections, unbounded


def run(span: SpanDescent, steps: int, guard: bool, max_halvings: int, noise_ulps: int) -> SpanRun:
    """``steps`` Euler steps (guarded or not) from ``x₀``, without gradient tracking."""
    with torch.no_grad():
        point = span.initial()
        unbounded = point.energy == float("-inf")
        held = bool(unbounded.any())  # some sample is held at its last finite state
        energies, scales, rejections = [point.energy], [], 0
        ones = torch.ones_like(point.energy)
        for _ in range(steps):
            full = span.full_step(point)
            if guard:
                active = ~unbounded if held else None
                scale, point, rejected, below = _search(
                    span, point, full, active, max_halvings, noise_ulps
                )
                rejections += rejected
                if below is not None and bool(below.any()):
                    unbounded, held = unbounded | below, True
            else:
                scale, point = ones, full
                unbounded = unbounded | (point.energy == float("-inf"))
            energies.append(point.energy)
            scales.append(scale)
        return SpanRun(span.states(point), energies, scales, rejections, unbounded)
