"""SEDAM study: overlap against noise and load, and the temporal complexity of the activity.

``hopfield study sedam [--quick] [--out DIR] [--seed S]`` runs
:class:`~hopfield.models.stochastic_dense.StochasticExponentialAM` (Cafiso, Paradisi et
al. 2026, arXiv 2601.11478; salt-and-pepper noise of intensity p, β = 1) on N = 64
Rademacher patterns for loads K ∈ {2, 10, 50}:

1. **Q(p)**: chains cued with pattern 0 run for T sweeps; the time-averaged overlap
   Q = ⟨m₀(t)⟩ (after a burn-in of T/5 sweeps), mean and spread over chains. Expected
   (papers.md §11, [R]): Q ≈ 1 − 2p at low load up to p ≈ 0.2 and a collapse by
   p ≈ 0.25, earlier for K = 50. The critical p_c is reported as the smallest p of the
   grid with Q < (1 − 2p)/2.
2. **temporal complexity** per (K, p): the DFA exponent ("H") of the activity
   a(t) = (1/N)Σσ_i(t) and of the overlap m₀(t); rapid transition events of m₀(t)
   (95th percentile of |Δm₀|), their count, and maximum-likelihood power-law and
   exponential fits of the inter-event times (exponent μ, rate λ, KS distances).

Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``), ``critical.csv`` and the figure
``sedam.png`` (Q(p) per K; DFA H(p) per K).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hopfield.analysis.temporal import (
    detect_events,
    dfa,
    fit_exponential,
    fit_power_law,
    inter_event_times,
)
from hopfield.data.generators import random_bipolar
from hopfield.experiments.report import new_figure
from hopfield.experiments.runner import (
    Progress,
    Study,
    StudyContext,
    StudyResult,
    Table,
    no_progress,
)
from hopfield.models.stochastic_dense import StochasticExponentialAM, time_averaged_overlap

__all__ = [
    "STUDY",
    "SEDAMConfig",
    "overlap_curve",
    "run_sedam_study",
    "study_result",
    "temporal_summary",
]


@dataclass(frozen=True)
class SEDAMConfig:
    """N, loads K, flip probabilities p, chains per point, sweeps per chain, β."""

    num_neurons: int = 64
    loads: tuple[int, ...] = (2, 10, 50)
    noise_levels: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35)
    chains: int = 4
    sweeps: int = 2000
    beta: float = 1.0

    @classmethod
    def quick(cls) -> SEDAMConfig:
        return cls(noise_levels=(0.05, 0.15, 0.25), chains=2, sweeps=300)


def overlap_curve(
    num_neurons: int,
    num_patterns: int,
    noise_levels: tuple[float, ...],
    *,
    chains: int,
    sweeps: int,
    beta: float = 1.0,
    seed: int = 0,
) -> tuple[torch.Tensor, Any]:
    """Q for every p (``(P, chains)``) and the trajectory of one batched run in which all
    chains start at pattern 0 of K seeded Rademacher patterns."""
    patterns = random_bipolar(
        num_patterns, num_neurons, generator=torch.Generator().manual_seed(seed)
    )
    model = StochasticExponentialAM(num_neurons, beta=beta, seed=seed)
    model.store(patterns)
    levels = torch.tensor(noise_levels, dtype=torch.float64).repeat_interleave(chains)
    trajectory = model.simulate(patterns[:1].repeat(levels.shape[0], 1), sweeps, intensity=levels)
    q = time_averaged_overlap(trajectory, 0, burn_in=sweeps // 5)
    return q.reshape(len(noise_levels), chains), trajectory


def temporal_summary(activity: torch.Tensor, overlap: torch.Tensor) -> dict[str, float]:
    """DFA exponents of one chain's activity and overlap signals ``(T,)``, and the
    events / inter-event-time fits of the overlap."""
    summary: dict[str, float] = {
        "H_activity": float(dfa(activity).hurst),
        "H_overlap": float(dfa(overlap).hurst),
    }
    events = detect_events(overlap, percentile=95.0)
    waits = inter_event_times(events).to(torch.float64)
    summary["events"] = float(events.shape[0])
    if waits.shape[0] >= 10 and bool((waits > waits.min()).any()):
        power, expo = fit_power_law(waits, discrete=True), fit_exponential(waits, discrete=True)
        summary.update(
            iet_power_mu=power.exponent,
            iet_power_ks=power.ks,
            iet_exp_rate=expo.rate,
            iet_exp_ks=expo.ks,
        )
    else:
        nan = float("nan")
        summary.update(iet_power_mu=nan, iet_power_ks=nan, iet_exp_rate=nan, iet_exp_ks=nan)
    return summary


def run_sedam_study(
    config: SEDAMConfig, *, seed: int = 0, progress: Progress = no_progress
) -> dict[str, Any]:
    """All rows of the study (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    critical: list[dict[str, Any]] = []
    for load in progress(config.loads, desc="sedam loads"):
        q, trajectory = overlap_curve(
            config.num_neurons,
            load,
            config.noise_levels,
            chains=config.chains,
            sweeps=config.sweeps,
            beta=config.beta,
            seed=seed + load,
        )
        burn = config.sweeps // 5 + 1
        p_c = float("nan")
        for index, p in enumerate(config.noise_levels):
            chain = index * config.chains  # first chain of this p
            row: dict[str, Any] = {
                "K": load,
                "p": p,
                "Q_mean": float(q[index].mean()),
                "Q_std": float(q[index].std()) if config.chains > 1 else 0.0,
                "one_minus_2p": 1 - 2 * p,
                "N": config.num_neurons,
            }
            row.update(
                temporal_summary(
                    trajectory.activity[burn:, chain], trajectory.overlaps[burn:, chain, 0]
                )
            )
            rows.append(row)
            if p_c != p_c and row["Q_mean"] < (1 - 2 * p) / 2:
                p_c = p
        critical.append({"K": load, "p_c": p_c})
    return {"rows": rows, "critical": critical}


def _plot(rows: list[dict[str, Any]]) -> Any:
    fig = new_figure((11, 4))
    left, right = fig.subplots(1, 2)
    loads = sorted({row["K"] for row in rows})
    for load in loads:
        points = [row for row in rows if row["K"] == load]
        ps = [row["p"] for row in points]
        left.errorbar(
            ps,
            [r["Q_mean"] for r in points],
            yerr=[r["Q_std"] for r in points],
            fmt="-o",
            capsize=2,
            label=f"K={load}",
        )
        right.plot(ps, [r["H_activity"] for r in points], "-o", label=f"K={load}")
    grid = sorted({row["p"] for row in rows})
    left.plot(grid, [1 - 2 * p for p in grid], "k:", label="1 − 2p")
    left.set_xlabel("flip probability p")
    left.set_ylabel("time-averaged overlap Q")
    left.set_title(f"SEDAM, N={rows[0].get('N', 64)}: overlap vs noise and load")
    left.legend(fontsize=8)
    right.axhline(0.5, color="grey", linewidth=0.8)
    right.axhline(1.5, color="grey", linewidth=0.8)
    right.set_xlabel("flip probability p")
    right.set_ylabel("DFA exponent H of the activity")
    right.set_title("temporal complexity (0.5: white noise, 1.5: Brownian)")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def study_result(results: dict[str, Any], config: SEDAMConfig) -> StudyResult:
    """The tables and figure of :func:`run_sedam_study`'s results."""
    return StudyResult(
        tables=[
            Table(
                "sedam",
                "SEDAM: time-averaged overlap Q and temporal complexity",
                results["rows"],
            ),
            Table(
                "critical",
                "Critical noise p_c (smallest p with Q < (1 − 2p)/2)",
                results["critical"],
            ),
        ],
        figures={"sedam.png": _plot(results["rows"])},
        metadata={"config": config.__dict__},
    )


def _compute(context: StudyContext) -> StudyResult:
    config = SEDAMConfig.quick() if context.quick else SEDAMConfig()
    results = run_sedam_study(config, seed=context.seed, progress=context.progress)
    return study_result(results, config)


STUDY = Study("sedam", "SEDAM: overlap and temporal complexity", _compute)
