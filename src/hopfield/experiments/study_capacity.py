"""Capacity science: Dense-AM capacity against pattern separation and feature correlation.

``hopfield study capacity [--quick] [--out DIR] [--seed S]`` reproduces the design of
Bielmeier & Friedland (2025), "Effects of Feature Correlations on Associative Memory
Capacity" (arXiv 2508.01395): binary data sets whose minimum pairwise Hamming distance h
(the *separation*) and feature correlation ρ are controlled, and the capacity of the
polynomial Dense AM ``E(σ) = −Σ_μ (ξ^μ·σ)ⁿ`` (Krotov & Hopfield 2016) of degree
n ∈ {2, 3} found by binary search on the number of stored patterns.

* **Data** (:func:`separated_patterns`): candidates are drawn with
  :func:`hopfield.data.structured.correlated_bipolar` (``among="features"``: features
  i ≠ j correlate with ρ across patterns) and accepted greedily, in draw order, when their
  Hamming distance to every accepted pattern is ≥ h. The data set of size K is the prefix
  of the first K accepted patterns, so data sets grow by inclusion as K grows.
* **Criterion** (papers.md §6 marks it *inferred*): K patterns are stored when all of
  them are fixed points of the asynchronous dynamics (``is_fixed_point``), i.e. recalled
  exactly from themselves. The capacity of one data set is the largest K passing,
  found by galloping and bisection (as in :func:`hopfield.metrics.capacity_search`);
  when every available pattern passes (no larger code was found) the point is marked
  ``censored`` (a lower bound).
* **Seeds**: each (n, ρ, h, trial) draws its data from its own seed, a hash of
  ``(seed, n, h, 1000ρ, trial)``, so every table row is reproducible on its own.
* **Baseline**: i.i.d. uniform patterns (no separation control) through
  :func:`hopfield.metrics.capacity_search` with the same exact-recall criterion.

Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``), ``baselines.csv`` and the figure
``capacity.png`` (log₂ capacity against h, one line per (n, ρ)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hopfield.core.separation import Polynomial
from hopfield.data.generators import make_generator
from hopfield.data.structured import correlated_bipolar, hamming_distances
from hopfield.experiments.report import new_figure
from hopfield.experiments.runner import (
    Progress,
    Study,
    StudyContext,
    StudyResult,
    Table,
    no_progress,
)
from hopfield.metrics.capacity import bracket_largest_passing, capacity_search
from hopfield.models.dense import DenseAssociativeMemory

__all__ = [
    "STUDY",
    "CapacityConfig",
    "dataset_capacity",
    "point_seed",
    "run_capacity_study",
    "separated_patterns",
    "study_result",
]


@dataclass(frozen=True)
class CapacityConfig:
    """Grid of the study: N, degrees n, correlations ρ, separations h, trials per point,
    the largest data set tried per trial (``max_patterns``) and the candidate budget."""

    num_neurons: int = 40
    degrees: tuple[int, ...] = (2, 3)
    correlations: tuple[float, ...] = (0.0, 0.1, 0.2)
    separations: tuple[int, ...] = (8, 10, 12, 14, 16, 18, 20)
    trials: int = 12
    max_patterns: int = 160
    max_candidates: int = 40000

    @classmethod
    def quick(cls) -> CapacityConfig:
        return cls(
            num_neurons=32,
            correlations=(0.0, 0.2),
            separations=(6, 8, 10, 12),
            trials=2,
            max_patterns=96,
            max_candidates=12000,
        )


def point_seed(seed: int, degree: int, separation: int, correlation: float, trial: int) -> int:
    """The data seed of one (n, h, ρ, trial): a 32-bit hash of the tuple."""
    key = (seed, degree, separation, round(1000 * correlation), trial)
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def separated_patterns(
    count: int,
    dim: int,
    min_distance: int,
    correlation: float,
    *,
    seed: int,
    max_candidates: int = 40000,
    chunk: int = 512,
) -> torch.Tensor:
    """Up to ``count`` ±1 patterns ``(K, dim)`` with feature correlation ``correlation`` and
    pairwise Hamming distance ≥ ``min_distance``: greedy acceptance, in draw order, of
    candidates from :func:`~hopfield.data.structured.correlated_bipolar`
    (``among="features"``). Stops at ``count`` patterns or ``max_candidates`` draws, so
    fewer than ``count`` rows may be returned (never zero)."""
    if count < 1 or max_candidates < 1:
        raise ValueError(f"count and max_candidates must be ≥ 1, got {count}, {max_candidates}")
    if not 0 <= min_distance <= dim:
        raise ValueError(f"min_distance must lie in [0, dim={dim}], got {min_distance}")
    rng = make_generator(seed)
    accepted = torch.empty(0, dim, dtype=torch.float64)
    drawn = 0
    while accepted.shape[0] < count and drawn < max_candidates:
        size = min(chunk, max_candidates - drawn)
        candidates = correlated_bipolar(
            size, dim, correlation, among="features", generator=rng, dtype=torch.float64
        )
        drawn += size
        if accepted.shape[0]:
            nearest = ((dim - candidates @ accepted.T) / 2).amin(dim=1)
            candidates = candidates[nearest >= min_distance]
        distances = hamming_distances(candidates)
        keep: list[int] = []
        for index in range(candidates.shape[0]):
            if accepted.shape[0] + len(keep) >= count:
                break
            if keep and bool((distances[index, keep] < min_distance).any()):
                continue
            keep.append(index)
        accepted = torch.cat([accepted, candidates[keep]])
    return accepted.to(torch.float32)


def _all_stable(patterns: torch.Tensor, degree: int) -> bool:
    model = DenseAssociativeMemory(patterns.shape[1], separation=Polynomial(degree))
    model.store(patterns)
    return bool(model.is_fixed_point(patterns).all())


def dataset_capacity(patterns: torch.Tensor, degree: int) -> int:
    """Largest K such that the first K rows of ``patterns`` are all fixed points of the
    degree-n polynomial Dense AM (galloping + bisection over K; 0 if even K = 1 fails)."""
    low, _ = bracket_largest_passing(
        lambda k: _all_stable(patterns[:k], degree), 1, patterns.shape[0]
    )
    return low


def _capacity_point(
    config: CapacityConfig, degree: int, correlation: float, separation: int, seed: int
) -> dict[str, Any]:
    capacities, available = [], []
    for trial in range(config.trials):
        data = separated_patterns(
            config.max_patterns,
            config.num_neurons,
            separation,
            correlation,
            seed=point_seed(seed, degree, separation, correlation, trial),
            max_candidates=config.max_candidates,
        )
        capacities.append(dataset_capacity(data, degree))
        available.append(data.shape[0])
    logs = [math.log2(max(c, 1)) for c in capacities]
    return {
        "degree": degree,
        "correlation": correlation,
        "separation": separation,
        "N": config.num_neurons,
        "log2_capacity": sum(logs) / len(logs),
        "log2_capacity_std": float(np.std(logs)),
        "capacity_min": min(capacities),
        "capacity_max": max(capacities),
        "patterns_available": min(available),
        "censored": any(c >= a for c, a in zip(capacities, available, strict=True)),
    }


def random_baseline(config: CapacityConfig, degree: int, seed: int) -> dict[str, Any]:
    """Exact-recall capacity on i.i.d. uniform patterns via :func:`capacity_search`."""
    result = capacity_search(
        lambda n, s: DenseAssociativeMemory(n, separation=Polynomial(degree), seed=s),
        config.num_neurons,
        max_error=0.0,
        criterion="exact_recall",
        trials=config.trials,
        seed=seed,
        k_max=config.max_patterns,
    )
    return {"degree": degree, "N": config.num_neurons, "capacity": result.capacity}


def run_capacity_study(
    config: CapacityConfig, *, seed: int = 0, progress: Progress = no_progress
) -> dict[str, Any]:
    """Every point of the grid (see the module docstring) plus the random baselines."""
    grid = [
        (degree, correlation, separation)
        for degree in config.degrees
        for correlation in config.correlations
        for separation in config.separations
    ]
    rows = [
        _capacity_point(config, degree, correlation, separation, seed)
        for degree, correlation, separation in progress(grid, desc="capacity grid")
    ]
    baselines = [random_baseline(config, degree, seed) for degree in config.degrees]
    return {"rows": rows, "baselines": baselines}


def _plot(rows: Sequence[dict[str, Any]]) -> Any:
    fig = new_figure((6.5, 4.2))
    ax = fig.subplots()
    curves: dict[tuple[int, float], list[dict[str, Any]]] = {}
    for row in rows:
        curves.setdefault((row["degree"], row["correlation"]), []).append(row)
    for (degree, correlation), points in sorted(curves.items()):
        xs = [p["separation"] for p in points]
        ys = [p["log2_capacity"] for p in points]
        errs = [p["log2_capacity_std"] for p in points]
        style = "-o" if degree == 2 else "--s"
        ax.errorbar(xs, ys, yerr=errs, fmt=style, capsize=2, label=f"n={degree}, ρ={correlation:g}")
        censored = [(p["separation"], p["log2_capacity"]) for p in points if p["censored"]]
        if censored:
            ax.plot(*zip(*censored, strict=True), "k^", markersize=8, fillstyle="none")
    ax.set_xlabel("minimum Hamming distance h (separation)")
    ax.set_ylabel("log₂ capacity (mean over data sets)")
    ax.set_title(f"polynomial Dense AM capacity, N={rows[0]['N']} (△: censored)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def study_result(results: dict[str, Any], config: CapacityConfig) -> StudyResult:
    """The tables and figure of :func:`run_capacity_study`'s results."""
    return StudyResult(
        tables=[
            Table(
                "capacity",
                "Capacity against separation h and feature correlation ρ",
                results["rows"],
            ),
            Table(
                "baselines",
                "Baseline: i.i.d. uniform patterns (capacity_search, exact recall)",
                results["baselines"],
            ),
        ],
        figures={"capacity.png": _plot(results["rows"])},
        metadata={"config": config.__dict__},
    )


def _compute(context: StudyContext) -> StudyResult:
    config = CapacityConfig.quick() if context.quick else CapacityConfig()
    results = run_capacity_study(config, seed=context.seed, progress=context.progress)
    return study_result(results, config)


STUDY = Study("capacity", "Polynomial Dense AM capacity against separation", _compute)
