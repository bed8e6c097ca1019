"""Higher-order Kuramoto Dense AM study: noise sweeps up and down, hysteresis, fixed points.

``hopfield study kuramoto [--quick] [--out DIR] [--seed S]`` runs
:class:`~hopfield.models.kuramoto.KuramotoMemory` (Nägerl & Berloff 2025; harmonic 2,
K = 2 Rademacher patterns) for couplings from pairwise-only (K₄ = 0) to
quartic-dominated (K₄ ≫ K₂):

1. **fixed points**: the largest |∂E/∂θ| at the stored patterns, each rotated by a random
   global phase (zero in exact arithmetic);
2. **quasi-static noise sweeps**: chains start at pattern 0; the temperature T goes up
   through a grid and then back down, each level continuing from the previous state;
   the retrieval order parameter max_μ |m_μ| is averaged over the second half of each
   level. The **hysteresis area** ∫ |r_up(T) − r_down(T)| dT (trapezoid) measures the
   loop: mean field predicts a continuous, reversible onset at T = K₂/2 for K₄ < K₂/2 and
   a discontinuous, hysteretic one beyond (the tricritical point of this normalisation).

Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``) with the curves in the JSON metadata,
and the figure ``kuramoto.png`` (up/down branches per coupling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

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
from hopfield.models.kuramoto import KuramotoMemory

__all__ = [
    "STUDY",
    "KuramotoConfig",
    "hysteresis_sweep",
    "run_kuramoto_study",
    "study_result",
]

F64 = torch.float64


@dataclass(frozen=True)
class KuramotoConfig:
    """N, K, couplings (K₂, K₄), the temperature grid, steps per level, chains, dt."""

    num_oscillators: int = 256
    num_patterns: int = 2
    couplings: tuple[tuple[float, float], ...] = ((1.0, 0.0), (1.0, 1.0), (0.2, 3.0))
    noise_min: float = 0.05
    noise_max: float = 1.0
    levels: int = 16
    steps_per_level: int = 400
    chains: int = 4
    dt: float = 0.02

    @classmethod
    def quick(cls) -> KuramotoConfig:
        return cls(num_oscillators=96, levels=10, steps_per_level=200, chains=2)


def hysteresis_sweep(
    config: KuramotoConfig, pairwise: float, quartic: float, *, seed: int = 0
) -> dict[str, Any]:
    """Up-then-down sweep of T for one coupling: grid ``(L,)``, branches ``(L,)`` (mean
    over chains) and the hysteresis area between them."""
    patterns = random_bipolar(
        config.num_patterns, config.num_oscillators, generator=torch.Generator().manual_seed(seed)
    )
    model = KuramotoMemory(
        config.num_oscillators, pairwise=pairwise, quartic=quartic, dt=config.dt, seed=seed
    )
    model.store(patterns)
    grid = torch.linspace(config.noise_min, config.noise_max, config.levels, dtype=F64)
    start = model.encode(patterns[:1].repeat(config.chains, 1))
    order, _ = model.sweep_noise(
        start, torch.cat([grid, grid.flip(0)]), steps_per_level=config.steps_per_level
    )
    branches = order.mean(dim=1)
    up, down = branches[: config.levels], branches[config.levels :].flip(0)
    gap = (up - down).abs()
    area = float(torch.trapezoid(gap, grid))
    return {
        "grid": grid,
        "up": up,
        "down": down,
        "area": area,
        "model": model,
        "patterns": patterns,
    }


def fixed_point_residual(model: KuramotoMemory, patterns: torch.Tensor, seed: int) -> float:
    """Largest |∂E/∂θ_j| over the stored patterns, each rotated by a random global phase."""
    shift = (
        2
        * math.pi
        * torch.rand(patterns.shape[0], 1, generator=torch.Generator().manual_seed(seed), dtype=F64)
    )
    return float(model.energy_grad(model.encode(patterns) + shift).abs().max())


def run_kuramoto_study(
    config: KuramotoConfig, *, seed: int = 0, progress: Progress = no_progress
) -> dict[str, Any]:
    """All rows and curves of the study (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, torch.Tensor]] = {}
    for pairwise, quartic in progress(config.couplings, desc="kuramoto couplings"):
        sweep = hysteresis_sweep(config, pairwise, quartic, seed=seed)
        label = f"K₂={pairwise:g}, K₄={quartic:g}"
        curves[label] = {key: sweep[key] for key in ("grid", "up", "down")}
        down_onset = _onset(sweep["grid"], sweep["down"])
        rows.append(
            {
                "K2": pairwise,
                "K4": quartic,
                "regime": "first order" if quartic > pairwise / 2 else "continuous",
                "N": config.num_oscillators,
                "K": config.num_patterns,
                "hysteresis_area": sweep["area"],
                "max_gap": float((sweep["up"] - sweep["down"]).abs().max()),
                "T_loss_up": _onset(sweep["grid"], sweep["up"]),
                "T_onset_down": down_onset,
                "max_grad_at_patterns": fixed_point_residual(
                    sweep["model"], sweep["patterns"], seed
                ),
            }
        )
    return {"rows": rows, "curves": curves}


def _onset(grid: torch.Tensor, branch: torch.Tensor, level: float = 0.5) -> float:
    """Largest T of the grid at which the order parameter is still ≥ ``level``."""
    above = (branch >= level).nonzero().squeeze(1)
    return float(grid[above.max()]) if above.numel() else float("nan")


def _plot(curves: dict[str, dict[str, torch.Tensor]]) -> Any:
    fig = new_figure((6.5, 4.2))
    ax = fig.subplots()
    for index, (label, curve) in enumerate(curves.items()):
        colour = f"C{index}"
        ax.plot(
            curve["grid"].numpy(), curve["up"].numpy(), "-o", color=colour, label=f"{label} (T up)"
        )
        ax.plot(
            curve["grid"].numpy(),
            curve["down"].numpy(),
            "--s",
            color=colour,
            fillstyle="none",
            label=f"{label} (T down)",
        )
    ax.set_xlabel("noise temperature T")
    ax.set_ylabel("retrieval order parameter max_μ |m_μ|")
    ax.set_title("higher-order Kuramoto AM: noise swept up then down")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def study_result(results: dict[str, Any], config: KuramotoConfig) -> StudyResult:
    """The table, figure and curves (in the metadata) of :func:`run_kuramoto_study`."""
    curves = {
        label: {key: value.tolist() for key, value in curve.items()}
        for label, curve in results["curves"].items()
    }
    return StudyResult(
        tables=[Table("kuramoto", "Hysteresis of noise sweeps", results["rows"])],
        figures={"kuramoto.png": _plot(results["curves"])},
        metadata={"config": config.__dict__, "curves": curves},
    )


def _compute(context: StudyContext) -> StudyResult:
    config = KuramotoConfig.quick() if context.quick else KuramotoConfig()
    results = run_kuramoto_study(config, seed=context.seed, progress=context.progress)
    return study_result(results, config)


STUDY = Study("kuramoto", "Kuramoto Dense AM: hysteresis of noise sweeps", _compute)
