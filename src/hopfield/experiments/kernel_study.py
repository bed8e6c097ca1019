"""Kernel study computations: random-feature Dense AM error vs features and β, ring check.

``hopfield study kernel [--quick] [--out DIR] [--seed S] [--kind trig]`` (tables and
figures in :mod:`hopfield.experiments.study_kernel`) measures, for
:class:`~hopfield.models.random_features.RandomFeatureMemory` against the exact
log-sum-exp memory (Hoover et al. 2024, "Dense Associative Memory Through the Lens of
Random Features"; tutorial ch. "Kernel"):

1. kernel and energy approximation error vs the number of features Y, with the fitted
   log-log slope (Monte Carlo theory: −½, i.e. error ∝ 1/√Y);
2. the same errors vs β (the same β for the memory and the exact energy), for queries at
   one kernel bandwidth √(2/β) from a stored pattern and at a fixed distance;
3. retrieval divergence ``‖x_exact(t) − x_approx(t)‖`` of gradient descent with the same
   step size on the exact and approximate energies;
4. the closed-form ring energy (below) against the library's exact and random-feature
   energies of a dense uniform ring.

Query distribution (items 1–3): a stored pattern moved by a random direction of length
``r``; ``r = √(2/β)`` puts the nearest memory's kernel at e^{−1}, the DrDAM setting of
queries near memories where ``E_exact ≈ 1/β`` stays away from 0 (relative errors of an
energy near 0 are meaningless). Patterns: K = 20 uniform on the unit sphere in D = 30,
β = 25 (the acceptance setting).

Ring closed form. For memories uniform on the unit circle and ``x`` at radius R, with the
kernel ``exp(−β‖x − ξ‖²)`` averaged over memories,
``(1/2π)∫ exp(−β(R² + 1 − 2R cos θ)) dθ = exp(−β(R² + 1)) I₀(2βR)``, so

    E_ring(R) = −(1/β) log mean_μ exp(−β‖x − ξ_μ‖²) = R² + 1 − (1/β) log I₀(2βR).

At β = 20 its minimum is R* ≈ 0.987 with E(0) − E(R*) ≈ 0.862. The library's energy
``E_lib(x; β') = −(1/β') log Σ_μ exp(−(β'/2)‖x − ξ_μ‖²)`` with ``β' = 2β`` gives
``E_ring = 2·E_lib(x; 2β) + (1/β) log K``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from hopfield._validation import check_floating, check_positive
from hopfield.data.generators import make_generator, random_spherical
from hopfield.experiments.runner import Progress, no_progress
from hopfield.models.random_features import (
    FeatureKind,
    RandomFeatureMemory,
    exact_energy,
    exact_energy_grad,
    gaussian_kernel,
)

__all__ = [
    "KernelStudyConfig",
    "error_vs_beta",
    "error_vs_features",
    "fit_loglog_slope",
    "log_i0",
    "near_pattern_queries",
    "retrieval_divergence",
    "ring_energy",
    "ring_energy_from_library",
    "ring_minimum",
    "ring_study",
    "run_kernel_study",
    "uniform_ring",
]

Row = dict[str, Any]


# ----------------------------------------------------------------------------------------
# Ring closed form
# ----------------------------------------------------------------------------------------


def log_i0(z: torch.Tensor) -> torch.Tensor:
    """``log I₀(z)`` stably for all real z: ``log i0e(z) + |z|`` (no overflow of I₀)."""
    z = check_floating(z, "z")
    return torch.log(torch.special.i0e(z)) + z.abs()


def ring_energy(radius: torch.Tensor, beta: float) -> torch.Tensor:
    """Closed-form ring energy ``E(R) = R² + 1 − (1/β) log I₀(2βR)`` (elementwise).

    The exact energy ``−(1/β) log mean_μ exp(−β‖x − ξ_μ‖²)`` of a state at radius R for
    memories densely and uniformly placed on the unit circle (tutorial, ch. "Kernel").
    """
    radius = check_floating(radius, "radius")
    beta = check_positive(beta, "beta")
    return radius.square() + 1 - log_i0(2 * beta * radius) / beta


def ring_minimum(beta: float) -> tuple[float, float]:
    """``(R*, E(0) − E(R*))`` of :func:`ring_energy`, by bounded scalar minimisation."""
    from scipy.optimize import minimize_scalar

    beta = check_positive(beta, "beta")

    def energy(r: float) -> float:
        return float(ring_energy(torch.tensor(r, dtype=torch.float64), beta))

    result = minimize_scalar(energy, bounds=(0.0, 2.0), method="bounded", options={"xatol": 1e-10})
    r_star = float(result.x)
    return r_star, energy(0.0) - energy(r_star)


def uniform_ring(count: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``count`` memories evenly spaced on the unit circle, shape ``(count, 2)``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an int ≥ 1, got {count!r}")
    angles = 2 * math.pi * torch.arange(count, dtype=torch.float64) / count
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=1).to(dtype)


def ring_energy_from_library(
    radius: torch.Tensor,
    patterns: torch.Tensor,
    beta: float,
    energy_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The library's energy of states ``(R, 0)`` in the closed form's convention.

    ``E_ring(R) = 2·E_lib((R, 0); 2β) + (1/β) log K``, with ``E_lib`` the exact Euclidean
    log-sum-exp energy of ``patterns`` at ``2β`` (default) or ``energy_fn`` (any energy
    with the same convention, e.g. a :class:`RandomFeatureMemory` built with ``2β``).
    """
    radius = check_floating(radius, "radius")
    beta = check_positive(beta, "beta")
    states = torch.stack([radius, torch.zeros_like(radius)], dim=1).to(patterns.dtype)
    lib = exact_energy(states, patterns, beta=2 * beta) if energy_fn is None else energy_fn(states)
    return 2 * lib + math.log(patterns.shape[0]) / beta


# ----------------------------------------------------------------------------------------
# Error measurements
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelStudyConfig:
    """Sizes of the kernel study; :meth:`quick` is a fast version for smoke runs."""

    dim: int = 30
    num_patterns: int = 20
    beta: float = 25.0
    num_queries: int = 64
    features: tuple[int, ...] = tuple(2**p for p in range(8, 18))
    energy_fit_min_features: int = 2048
    seeds: int = 16
    betas: tuple[float, ...] = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)
    beta_sweep_features: int = 16384
    divergence_features: tuple[int, ...] = (1024, 8192, 65536)
    divergence_steps: int = 100
    step_size: float = 0.2
    ring_beta: float = 20.0
    ring_memories: int = 2000
    ring_features: int = 65536
    kind: str = "trig"
    dtype: torch.dtype = torch.float32

    @classmethod
    def quick(cls, kind: str = "trig") -> KernelStudyConfig:
        return cls(
            num_queries=32,
            features=tuple(2**p for p in range(8, 14)),
            seeds=3,
            betas=(1.0, 5.0, 25.0, 100.0),
            beta_sweep_features=4096,
            divergence_features=(1024, 16384),
            divergence_steps=30,
            ring_features=8192,
            kind=kind,
        )


def near_pattern_queries(
    patterns: torch.Tensor, distance: float, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` queries ``ξ_μ + distance·u`` (μ uniform, u uniform on the sphere).

    Returns ``(queries (count, D), source index (count,))``.
    """
    index = torch.randint(0, patterns.shape[0], (count,), generator=generator)
    direction = torch.randn(count, patterns.shape[1], generator=generator, dtype=torch.float64)
    direction = direction / direction.norm(dim=1, keepdim=True)
    return patterns[index] + distance * direction.to(patterns.dtype), index


def _bandwidth(beta: float) -> float:
    return math.sqrt(2.0 / beta)


def _errors(
    memory: RandomFeatureMemory, queries: torch.Tensor, patterns: torch.Tensor, beta: float
) -> dict[str, float]:
    """Mean errors of one memory on one query set.

    ``kernel_error``: mean |k̂ − k| over query–pattern pairs; ``energy_rel_error`` (and
    its median): |E − E_exact| / |E_exact|; ``log_sum_error``: β·|E − E_exact|, the error
    of the log kernel sum, meaningful also where E_exact ≈ 0 (kernel sum ≈ 1);
    ``floor_rate``: fraction of queries whose estimate hit the floor.
    """
    exact_k = gaussian_kernel(queries, patterns, beta=beta)
    kernel_error = (memory.kernel(queries, patterns) - exact_k).abs().mean()
    exact_e = exact_energy(queries, patterns, beta=beta)
    absolute = (memory.energy(queries) - exact_e).abs()
    relative = absolute / exact_e.abs()
    floored = memory.kernel_sum(queries) <= memory.floor
    return {
        "kernel_error": float(kernel_error),
        "energy_rel_error": float(relative.mean()),
        "energy_rel_error_median": float(relative.median()),
        "log_sum_error": float(beta * absolute.mean()),
        "floor_rate": float(floored.float().mean()),
    }


def _mean_rows(rows: Sequence[Row], keys: Sequence[str]) -> Row:
    return {key: sum(float(r[key]) for r in rows) / len(rows) for key in keys}


_ERROR_KEYS = (
    "kernel_error",
    "energy_rel_error",
    "energy_rel_error_median",
    "log_sum_error",
    "floor_rate",
)


def _problem(config: KernelStudyConfig, seed: int) -> torch.Tensor:
    return random_spherical(config.num_patterns, config.dim, seed=seed, dtype=config.dtype)


def error_vs_features(
    config: KernelStudyConfig, seed: int = 0, *, progress: Progress = no_progress
) -> list[Row]:
    """Rows ``{num_features, kernel_error, energy_rel_error, …}`` averaged over seeds."""
    per_y: dict[int, list[Row]] = {y: [] for y in config.features}
    for s in progress(range(config.seeds), desc="kernel: error vs Y"):
        patterns = _problem(config, seed + 1000 + s)
        generator = make_generator(seed + 2000 + s)
        queries, _ = near_pattern_queries(
            patterns, _bandwidth(config.beta), config.num_queries, generator
        )
        for y in config.features:
            memory = RandomFeatureMemory(
                config.dim,
                y,
                beta=config.beta,
                kind=_kind(config),
                seed=seed + s,
                dtype=config.dtype,
            )
            memory.store(patterns)
            per_y[y].append(_errors(memory, queries, patterns, config.beta))
    return [{"num_features": y, **_mean_rows(rows, _ERROR_KEYS)} for y, rows in per_y.items()]


def error_vs_beta(
    config: KernelStudyConfig, seed: int = 0, *, progress: Progress = no_progress
) -> list[Row]:
    """Errors vs β at fixed Y, for queries at one bandwidth and at a fixed distance.

    The fixed distance is one bandwidth at ``config.beta``; the same β is used to build
    the memory and to evaluate the exact energy.
    """
    rows: list[Row] = []
    fixed = _bandwidth(config.beta)
    for beta in progress(config.betas, desc="kernel: error vs β"):
        for placement, distance in (("bandwidth", _bandwidth(beta)), ("fixed", fixed)):
            runs = []
            for s in range(config.seeds):
                patterns = _problem(config, seed + 1000 + s)
                generator = make_generator(seed + 2000 + s)
                queries, _ = near_pattern_queries(patterns, distance, config.num_queries, generator)
                memory = RandomFeatureMemory(
                    config.dim,
                    config.beta_sweep_features,
                    beta=beta,
                    kind=_kind(config),
                    seed=seed + s,
                    dtype=config.dtype,
                )
                memory.store(patterns)
                runs.append(_errors(memory, queries, patterns, beta))
            rows.append(
                {
                    "beta": beta,
                    "queries": placement,
                    "distance": distance,
                    **_mean_rows(runs, _ERROR_KEYS),
                }
            )
    return rows


def fit_loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (needs ≥ 2 positive points)."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"x and y must have the same length ≥ 2, got {len(x)} and {len(y)}")
    if min(x) <= 0 or min(y) <= 0:
        raise ValueError("x and y must be positive for a log-log fit")
    lx = torch.tensor([math.log(v) for v in x], dtype=torch.float64)
    ly = torch.tensor([math.log(v) for v in y], dtype=torch.float64)
    lx_c = lx - lx.mean()
    return float((lx_c * (ly - ly.mean())).sum() / lx_c.square().sum())


def retrieval_divergence(config: KernelStudyConfig, seed: int = 0) -> tuple[list[Row], list[Row]]:
    """Gradient descent on the exact and approximate energies from the same queries.

    Both use ``x ← x − η∇E`` with ``η = config.step_size`` (the approximate one guarded,
    see :meth:`RandomFeatureMemory.step`). Returns per-step rows
    ``{num_features, step, divergence}`` (mean ``‖x_exact(t) − x_approx(t)‖``) and summary
    rows with the final divergence and the retrieval accuracy (nearest memory = source).
    """
    patterns = _problem(config, seed + 1000)
    generator = make_generator(seed + 2000)
    queries, source = near_pattern_queries(
        patterns, _bandwidth(config.beta), config.num_queries, generator
    )
    exact_path = [queries]
    x = queries
    for _ in range(config.divergence_steps):
        x = x - config.step_size * exact_energy_grad(x, patterns, beta=config.beta)
        exact_path.append(x)
    exact_correct = _retrieved(exact_path[-1], patterns, source)
    trace: list[Row] = []
    summary: list[Row] = []
    for y in config.divergence_features:
        memory = RandomFeatureMemory(
            config.dim, y, beta=config.beta, kind=_kind(config), seed=seed, dtype=config.dtype
        )
        memory.store(patterns)
        x = queries
        for t in range(config.divergence_steps + 1):
            if t:
                x = memory.step(x, step_size=config.step_size)
            gap = (exact_path[t] - x).norm(dim=1).mean()
            trace.append({"num_features": y, "step": t, "divergence": float(gap)})
        summary.append(
            {
                "num_features": y,
                "final_divergence": trace[-1]["divergence"],
                "approx_retrieval_accuracy": _retrieved(x, patterns, source),
                "exact_retrieval_accuracy": exact_correct,
                "approx_distance_to_source": float((x - patterns[source]).norm(dim=1).mean()),
                "exact_distance_to_source": float(
                    (exact_path[-1] - patterns[source]).norm(dim=1).mean()
                ),
            }
        )
    return trace, summary


def _retrieved(states: torch.Tensor, patterns: torch.Tensor, source: torch.Tensor) -> float:
    nearest = torch.cdist(states, patterns).argmin(dim=1)
    return float((nearest == source).float().mean())


def _kind(config: KernelStudyConfig) -> FeatureKind:
    if config.kind not in ("trig", "trig_phase", "positive"):
        raise ValueError(f"kind must be 'trig', 'trig_phase' or 'positive', got {config.kind!r}")
    return config.kind  # type: ignore[return-value]


def ring_study(config: KernelStudyConfig, seed: int = 0, points: int = 241) -> dict[str, Any]:
    """Closed form vs library exact vs random features on a dense uniform ring.

    Returns the curves on ``R ∈ [0, 1.5]`` and the minimum ``R*`` and depth
    ``E(0) − E(R*)`` of each.
    """
    beta = config.ring_beta
    radius = torch.linspace(0.0, 1.5, points, dtype=torch.float64)
    ring = uniform_ring(config.ring_memories)
    closed = ring_energy(radius, beta)
    exact = ring_energy_from_library(radius, ring, beta)
    memory = RandomFeatureMemory(
        2,
        config.ring_features,
        beta=2 * beta,
        kind=_kind(config),
        seed=seed,
        dtype=torch.float64,
    )
    memory.store(ring)
    approx = ring_energy_from_library(radius, ring, beta, energy_fn=memory.energy)
    r_star, depth = ring_minimum(beta)

    def grid_minimum(curve: torch.Tensor) -> tuple[float, float]:
        index = int(curve.argmin())
        return float(radius[index]), float(curve[0] - curve[index])

    band = (radius - 1).abs() <= 0.2

    return {
        "beta": beta,
        "memories": config.ring_memories,
        "features": config.ring_features,
        "radius": radius.tolist(),
        "closed_form": closed.tolist(),
        "library_exact": exact.tolist(),
        "random_features": approx.tolist(),
        "closed_form_r_star": r_star,
        "closed_form_depth": depth,
        "library_grid_minimum": grid_minimum(exact),
        "random_features_grid_minimum": grid_minimum(approx),
        "max_abs_library_minus_closed_form": float((exact - closed).abs().max()),
        "max_abs_random_features_minus_closed_form": float((approx - closed).abs().max()),
        "band_max_abs_random_features_minus_closed_form": float(
            (approx - closed)[band].abs().max()
        ),
    }


def run_kernel_study(
    *, config: KernelStudyConfig | None = None, seed: int = 0, progress: Progress = no_progress
) -> dict[str, Any]:
    """Run all four parts (see the module docstring) and return their results."""
    config = KernelStudyConfig() if config is None else config
    start = time.perf_counter()
    features = error_vs_features(config, seed, progress=progress)
    fit_rows = [r for r in features if r["num_features"] >= config.energy_fit_min_features]
    slopes = {
        "kernel_error": fit_loglog_slope(
            [r["num_features"] for r in features], [r["kernel_error"] for r in features]
        ),
        "energy_rel_error": fit_loglog_slope(
            [r["num_features"] for r in fit_rows], [r["energy_rel_error"] for r in fit_rows]
        ),
    }
    betas = error_vs_beta(config, seed, progress=progress)
    trace, divergence = retrieval_divergence(config, seed)
    ring = ring_study(config, seed)
    results: dict[str, Any] = {
        "config": {
            **{k: v for k, v in vars(config).items() if k != "dtype"},
            "dtype": str(config.dtype).removeprefix("torch."),
        },
        "error_vs_features": features,
        "slopes": slopes,
        "energy_slope_fit_min_features": config.energy_fit_min_features,
        "error_vs_beta": betas,
        "retrieval_divergence": divergence,
        "retrieval_trace": trace,
        "ring": ring,
        "seconds": time.perf_counter() - start,
    }
    return results
