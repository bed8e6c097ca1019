"""Log-sum-ReLU (Epanechnikov) Dense Associative Memory, streamed over memory chunks.

Hoover, Shi, Balasubramanian, Krotov & Ram (2025), "Dense Associative Memory with
Epanechnikov Energy". With kernel ``k_μ(x) = ReLU(1 − (β/2)‖x − ξ_μ‖²)`` (support
radius ``r = √(2/β)``) and active set ``B(x) = {μ : k_μ(x) > 0}``:

``E(x) = −β⁻¹ log(ε + Σ_μ k_μ(x))``  (``E = +∞`` outside every support when ε = 0)

``∇E(x) = Σ_{μ∈B(x)} (x − ξ_μ) / (ε + Σ_μ k_μ(x)) = (|B| x − Σ_{B} ξ_μ) / (ε + S)``.

Exact one-step update (derivation): a gradient step ``x − η ∇E`` with
``η = (ε + S(x)) / |B(x)|`` lands on ``x ← (1/|B(x)|) Σ_{μ∈B(x)} ξ_μ``, the
*unweighted* mean of the active memories (for a single active memory
``η = 1 − (β/2)‖x − ξ_μ‖²`` as in the paper's Theorem 1, and the step returns
``ξ_μ`` exactly). It never raises ``E``: on the active set ``A = B(x)`` the sum
``S_A(y) = Σ_{μ∈A} (1 − (β/2)‖y − ξ_μ‖²)`` is a concave quadratic maximised at
the mean of ``A``, and ``S(y) ≥ S_A(y)`` everywhere (ReLU ≥ identity), so
``S(x_new) ≥ S_A(x_new) ≥ S_A(x) = S(x)``. Stationary points are centroids of
self-consistent active sets: singletons are the stored patterns (exact memories),
larger sets are *emergent* memories.

Outside every support (``|B(x)| = 0``; ``E = +∞`` when ε = 0) the LSR field
vanishes. ``outside="lse"`` (default, as the paper's ``EpaOrLseMemory``) moves such
states with the Euclidean log-sum-exp update at the same β,
``x ← Σ_μ softmax_μ(−(β/2)‖x − ξ_μ‖²) ξ_μ``, which pulls them towards the nearest
memories (into a support); ``outside="stay"`` leaves them in place: :meth:`recall`
then reports them as converged (Δx = 0) with ``E = +∞`` in the energy trace, and
:meth:`active_count` returns 0 for them.

Clamped coordinates: the mean is taken over the free coordinates only and the
clamped ones are reset; the same concavity argument restricted to the affine
set ``{x : x_c = q_c}`` keeps the energy monotone.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from hopfield._validation import cast_finite, check_positive, check_rank, check_tensor
from hopfield.models.base import MemorySpec, RecallResult
from hopfield.models.modern import DenseMemory, _check_generator, _RecallPlan
from hopfield.models.schedules import Schedule, as_schedule
from hopfield.ops.streaming import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    lse_retrieve,
    lsr_partials,
)

__all__ = ["LogSumReLUMemory", "enumerate_stationary_points", "lsr_beta_max"]

_BOUNDARY_RTOL = 1e-9
_UPDATES = ("mean", "gradient")
_OUTSIDE = ("lse", "stay")


def lsr_default_beta(patterns: torch.Tensor) -> float:
    """Registry default β of ``lsr``: β_max (:func:`lsr_beta_max`), 1 for one pattern.

    The largest β of Hoover et al. (2025)'s sweep: the supports (radius
    ``r = √(2/β) = R_min``) are disjoint, so every stored pattern is an exact
    minimum; queries outside every support take log-sum-exp steps until they enter one.
    """
    if patterns.shape[0] < 2:
        return 1.0
    return lsr_beta_max(patterns.reshape(patterns.shape[0], -1))


class LogSumReLUMemory(DenseMemory):
    """Epanechnikov / log-sum-ReLU Dense AM (Hoover et al. 2025), streamed.

    ``E(x) = −β⁻¹ log(ε + Σ_μ ReLU(1 − (β/2)‖x − ξ_μ‖²))``.

    Updates (``update=``):

    * ``"mean"`` (default, exact; never raises ``E``):
      ``x ← (1/|B(x)|) Σ_{μ∈B(x)} ξ_μ`` (gradient step with ``η = (ε + S)/|B|``);
    * ``"gradient"``: plain gradient descent ``x ← x − α ∇E(x)`` with
      ``α = step_size`` (the paper's code uses α = 0.1; no monotonicity guarantee).

    States outside every support follow ``outside=`` (``"lse"``: Euclidean LSE
    step at the same β; ``"stay"``: unchanged). Support radius ``r = √(2/β)``.

    Args:
        beta: inverse bandwidth ``β > 0``.
        eps: ``ε ≥ 0`` inside the log (ε = 0 is the paper's default).
        update: ``"mean"`` or ``"gradient"``.
        step_size: ``α`` for ``update="gradient"``.
        outside: ``"lse"`` or ``"stay"``.
        chunk_size, memory_budget_bytes: streaming controls (see
            :func:`hopfield.ops.streaming.resolve_chunk_size`).
    """


    registry = (
        MemorySpec(
            "lsr",
            "continuous",
            "E = −β⁻¹ log Σ_μ ReLU(1 − (β/2)‖x − ξ_μ‖²)",
            "Hoover et al. (2025)",
            default_beta=lsr_default_beta,
        ),
    )


    def __init__(
        self,
        beta: float = 1.0,
        *,
        eps: float = 0.0,
        update: str = "mean",
        step_size: float = 0.1,
        outside: str = "lse",
        chunk_size: int | None = None,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        super().__init__(beta, chunk_size=chunk_size, memory_budget_bytes=memory_budget_bytes)
        self.eps = check_positive(eps, "eps", allow_zero=True)
        if update not in _UPDATES:
            raise ValueError(f"update must be one of {_UPDATES}, got {update!r}")
        if outside not in _OUTSIDE:
            raise ValueError(f"outside must be one of {_OUTSIDE}, got {outside!r}")
        self.update = update
        self.step_size = check_positive(step_size, "step_size")
        self.outside = outside

    @property
    def radius(self) -> float:
        """Support radius ``r = √(2/β)`` of each memory's kernel."""
        return (2.0 / self.beta) ** 0.5

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "eps": self.eps,
            "update": self.update,
            "step_size": self.step_size,
            "outside": self.outside,
        }

    def extra_repr(self) -> str:
        return (
            f"beta={self.beta}, eps={self.eps}, update={self.update!r}, "
            f"outside={self.outside!r}, num_patterns={self.num_patterns}"
        )

    def _stream(self, states: torch.Tensor, with_values: bool) -> tuple[torch.Tensor, ...]:
        if self.beta > torch.finfo(self.patterns.dtype).max:  # β·0 would be inf·0 = NaN
            raise ValueError(
                f"beta={self.beta:.3g} exceeds the range of the memory's dtype "
                f"{self.patterns.dtype}; store the patterns in float64 or lower beta"
            )
        parts = lsr_partials(
            states,
            self.patterns,
            self.patterns if with_values else None,
            self.beta,
            weighting="indicator",
            key_sq_norms=self.sq_norms,
            chunk_size=self.chunk_size,
            budget_bytes=self.memory_budget_bytes,
        )
        if parts.weighted is None:
            return parts.sum_relu, parts.num_active
        return parts.sum_relu, parts.num_active, parts.weighted

    def _energy_from_sum(self, sum_relu: torch.Tensor) -> torch.Tensor:
        return -(sum_relu + self.eps).log() / self.beta

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """``E(x)`` ``(B,)``; ``+inf`` outside every support when ``eps = 0``."""
        x = self._check_states(states, "states")
        sum_relu, _ = self._stream(x, with_values=False)
        return self._energy_from_sum(sum_relu)

    def energy_grad(self, states: torch.Tensor) -> torch.Tensor:
        """Closed-form ``∇E = (|B| x − Σ_{B} ξ_μ)/(ε + S)``; zero where ``|B(x)| = 0``
        (flat for ε > 0; undefined, ``E = +∞``, for ε = 0)."""
        x = self._check_states(states, "states")
        return self._energy_and_grad(x)[1]

    def active_count(self, states: torch.Tensor) -> torch.Tensor:
        """``|B(x)|``, the number of memories whose support contains each state, ``(B,)``."""
        x = self._check_states(states, "states")
        return self._stream(x, with_values=False)[1]

    def recall(
        self,
        queries: torch.Tensor,
        *,
        steps: int | None = None,
        max_steps: int = 100,
        tol: float = 1e-6,
        mask: torch.Tensor | None = None,
        beta_schedule: Schedule | float | None = None,
        step_size_schedule: Schedule | float | None = None,
        noise_schedule: Schedule | float | None = None,
        generator: torch.Generator | None = None,
    ) -> RecallResult:
        """Iterate the update from ``queries`` ``(B, D)`` (see
        :meth:`DenseMemory.recall <hopfield.models.modern.DenseMemory.recall>` for
        ``steps``, ``tol``, ``mask``, ``beta_schedule``, ``noise_schedule`` and
        ``generator``).

        ``step_size_schedule`` (:mod:`hopfield.models.schedules`, a number means a
        constant) switches to gradient descent ``x ← x − α_t ∇E(x)`` with
        ``∇E = (|B| x − Σ_{B} ξ_μ)/(ε + S)`` whatever ``update`` is; with a
        ``noise_schedule`` ``σ_t = √(2α_t/β)`` this is unadjusted Langevin sampling
        of ``∝ exp(−β E)``. Energy row ``t`` is ``E_{β_t}(x_t)``; ``grad_norm`` is
        ``‖∇E(x_T)‖`` over the free coordinates (0 outside every support).
        """
        plan = _RecallPlan(
            as_schedule(beta_schedule, "beta_schedule", positive=True),
            as_schedule(noise_schedule, "noise_schedule"),
            as_schedule(step_size_schedule, "step_size_schedule", positive=True),
            _check_generator(generator),
        )
        return self._recall(
            queries, steps=steps, max_steps=max_steps, tol=tol, mask=mask, plan=plan
        )

    def _schedule_overrides(self, plan: _RecallPlan, t: int) -> dict[str, Any]:
        overrides = super()._schedule_overrides(plan, t)
        if plan.step_size is not None:
            overrides["update"] = "gradient"
            overrides["step_size"] = check_positive(plan.step_size(t), "step_size_schedule(t)")
        return overrides

    def _energy_and_grad(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sum_relu, count, active_sum = self._stream(states, with_values=True)
        grad = (count[:, None] * states - active_sum) / (sum_relu + self.eps).clamp_min(
            torch.finfo(states.dtype).tiny
        )[:, None]
        grad = torch.where((count > 0)[:, None], grad, torch.zeros_like(grad))
        return self._energy_from_sum(sum_relu), grad

    def _update(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sum_relu, count, active_sum = self._stream(states, with_values=True)
        inside = count > 0
        if self.update == "mean":
            new = active_sum / count.clamp_min(1.0)[:, None]
        else:
            denom = (sum_relu + self.eps).clamp_min(torch.finfo(states.dtype).tiny)
            grad = (count[:, None] * states - active_sum) / denom[:, None]
            new = states - self.step_size * grad
        new = torch.where(inside[:, None], new, self._outside_step(states, inside))
        return new, self._energy_from_sum(sum_relu)

    def _outside_step(self, states: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        if self.outside == "stay" or bool(inside.all()):
            return states
        out = states.clone()
        lost = ~inside
        moved, _ = lse_retrieve(
            states[lost],
            self.patterns,
            None,
            self.beta,
            similarity="euclidean",
            key_sq_norms=self.sq_norms,
            chunk_size=self.chunk_size,
            budget_bytes=self.memory_budget_bytes,
        )
        out[lost] = moved
        return out

    def mean_shift_retrieve(self, queries: torch.Tensor, *, max_steps: int = 100) -> torch.Tensor:
        """Iterate the mean-of-active update until the active set stops changing
        (the paper's ``custom_retrieval``), ``(B, D)``."""
        x = self._check_states(queries, "queries")
        with torch.no_grad():
            for _ in range(max_steps):
                _, count, active_sum = self._stream(x, with_values=True)
                new = torch.where(
                    (count > 0)[:, None], active_sum / count.clamp_min(1.0)[:, None], x
                )
                if torch.equal(new, x):
                    break
                x = new
        return x


def lsr_beta_max(patterns: torch.Tensor) -> float:
    """``β_max = 2 / R_min²`` with ``R_min = ½ min_{μ≠ν} ‖ξ_μ − ξ_ν‖`` (Hoover et al. 2025):
    the largest β of the paper's sweep; every stored pattern is an exact minimum
    while ``β > β_max / 4`` (support radius below the minimum distance)."""
    check_tensor(patterns, "patterns")
    check_rank(patterns, "patterns", 2, "(K, D)")
    if patterns.shape[0] < 2:
        raise ValueError(f"patterns must hold at least 2 rows, got shape {tuple(patterns.shape)}")
    points = cast_finite(patterns, "patterns", torch.float64)
    distances = torch.cdist(points, points)
    distances.fill_diagonal_(float("inf"))
    r_min = 0.5 * float(distances.min())
    beta = 2.0 / r_min**2 if r_min > 0 else float("inf")
    if beta == float("inf"):
        raise ValueError(
            "patterns must have distinct rows (β_max = 2/R_min² is infinite), "
            f"got a minimum pair distance of {2 * r_min:g}"
        )
    dtype = patterns.dtype if patterns.is_floating_point() else torch.float32
    if beta > torch.finfo(dtype).max:
        raise ValueError(
            f"patterns are too close together for {dtype}: β_max = 2/R_min² = {beta:.3g} "
            "exceeds its range (rescale the patterns)"
        )
    return beta


def enumerate_stationary_points(
    patterns: torch.Tensor, beta: float, *, max_patterns: int = 20
) -> tuple[int, int]:
    """Count the LSR minima by enumerating every subset ``A`` of the memories (ε = 0).

    The centroid ``c_A`` is a local minimum iff its active set is exactly ``A``
    (strictly inside every support of ``A`` and outside all others): ``E`` is
    convex on a fixed active-set region. Returns ``(original, emergent)``: minima
    with ``|A| = 1`` (stored patterns) and with ``|A| ≥ 2``. A centroid on a support
    boundary (to relative ``1e-9``, e.g. the midpoint of the closest pair at
    ``β_max``) has a zero kernel there and is not counted. Exponential in ``K``;
    ``max_patterns`` guards against accidental huge enumerations.
    """
    check_tensor(patterns, "patterns")
    check_rank(patterns, "patterns", 2, "(K, D)")
    beta = check_positive(beta, "beta")
    count = patterns.shape[0]
    if count > max_patterns:
        raise ValueError(f"patterns must hold ≤ max_patterns={max_patterns} rows, got {count}")
    xi = patterns.double()
    radius_sq = 2.0 / beta
    original = emergent = 0
    for size in range(1, count + 1):
        for subset in itertools.combinations(range(count), size):
            centroid = xi[list(subset)].mean(dim=0)
            sq = (xi - centroid).square().sum(dim=1)
            inside = sq < radius_sq * (1.0 - _BOUNDARY_RTOL)
            expected = torch.zeros(count, dtype=torch.bool)
            expected[list(subset)] = True
            if torch.equal(inside, expected):
                if size == 1:
                    original += 1
                else:
                    emergent += 1
    return original, emergent
