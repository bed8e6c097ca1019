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

Writes ``bw_retrieval.png``, ``bw_oracle.csv``, ``bw_retrieval.csv``, ``bw.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from hopfield.models.bures_wasserstein import (
    BuresWassersteinMemory,
    commuting_gaussians_on_sphere,
    wasserstein2_squared,
)
from hopfield.report import metrics_markdown, write_metrics_csv, write_metrics_json

__all__ = [
    "commuting_oracle_error",
    "perturbed_gaussians",
    "random_spd_gaussians",
    "retrieval_trace",
    "run",
    "run_bw_study",
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
    memory = BuresWassersteinMemory(beta=beta).store(means, cov)
    generator = torch.Generator().manual_seed(seed + 1)
    q_mu = means[:8] + 0.5 * torch.randn(min(8, count), dim, generator=generator, dtype=F64)
    q_eigs = 1 + 0.3 * torch.rand(q_mu.shape[0], dim, generator=generator, dtype=F64)
    q_cov = (basis * q_eigs[:, None, :]) @ basis.T
    new_mu, new_cov = memory.step(q_mu, q_cov)
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
    memory = BuresWassersteinMemory(beta=beta).store(means, cov)
    q_mu, q_cov = perturbed_gaussians(means, cov, seed)
    rows = [wasserstein2_squared(q_mu, q_cov, means, cov).diagonal()]
    for _ in range(steps):
        q_mu, q_cov = memory.step(q_mu, q_cov)
        rows.append(wasserstein2_squared(q_mu, q_cov, means, cov).diagonal())
    separation = wasserstein2_squared(means, cov, means, cov).fill_diagonal_(torch.inf).amin(1)
    return torch.stack(rows), separation


def run_bw_study(*, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Compute every table of the study (see the module docstring)."""
    dim, count = (6, 20) if quick else (10, 50)
    betas = (1.0, 4.0) if quick else (0.5, 1.0, 2.0, 4.0)
    steps = 5 if quick else 10
    oracle = [commuting_oracle_error(count, dim, beta, seed) for beta in betas]
    retrieval: list[dict[str, Any]] = []
    traces: dict[str, torch.Tensor] = {}
    scatter: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for kind in ("commuting", "non-commuting"):
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


def _plot(path: Path, results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_bw_outputs(out: Path, results: dict[str, Any], seed: int) -> str:
    """Write figure, CSV and JSON files under ``out``; return the markdown summary."""
    out.mkdir(parents=True, exist_ok=True)
    _plot(out / "bw_retrieval.png", results)
    write_metrics_csv(out / "bw_oracle.csv", results["oracle"])
    write_metrics_csv(out / "bw_retrieval.csv", results["retrieval"])
    write_metrics_json(
        out / "bw.json",
        results["retrieval"],
        metadata={"seed": seed, "oracle": results["oracle"]},
    )
    return (
        "## Commuting-case oracle (BW step vs distance-softmax Hopfield on [μ, √eig Σ])\n\n"
        + metrics_markdown(results["oracle"], digits=3)
        + "\n\n## Retrieval: W₂² to the stored Gaussian\n\n"
        + metrics_markdown(results["retrieval"], digits=3)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options besides ``--quick``, ``--out`` and ``--seed``."""


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hopfield study bw``."""
    results = run_bw_study(quick=bool(args.quick), seed=int(args.seed))
    print(write_bw_outputs(Path(args.out), results, int(args.seed)))
    print(f"\nwrote {args.out}/bw_retrieval.png, bw_oracle.csv, bw_retrieval.csv, bw.json")
    return 0
