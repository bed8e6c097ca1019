"""Spherical-codes study: Tammes optima and learned feature maps for kernelized Hopfield.

``hopfield study spherical [--quick] [--out DIR] [--seed S]`` (Hu, Wu & Liu 2024,
"Transformer-Compatible Dense Associative Memories as Spherical Codes"):

1. **Tammes**: :func:`~hopfield.models.kernelized.optimize_spherical_code` for M points on
   S² against the known optimal minimum angles (4: 109.47°, 5 and 6: 90°, 8: 74.86°,
   12: 63.43°);
2. **feature maps**: K = 32 correlated unit patterns in d = 16 (ξ_μ ∝ a·c + z_μ with a
   shared direction c and z_μ ~ N(0, I/d); larger a = stronger correlation), stored in
   :class:`~hopfield.models.kernelized.KernelizedHopfield` at β = 16 with identity features
   and with features fitted by the uniformity and worst-pair losses (D_Φ = 16, 300 Adam
   steps, mean feature norm kept). A pattern counts as recalled when k-CCCP started at the
   pattern ends nearest to it and within 10 % of its norm (not in a metastable mixture).

Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``) with the Tammes table as ``results.csv``,
``feature_map_recall.csv`` and the figure ``spherical.png``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from hopfield.experiments.report import new_figure
from hopfield.experiments.runner import (
    Progress,
    Study,
    StudyContext,
    StudyResult,
    Table,
    no_progress,
)
from hopfield.models.kernelized import (
    KernelizedHopfield,
    min_pairwise_angle,
    optimize_spherical_code,
)

__all__ = [
    "STUDY",
    "TAMMES_OPTIMA",
    "correlated_unit_patterns",
    "count_recalled",
    "feature_map_table",
    "run_spherical_study",
    "study_result",
    "tammes_table",
]

TAMMES_OPTIMA: dict[int, float] = {
    4: math.degrees(math.acos(-1 / 3)),
    5: 90.0,
    6: 90.0,
    8: 74.8585,
    12: math.degrees(math.atan(2.0)),
}
"""Optimal minimum angles (degrees) of M points on S² (Tammes problem)."""


def correlated_unit_patterns(count: int, dim: int, shared: float, seed: int) -> torch.Tensor:
    """Unit patterns ``ξ_μ ∝ shared·c + z_μ`` (c a random unit vector, z_μ ~ N(0, I/d))."""
    generator = torch.Generator().manual_seed(seed)
    common = torch.randn(dim, generator=generator, dtype=torch.float64)
    noise = torch.randn(count, dim, generator=generator, dtype=torch.float64) / math.sqrt(dim)
    patterns = shared * common / common.norm() + noise
    return patterns / patterns.norm(dim=1, keepdim=True)


def count_recalled(memory: KernelizedHopfield, patterns: torch.Tensor, steps: int = 100) -> int:
    """Patterns whose k-CCCP fixed point from the pattern is nearest to it (within 10 %)."""
    final = memory.recall(patterns, steps=steps).states
    distances = torch.cdist(final, patterns)
    nearest = distances.argmin(1) == torch.arange(patterns.shape[0])
    close = distances.diagonal() < 0.1 * patterns.norm(dim=1)
    return int((nearest & close).sum())


def tammes_table(
    counts: tuple[int, ...],
    steps: int,
    restarts: int,
    seed: int,
    *,
    progress: Progress = no_progress,
) -> list[dict[str, Any]]:
    """Achieved vs optimal minimum angle for each M on S²."""
    rows = []
    for count in progress(counts, desc="tammes"):
        _, angle = optimize_spherical_code(count, 3, steps=steps, seed=seed, restarts=restarts)
        optimum = TAMMES_OPTIMA[count]
        rows.append(
            {
                "points": count,
                "min_angle_deg": angle,
                "optimum_deg": optimum,
                "gap_deg": optimum - angle,
            }
        )
    return rows


def feature_map_table(
    shared_levels: tuple[float, ...],
    normalizers: tuple[str, ...],
    *,
    count: int = 32,
    dim: int = 16,
    beta: float = 16.0,
    fit_steps: int = 300,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Recalled patterns (of ``count``) per correlation level, normalizer and feature map."""
    rows = []
    for shared in shared_levels:
        patterns = correlated_unit_patterns(count, dim, shared, seed)
        for normalizer in normalizers:
            for features in ("identity", "uniformity", "worst_pair"):
                memory = KernelizedHopfield(dim, beta=beta, normalizer=normalizer)  # type: ignore[arg-type]
                if features != "identity":
                    memory.fit_feature_map(patterns, loss=features, steps=fit_steps, seed=seed)  # type: ignore[arg-type]
                memory.store(patterns)
                rows.append(
                    {
                        "shared": shared,
                        "pattern_min_angle_deg": min_pairwise_angle(patterns),
                        "normalizer": normalizer,
                        "features": features,
                        "feature_min_angle_deg": memory.feature_separation(),
                        "recalled": count_recalled(memory, patterns),
                        "patterns": count,
                        "beta": beta,
                    }
                )
    return rows


def run_spherical_study(
    *, quick: bool = False, seed: int = 0, progress: Progress = no_progress
) -> dict[str, Any]:
    """Compute every table of the study (see the module docstring)."""
    if quick:
        tammes = tammes_table((4, 6, 12), steps=600, restarts=2, seed=seed, progress=progress)
        recall = feature_map_table((2.0,), ("softmax",), seed=seed)
    else:
        tammes = tammes_table(
            (4, 5, 6, 8, 12), steps=1500, restarts=4, seed=seed, progress=progress
        )
        recall = feature_map_table((0.5, 1.0, 2.0, 3.0), ("softmax", "entmax15"), seed=seed)
    return {"tammes": tammes, "recall": recall}


def _plot(results: dict[str, Any]) -> Any:
    fig = new_figure((11, 4))
    left, right = fig.subplots(1, 2)
    tammes = results["tammes"]
    points = [r["points"] for r in tammes]
    left.plot(points, [r["optimum_deg"] for r in tammes], "s", mfc="none", ms=10, label="optimum")
    left.plot(points, [r["min_angle_deg"] for r in tammes], "o", label="optimised")
    left.set_xlabel("points M on S²")
    left.set_ylabel("minimum pairwise angle (°)")
    left.set_title("Tammes problem")
    left.legend()
    rows = results["recall"]
    for normalizer in dict.fromkeys(r["normalizer"] for r in rows):
        for features, marker in (("identity", "o"), ("uniformity", "s"), ("worst_pair", "^")):
            mine = [r for r in rows if r["normalizer"] == normalizer and r["features"] == features]
            style = "-" if normalizer == "softmax" else "--"
            right.plot(
                [r["shared"] for r in mine],
                [r["recalled"] for r in mine],
                marker + style,
                label=f"{features}, {normalizer}",
            )
    right.set_xlabel("shared component a (pattern correlation)")
    right.set_ylabel(f"patterns recalled (of {rows[0]['patterns']})")
    right.set_title(f"kernelized Hopfield, β = {rows[0]['beta']:g}")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def study_result(results: dict[str, Any]) -> StudyResult:
    """The tables and figure of :func:`run_spherical_study`'s results."""
    return StudyResult(
        tables=[
            Table("tammes", "Tammes problem on S²", results["tammes"], digits=4),
            Table(
                "feature_map_recall",
                "Recall with identity vs learned feature maps",
                results["recall"],
                digits=1,
            ),
        ],
        figures={"spherical.png": _plot(results)},
    )


def _compute(context: StudyContext) -> StudyResult:
    results = run_spherical_study(quick=context.quick, seed=context.seed, progress=context.progress)
    return study_result(results)


STUDY = Study("spherical", "Spherical memories: Tammes problem and feature maps", _compute)
