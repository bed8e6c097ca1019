"""Energy descent of a HAM: explicit Euler with a per-sample energy guard.

The continuous dynamics ``τ_l dx_l/dt = −∂E/∂ĝ_l`` never raise the total energy
(see :mod:`hopfield.core.graph`), but their explicit-Euler discretisation

    x_l ← x_l − (η / τ_l) · ∂E/∂ĝ_l

can, for a large step η (tutorial "Modern Methods in Associative Memory", ch. HAMUX;
Krotov & Hopfield 2021). :func:`descend` therefore checks every step: a step that
raises a sample's energy, or makes it NaN or +inf, is retried with η/2, η/4, … for
that sample only, and after ``max_halvings`` failed halvings the sample stays where
it is. The energy trace is then finite and non-increasing by construction, and the
number of rejected trials is reported.

Unbounded energies. A HAM whose energy is unbounded below (e.g. a convex synapse
energy that outgrows the neurons' energies) drives its states to ever larger values
until the energy overflows to −inf. A trial step whose energy is −inf is rejected
like any non-finite one, and the sample is flagged in ``DescentResult.unbounded`` and
held at its last finite state for the rest of the run (it is not retried: the
energy has no minimum to descend to). :func:`descend` then issues one
:class:`UnboundedEnergyWarning` (a ``RuntimeWarning``) per call, saying how many
samples reached −inf and why. The guard itself lives in
:mod:`hopfield.core.descent_guard`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import torch

from hopfield._validation import check_int, check_positive
from hopfield.core import memory_span
from hopfield.core.descent_guard import (
    ROUNDING_ULPS,
    Moves,
    Point,
    UnboundedEnergyWarning,
    evaluate,
    guarded_search,
    guarded_step,
    max_abs_move,
    warn_unbounded,
)
from hopfield.core.graph import HAM, check_energy_defined

__all__ = ["ROUNDING_ULPS", "DescentResult", "UnboundedEnergyWarning", "descend"]

States = dict[str, torch.Tensor]


@dataclass
class DescentResult:
    """Outcome of :func:`descend`.

    Attributes:
        states: final states ``{layer: (B, *shape)}``.
        energies: total energy trace ``(T + 1, B)``; row 0 is the initial energy.
        step_sizes: ``(T, B)`` step size η actually taken by each sample at each
            step (``step_size / 2^k`` after ``k`` halvings; 0 when the sample stayed
            put or had already converged).
        rejections: number of rejected trial steps (summed over samples and steps).
        steps: number of steps ``T`` taken (fewer than requested if all converged).
        converged: ``(B,)`` bool: the sample's largest ``|Δx|`` fell below ``tol``
            (all False when no ``tol`` was given).
        unbounded: ``(B,)`` bool: the sample's energy reached −inf (overflow of an
            energy that is unbounded below); with the guard the sample is held at
            its last finite state from then on, without it its state is whatever the
            plain Euler step gave.
    """

    states: States
    energies: torch.Tensor
    step_sizes: torch.Tensor
    rejections: int
    steps: int
    converged: torch.Tensor
    unbounded: torch.Tensor

    @property
    def final_energy(self) -> torch.Tensor:
        """Energy of the final states, ``(B,)``."""
        return self.energies[-1]


def _check_clamp(
    ham: HAM, clamp: object, xs: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Normalise ``clamp`` to ``{layer: bool mask broadcastable to its state}`` (True = fixed)."""
    if clamp is None:
        return {}
    if isinstance(clamp, str) or not isinstance(clamp, Mapping | Collection):
        raise TypeError(
            "clamp must be a dict of layer -> bool mask (or bool) or a collection of layer "
            f"names, got {type(clamp).__name__}"
        )
    items = clamp.items() if isinstance(clamp, Mapping) else ((name, True) for name in clamp)
    masks: dict[str, torch.Tensor] = {}
    for name, mask in items:
        if name not in ham.neurons:
            raise ValueError(
                f"clamp names unknown layer {name!r}; known layers: {list(ham.neurons)}"
            )
        x = xs[name]
        if isinstance(mask, bool):
            mask = torch.tensor(mask, device=x.device)
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"clamp[{name!r}] must be a bool tensor or a bool, got {mask!r}")
        try:
            shape = torch.broadcast_shapes(mask.shape, x.shape)
        except RuntimeError:
            shape = None
        if shape != x.shape:
            raise ValueError(
                f"clamp[{name!r}] must be broadcastable to the state shape {tuple(x.shape)} "
                f"(e.g. {tuple(x.shape[1:])} or {tuple(x.shape)}), got shape {tuple(mask.shape)}"
            )
        masks[name] = mask.to(x.device)
    return masks


def _needs_graph(ham: HAM, xs: States) -> bool:
    """Whether the result must carry an autograd graph (to parameters or initial states)."""
    if not torch.is_grad_enabled():
        return False
    return any(p.requires_grad for p in ham.parameters()) or any(
        x.requires_grad for x in xs.values()
    )


def _check_schedule(
    steps: object, step_size: object, tol: object, max_halvings: object
) -> tuple[int, float, float | None, int]:
    """Validated ``steps``, ``step_size``, ``tol`` and ``max_halvings`` of :func:`descend`."""
    return (
        check_int(steps, "steps", 0),
        check_positive(step_size, "step_size"),  # type: ignore[arg-type]
        None if tol is None else check_positive(tol, "tol", allow_zero=True),  # type: ignore[arg-type]
        check_int(max_halvings, "max_halvings", 0),
    )


def _plain_step(
    ham: HAM, point: Point, moves: Moves, converged: torch.Tensor, tol: float | None
) -> tuple[Point, torch.Tensor]:
    """One unguarded Euler step of the samples not yet converged: (new point, scale)."""
    scale = (~converged).to(point.energy.dtype)
    trial = moves.step(point.states, scale, tol is None or not bool(converged.any()))
    return evaluate(ham, trial, with_grads=True), scale


def _iterate(
    ham: HAM,
    states: States,
    masks: dict[str, torch.Tensor],
    steps: int,
    step_size: float,
    tol: float | None,
    guard: bool,
    max_halvings: int,
    span: bool = True,
) -> DescentResult:
    """The step loop of :func:`descend` on validated arguments; with ``span`` a single
    spherical layer under one dense memory descends in the memories' span when that
    needs fewer FLOP (:mod:`hopfield.core.memory_span`)."""
    graph = _needs_graph(ham, states)
    if span and not graph and tol is None and not masks and len(states) == 1:
        ((name, x0),) = states.items()
        plan = memory_span.plan(ham, x0, steps, step_size)
        if plan is not None:
            return _span_result(
                name, memory_span.run(plan, steps, guard, max_halvings, ROUNDING_ULPS), step_size
            )
    point = evaluate(ham, states, with_grads=True)
    check_energy_defined(point.energy)  # a NaN start would never move (NaN ≤ E is False)
    batch = point.energy.shape[0]
    converged = torch.zeros(batch, dtype=torch.bool, device=point.energy.device)
    unbounded = point.energy.detach() == float("-inf")
    energies, sizes, rejections, taken = [point.energy], [], 0, 0
    for _ in range(steps):
        assert point.grads is not None
        moves = Moves(ham, point.grads, step_size, masks)
        if guard:
            active = ~(converged | unbounded)
            search = guarded_search(ham, point, moves, active, max_halvings, not graph)
            rejections += search.rejections
            unbounded = unbounded | search.unbounded
            scale = search.scale
            # without a graph the searched point is final; with one, re-apply the scale
            new = search.point if not graph else guarded_step(ham, point, moves, scale)
        else:
            new, scale = _plain_step(ham, point, moves, converged, tol)
            unbounded = unbounded | (new.energy.detach() == float("-inf"))
        if tol is not None:
            converged = converged | (max_abs_move(moves.of(), scale) < tol)
        point = new
        energies.append(point.energy)
        sizes.append(scale * step_size)
        taken += 1
        if tol is not None and bool(converged.all()):
            break
    return DescentResult(
        states=point.states,
        energies=torch.stack(energies),
        step_sizes=torch.stack(sizes).detach() if sizes else point.energy.new_zeros(0, batch),
        rejections=rejections,
        steps=taken,
        converged=converged,
        unbounded=unbounded,
    )


def _span_result(name: str, run: memory_span.SpanRun, step_size: float) -> DescentResult:
    """The :class:`DescentResult` of a descent in the memories' span (no ``tol``)."""
    energies = torch.stack(run.energies)
    batch = energies.shape[1]
    sizes = torch.stack(run.scales) * step_size if run.scales else energies.new_zeros(0, batch)
    return DescentResult(
        states={name: run.states},
        energies=energies,
        step_sizes=sizes,
        rejections=run.rejections,
        steps=len(run.scales),
        converged=torch.zeros(batch, dtype=torch.bool, device=energies.device),
        unbounded=run.unbounded,
    )


def descend(
    ham: HAM,
    xs: Mapping[str, torch.Tensor],
    *,
    steps: int,
    step_size: float = 0.1,
    tol: float | None = None,
    clamp: Mapping[str, torch.Tensor | bool] | Collection[str] | None = None,
    guard: bool = True,
    max_halvings: int = 20,
) -> DescentResult:
    """Descend the total energy of ``ham`` from states ``xs`` by guarded explicit Euler.

    Update, for every layer ``l`` and sample ``b``::

        x_l ← x_l − (η_b / τ_l) · ∂E/∂ĝ_l,    ∂E/∂ĝ_l = x_l + Σ_s ∂E_s/∂ĝ_l

    (:meth:`HAM.grad`, closed-form synapse gradients). With ``guard`` a trial step
    that raises sample ``b``'s total energy or makes it NaN or +inf is retried with
    ``η_b/2``, up to ``max_halvings`` times; after that the sample stays put for this
    step. Each rejected trial counts in ``rejections``. A rise within rounding noise
    (≤ ``ROUNDING_ULPS`` ulps of ``|E|``) is rejected without halving: the sample stays
    put, since a smaller step cannot resolve a change below the float precision.
    A trial whose energy is −inf (the energy is unbounded below and overflowed) is
    rejected, the sample is flagged in ``result.unbounded`` and held at its last
    finite state for the remaining steps; one :class:`UnboundedEnergyWarning` per call
    says how many samples reached −inf (with ``guard=False`` too, where they keep the
    overflowed state). Halvings are evaluated on the failing
    samples only. Clamped entries never move.

    Differentiable end to end (step sizes are chosen without gradient tracking, then
    applied out of place): gradients reach synapse weights, Lagrangian parameters
    and the initial states. Without a graph, ``tol`` or ``clamp``, a HAM of one
    ``SphericalNorm`` layer read by one ``DenseMemorySynapse`` descends in the span of
    the memories (:mod:`hopfield.core.memory_span`: same iterates and guard, one
    ``B × M × M`` product per step with ``ΞΞᵀ`` cached per synapse) when that needs
    fewer FLOP than the direct step.

    Args:
        ham: the graph whose energy is descended.
        xs: initial states ``{layer: (B, *shape)}`` (cast to the HAM's dtype and
            validated by :meth:`HAM.check_states`: real floating, finite, shapes). An
            empty batch (``B = 0``) gives an empty result; a NaN initial energy (an
            overflowing activation) is a ``ValueError``.
        steps: maximum number of Euler steps (int ≥ 0).
        step_size: η > 0.
        tol: stop a sample once its largest ``|Δx|`` over all layers is below ``tol``
            (≥ 0); the loop ends when every sample has converged. Converged samples
            are held fixed afterwards.
        clamp: entries held fixed: ``{layer: bool mask}`` with masks broadcastable to
            the state (True = fixed, e.g. visible pixels), ``{layer: True}``, or a
            collection of layer names held entirely fixed.
        guard: enable the energy guard (disable for plain Euler).
        max_halvings: maximum number of halvings per step (int ≥ 0).

    Returns:
        :class:`DescentResult` with final states, the ``(T+1, B)`` energy trace, the
        ``(T, B)`` step sizes taken, the rejection count, ``T``, ``converged`` and
        ``unbounded``.
    """
    if not isinstance(ham, HAM):
        raise TypeError(f"ham must be a HAM, got {type(ham).__name__}")
    states = ham.check_states(xs)
    steps, step_size, tol, max_halvings = _check_schedule(steps, step_size, tol, max_halvings)
    if not isinstance(guard, bool):
        raise TypeError(f"guard must be a bool, got {type(guard).__name__}")
    masks = _check_clamp(ham, clamp, states)
    result = _iterate(ham, states, masks, steps, step_size, tol, guard, max_halvings)
    warn_unbounded(result.unbounded, guard)
    return result

