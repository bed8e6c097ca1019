"""Diffusion as associative memory: memorisation → spurious states → generalisation on a circle.

``hopfield study diffusion [--quick] [--out DIR] [--seed S]`` trains a VE-SDE score
network (:func:`~hopfield.tasks.diffusion.train_score_network`) on K ∈ {2, 9, 1000}
evenly spaced points of the unit circle, draws samples with the reverse-time
Euler–Maruyama sampler, and compares them with the samples of the exact score
``−β_t ∇E_{β_t}`` of the training set (the modern Hopfield "ideal denoiser", which
memorises by construction). Per K and sampler it reports

* ``within_0.05``: fraction of samples within 0.05 of a training point (memorisation);
* ``median_nearest``: median distance to the nearest training point;
* ``on_circle``: fraction with ``|R − 1| < 0.1``; ``empty_bins``: empty bins of a
  36-bin angular histogram (coverage);
* ``clusters``: number of distinct sample clusters (single linkage, cut at 0.1);
* for the network, the probability-flow ODE log-likelihood of the training points and
  of fresh circle points (the memorisation gap).

Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``) and the figure ``diffusion_samples.png``.
"""

from __future__ import annotations

import argparse
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
from hopfield.tasks.diffusion import (
    VESDE,
    EmpiricalScore,
    ScoreFn,
    circle_points,
    ode_log_likelihood,
    sample_euler_maruyama,
    train_score_network,
)

__all__ = [
    "STUDY",
    "count_clusters",
    "run_diffusion_study",
    "sample_statistics",
]

COUNTS = (2, 9, 1000)


def count_clusters(samples: torch.Tensor, threshold: float = 0.1) -> int:
    """Number of single-linkage clusters of ``samples`` ``(N, D)`` cut at ``threshold``."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if samples.shape[0] < 2:
        return int(samples.shape[0])
    tree = linkage(samples.detach().double().numpy(), method="single")
    return int(fcluster(tree, t=threshold, criterion="distance").max())


def sample_statistics(samples: torch.Tensor, data: torch.Tensor) -> dict[str, float]:
    """Memorisation and coverage statistics of 2-D ``samples`` against ``data``."""
    nearest = torch.cdist(samples.double(), data.double()).amin(dim=1)
    radius = samples.double().norm(dim=1)
    angles = torch.atan2(samples[:, 1], samples[:, 0]).double()
    histogram = torch.histc(angles, bins=36, min=-math.pi, max=math.pi)
    return {
        "within_0.05": float((nearest < 0.05).double().mean()),
        "median_nearest": float(nearest.median()),
        "on_circle": float(((radius - 1).abs() < 0.1).double().mean()),
        "empty_bins": int((histogram == 0).sum()),
        "clusters": count_clusters(samples),
    }


def _likelihoods(score: ScoreFn, sde: VESDE, data: torch.Tensor, seed: int) -> dict[str, float]:
    train = data[:200].double()
    fresh = circle_points(200, seed=seed + 7, dtype=torch.float64)
    return {
        "loglik_train": float(ode_log_likelihood(score, sde, train, steps=60).mean()),
        "loglik_circle": float(ode_log_likelihood(score, sde, fresh, steps=60).mean()),
    }


def run_diffusion_study(
    *, quick: bool = False, seed: int = 0, progress: Progress = no_progress
) -> dict[str, Any]:
    """Train, sample and measure for each K (see the module docstring)."""
    sde = VESDE(0.01, 3.0)
    steps, samples = (400, 300) if quick else (1500, 1000)
    rows: list[dict[str, Any]] = []
    drawn: dict[str, torch.Tensor] = {}
    for count in progress(COUNTS, desc="diffusion K"):
        data = circle_points(count, seed=seed)
        trained = train_score_network(data, sde, steps=steps, batch_size=256, hidden=128, seed=seed)
        net = trained.model.double()

        def net_score(x: torch.Tensor, t: float, model: Any = net) -> torch.Tensor:
            return model(x, t)

        for name, score in (("network", net_score), ("exact", EmpiricalScore(data.double(), sde))):
            points = sample_euler_maruyama(
                score, sde, samples, 2, steps=300, seed=seed + 1, dtype=torch.float64
            )
            row: dict[str, Any] = {"K": count, "score": name, **sample_statistics(points, data)}
            if name == "network":
                row["train_seconds"] = trained.seconds
                if not quick:
                    row.update(_likelihoods(net_score, sde, data, seed))
            rows.append(row)
            drawn[f"K={count}, {name}"] = points
    return {"rows": rows, "samples": drawn, "steps": steps}


def _plot(results: dict[str, Any]) -> Any:
    fig = new_figure((4 * len(COUNTS), 8))
    axes = fig.subplots(2, len(COUNTS))
    for column, count in enumerate(COUNTS):
        data = circle_points(count, seed=0)
        for row, name in enumerate(("network", "exact")):
            ax = axes[row, column]
            points = results["samples"][f"K={count}, {name}"]
            if count <= 50:
                ax.scatter(
                    data[:, 0],
                    data[:, 1],
                    s=90,
                    facecolors="none",
                    edgecolors="red",
                    label="training",
                )
            ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, label="samples", zorder=3)
            ax.set_title(f"K={count}, {name} score")
            ax.set_aspect("equal")
            ax.set_xlim(-1.6, 1.6)
            ax.set_ylim(-1.6, 1.6)
    axes[0, 0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    return fig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--protocol tutorial``: the tutorial's training budget and sample classes."""
    parser.add_argument(
        "--protocol",
        choices=("default", "tutorial"),
        default="default",
        help="tutorial: 50k DSM steps, lr 1e-4, EMA 0.9999, σ=1, 1500 EM samples over 1000 steps",
    )


def _compute_tutorial(context: StudyContext) -> StudyResult:
    from hopfield.experiments.diffusion_regimes import (
        QUICK_PROTOCOL,
        plot_protocol,
        run_protocol,
        verdict,
    )
    from hopfield.tasks.diffusion_protocol import TUTORIAL_PROTOCOL

    protocol = QUICK_PROTOCOL if context.quick else TUTORIAL_PROTOCOL
    results = run_protocol(protocol, seed=context.seed, progress=context.progress)
    return StudyResult(
        tables=[Table("diffusion_tutorial", "Fractions of samples per class", results["rows"])],
        figures={"diffusion_tutorial_samples.png": plot_protocol(results)},
        metadata={"protocol": "tutorial", **{k: v for k, v in vars(protocol).items()}},
        notes=[verdict(results["rows"])],
    )


def _compute(context: StudyContext) -> StudyResult:
    if getattr(context.args, "protocol", "default") == "tutorial":
        return _compute_tutorial(context)
    results = run_diffusion_study(quick=context.quick, seed=context.seed, progress=context.progress)
    return StudyResult(
        tables=[Table("diffusion", "Samples of the network and the exact score", results["rows"])],
        figures={"diffusion_samples.png": _plot(results)},
        metadata={"sde": "VE, sigma 0.01..3", "train_steps": results["steps"]},
    )


STUDY = Study("diffusion", "Diffusion models as associative memories", _compute, add_arguments)
