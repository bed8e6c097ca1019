"""Bures–Wasserstein Dense AM study: commuting-case oracle, retrieval from perturbations.

``hopfield study bw [--quick] [--out DIR] [--seed S]`` runs
:class:`~hopfield.models.bures_wasserstein.BuresWassersteinMemory` (Tankala &
Balasubramanian 2025) on K Gaussians with commuting covariances on the W₂-sphere of
radius √(2d) (eigenvalues in [1, 1.1]; d = 10, K = 50, the paper code's setting):

1. **oracle**: the largest deviation of one BW step from the modern Hopfield
   distance-softmax step on ``[μ, √eig Σ]`` for several β (exact in theory);
2. **retrieval**: W₂² to the stored Gaussian over the iterations from queries at
   W₂² ≈ 0.95 (mean moved by 0.9, covariance sheared by I + 0.05 G, not commuting),
   median / max over patterns and the fraction below 1e-4 after five steps, per β;
   the same with non-commuting random SPD stored covariances;
3. the final W₂² against each pattern's separation (W₂² to its nearest other pattern).

Writes the runner's standard files (``results.*`` = retrieval table, ``summary.md``,
``index.html``), ``bw_oracle.csv`` and the figure ``bw_retrieval.png``.
"""

from __future__ import annotations

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
from hopfield.models.bures_wasserstein import (
    BuresWassersteinMemory,
    commuting_gaussians_on_sphere,
    wasserstein2_squared,
)

__all__ = [
    "STUDY",
    "commuting_oracle_error",
    "perturbed_gaussians",
    "random_spd_gaussians",
    "retrieval_trace",
    "run_bw_study",
    "study_result",
]

F64 = torch.float64


def perturbed_gaussians(
    means: torch.Tensor, covariances: torch.Tensor, seed: int, mean_shift: float = 0.9
) -> tuple[torch.Tensor, torch.Tensor]:
    """Queries N(μ_i + 0.9 u, P Σ_i Pᵀ), u a random unit vector, P = I + 0.05 G."""
    generator = torch.Generator().manual_seed(seed)
    count, dim = means.shape
    noise = torch.randn(count, dim, generator=generator, dtype=F64)
    query_means = means + mean_shift * noise / noise.norm(dim=1, keepdim=True)
    shear = torch.eye(dim, dtype=F64) + 0.05 * torch.randn(
        count, dim, dim, generator=generator, dtype=F64
    )
    return query_means, shear @ covariances @ shear.transpose(1, 2)


def random_spd_gaussians(count: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-commuting Gaussians on the same W₂-sphere: Σ = Q diag(λ) Qᵀ with a random Q per
    pattern, λ ∈ [1, 1.1], ‖μ‖² = 2d − tr Σ."""
    generator = torch.Generator().manual_seed(seed)
    rotations, _ = torch.linalg.qr(torch.randn(count, dim, dim, generator=generator, dtype=F64))
    eigenvalues = 1 + 0.1 * torch.rand(count, dim, generator=generator, dtype=F64)
    covariances = (rotations * eigenvalues[:, None, :]) @ rotations.transpose(1, 2)
    covariances = 0.5 * (covariances + covariances.transpose(1, 2))
    directions = torch.randn(count, dim, generator=generator, dtype=F64)
    norms = (2 * dim - eigenvalues.sum(1)).sqrt()
    return directions / directions.norm(dim=1, keepdim=True) * norms[:, None], covariances


def commuting_oracle_error(count: int, dim: int, beta: float, seed: int) -> dict[str, float]:
    """Max |BW step − distance-softmax step on [μ, √eig]| over a batch of commuting queries."""
    means, cov, basis = commuting_gaussians_on_sphere(count, dim, seed=seed)
    memory = BuresWassersteinMemory(beta=beta)
    memory.store(means, covariances=cov)
    generator = torch.Generator().manual_seed(seed + 1)
    q_mu = means[:8] + 0.5 * torch.randn(min(8, count), dim, generator=generator, dtype=F64)
    q_eigs = 1 + 0.3 * torch.rand(q_mu.shape[0], dim, generator=generator, dtype=F64)
    q_cov = (basis * q_eigs[:, None, :]) @ basis.T
    new_mu, new_cov = memory.step(q_mu, covariances=q_cov)
    vectors = torch.cat([means, torch.einsum("ji,kjl,li->ki", basis, cov, basis).sqrt()], 1)
    query = torch.cat([q_mu, q_eigs.sqrt()], 1)
    weights = torch.softmax(-beta * torch.cdist(query, vectors).square(), dim=1)
    expected = weights @ vectors
    new_roots = torch.einsum("ji,bjl,li->bi", basis, new_cov, basis).sqrt()
    return {
        "beta": beta,
        "max_mean_error": float((new_mu - expected[:, :dim]).abs().max()),
        "max_sqrt_eig_error": float((new_roots - expected[:, dim:]).abs().max()),
    }


def retrieval_trace(
    means: torch.Tensor, cov: torch.Tensor, beta: float, steps: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """W₂² to the target ``(steps + 1, K)`` over iterations, and each pattern's separation."""
    memory = BuresWassersteinMemory(beta=beta)
    memory.store(means, covariances=cov)
    q_mu, q_cov = perturbed_gaussians(means, cov, seed)
    rows = [wasserstein2_squared(q_mu, q_cov, means, cov).diagonal()]
    for _ in range(steps):
        q_mu, q_cov = memory.step(q_mu, covariances=q_cov)
        rows.append(wasserstein2_squared(q_mu, q_cov, means, cov).diagonal())
    separation = wasserstein2_squared(means, cov, means, cov).fill_diagonal_(torch.inf).amin(1)
    return torch.stack(rows), separation


def run_bw_study(
    *, quick: bool = False, seed: int = 0, progress: Progress = no_progress
) -> dict[str, Any]:
    """Compute every table of the study (see the module docstring)."""
    dim, count = (6, 20) if quick else (10, 50)
    betas = (1.0, 4.0) if quick else (0.5, 1.0, 2.0, 4.0)
    steps = 5 if quick else 10
    oracle = [commuting_oracle_error(count, dim, beta, seed) for beta in betas]
    retrieval: list[dict[str, Any]] = []
    traces: dict[str, torch.Tensor] = {}
    scatter: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for kind in progress(("commuting", "non-commuting"), desc="bw covariances"):
        if kind == "commuting":
            means, cov, _ = commuting_gaussians_on_sphere(count, dim, seed=seed)
        else:
            means, cov = random_spd_gaussians(count, dim, seed)
        for beta in betas:
            trace, separation = retrieval_trace(means, cov, beta, steps, seed + 100)
            after5 = trace[min(5, steps)]
            retrieval.append(
                {
                    "covariances": kind,
                    "beta": beta,
                    "d": dim,
                    "K": count,
                    "W2sq_start_median": float(trace[0].median()),
                    "W2sq_5_median": float(after5.median()),
                    "W2sq_5_max": float(after5.max()),
                    "fraction_below_1e-4": float((after5 < 1e-4).double().mean()),
                    "W2sq_final_median": float(trace[-1].median()),
                }
            )
            traces[f"{kind}, β={beta:g}"] = trace
            scatter[f"{kind}, β={beta:g}"] = (separation, trace[-1])
    return {"oracle": oracle, "retrieval": retrieval, "traces": traces, "scatter": scatter}


def _plot(results: dict[str, Any]) -> Any:
    fig = new_figure((11, 4))
    left, right = fig.subplots(1, 2)
    floor = 1e-16
    for name, trace in results["traces"].items():
        style = "-" if name.startswith("commuting") else "--"
        left.semilogy(trace.median(1).values.clamp_min(floor).numpy(), style, label=name)
    left.axhline(1e-4, color="grey", linewidth=0.8)
    left.set_xlabel("iteration")
    left.set_ylabel("median W₂² to stored Gaussian")
    left.set_title("BW retrieval from perturbed queries")
    left.legend(fontsize=7)
    for name, (separation, final) in results["scatter"].items():
        right.loglog(separation.numpy(), final.clamp_min(floor).numpy(), ".", label=name)
    right.set_xlabel("separation: W₂² to nearest other pattern")
    right.set_ylabel("final W₂² to stored Gaussian")
    right.set_title("retrieval bias vs separation")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def study_result(results: dict[str, Any]) -> StudyResult:
    """The tables and figure of :func:`run_bw_study`'s results."""
    return StudyResult(
        tables=[
            Table("retrieval", "Retrieval: W₂² to the stored Gaussian", results["retrieval"]),
            Table(
                "bw_oracle",
                "Commuting-case oracle (BW step vs distance-softmax Hopfield on [μ, √eig Σ])",
                results["oracle"],
            ),
        ],
        figures={"bw_retrieval.png": _plot(results)},
    )


def _compute(context: StudyContext) -> StudyResult:
    return study_result(
        run_bw_study(quick=context.quick, seed=context.seed, progress=context.progress)
    )


STUDY = Study("bw", "Bures–Wasserstein memory of Gaussians", _compute)
