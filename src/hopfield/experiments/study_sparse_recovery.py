"""Sparse-recovery associative memory study: recovery rate vs corruption, neural learning.

``hopfield study sparse-recovery [--quick] [--out DIR] [--seed S]`` reproduces the
setting of ``papers.md`` §1 for :class:`~hopfield.models.sparse_recovery.SparseRecoveryMemory`
(Mazumdar & Rawat 2015): n = 100, k = 40, stored set {A u : u ∈ {−1, 0, 1}^40}
(3^40 ≈ 1.2·10^19 vectors), B (60 × 100) learned from 300 samples by SVD.

1. ‖B x‖ on fresh stored vectors (SVD and neural learner);
2. exact-recovery rate (‖x̂ − x‖_∞ < 1e-6) of fresh vectors with s corrupted coordinates
   (values ±1…5) for the LP, ADMM and FISTA decoders, plus the self-reported
   ``decoded`` rate and the wall time per vector;
3. the anti-Hebbian learner's ‖B X‖ against the number of minibatch steps.

Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``), ``neural_learner.csv`` and the
figure ``sparse_recovery.png``.
"""

from __future__ import annotations

import time
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
from hopfield.models.sparse_recovery import (
    SparseRecoveryMemory,
    bounded_integer_dataset,
    sparse_corruption,
)

__all__ = [
    "STUDY",
    "neural_learning_curve",
    "recovery_table",
    "run_sparse_recovery_study",
    "study_result",
]


def recovery_table(
    memory: SparseRecoveryMemory,
    fresh: torch.Tensor,
    corruption_levels: tuple[int, ...],
    solvers: tuple[str, ...],
    seed: int,
    *,
    progress: Progress = no_progress,
) -> list[dict[str, Any]]:
    """Exact-recovery and self-reported decoding rates per (s, solver)."""
    rows = []
    for level in progress(corruption_levels, desc="sparse-recovery levels"):
        noisy, _ = sparse_corruption(fresh, level, seed=seed + level)
        for solver in solvers:
            start = time.perf_counter()
            result = memory.recall(noisy, solver=solver)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - start
            exact = (result.states - fresh).abs().amax(1) < 1e-6
            rows.append(
                {
                    "corrupted": level,
                    "solver": solver,
                    "exact_recovery": float(exact.double().mean()),
                    "decoded_flag": float(result.decoded.double().mean()),
                    "flag_agrees": float((result.decoded == exact).double().mean()),
                    "ms_per_vector": 1e3 * elapsed / fresh.shape[0],
                    "trials": int(fresh.shape[0]),
                }
            )
    return rows


def neural_learning_curve(
    data: torch.Tensor, fresh: torch.Tensor, num_constraints: int, steps: tuple[int, ...], seed: int
) -> list[dict[str, Any]]:
    """max ‖B x‖ on fresh vectors after each number of anti-Hebbian minibatch steps."""
    rows = []
    for count in steps:
        memory = SparseRecoveryMemory().fit(
            data, method="neural", num_constraints=num_constraints, steps=count, seed=seed
        )
        rows.append(
            {"steps": count, "max_norm_Bx": float(memory.syndrome(fresh).norm(dim=1).max())}
        )
    return rows


def run_sparse_recovery_study(
    *, quick: bool = False, seed: int = 0, progress: Progress = no_progress
) -> dict[str, Any]:
    """Compute every table of the study (see the module docstring)."""
    trials = 40 if quick else 200
    levels = (5, 10, 20, 25) if quick else (5, 10, 15, 20, 25, 30, 35)
    # ADMM at s ≥ 20 costs ~10x the LP per vector: the quick run keeps the LP only
    solvers = ("lp",) if quick else ("lp", "admm", "ista")
    data, basis = bounded_integer_dataset(300, 100, 40, seed=seed)
    fresh, _ = bounded_integer_dataset(trials, 100, 40, basis=basis, seed=seed + 1)
    memory = SparseRecoveryMemory().fit(data)
    steps = (10, 100, 300, 1000) if quick else (10, 30, 100, 300, 1000, 3000)
    return {
        "svd_max_norm_Bx": float(memory.syndrome(fresh).norm(dim=1).max()),
        "recovery": recovery_table(memory, fresh, levels, solvers, seed, progress=progress),
        "neural": neural_learning_curve(data, fresh, 60, steps, seed),
    }


def _plot(results: dict[str, Any]) -> Any:
    fig = new_figure((11, 4))
    left, right = fig.subplots(1, 2)
    rows = results["recovery"]
    for solver in dict.fromkeys(r["solver"] for r in rows):
        mine = [r for r in rows if r["solver"] == solver]
        left.plot(
            [r["corrupted"] for r in mine], [r["exact_recovery"] for r in mine], "o-", label=solver
        )
    left.set_xlabel("corrupted coordinates s (of n = 100)")
    left.set_ylabel("exact recovery rate")
    left.set_title("syndrome decoding, m = 60 constraints")
    left.legend()
    neural = results["neural"]
    right.loglog([r["steps"] for r in neural], [r["max_norm_Bx"] for r in neural], "o-")
    right.axhline(results["svd_max_norm_Bx"], color="grey", linestyle="--", label="SVD")
    right.set_xlabel("anti-Hebbian minibatch steps")
    right.set_ylabel("max ‖B x‖ on fresh stored vectors")
    right.set_title("neural constraint learning")
    right.legend()
    fig.tight_layout()
    return fig


def study_result(results: dict[str, Any]) -> StudyResult:
    """The tables and figure of :func:`run_sparse_recovery_study`'s results."""
    return StudyResult(
        tables=[
            Table("recovery", "Exact recovery vs corrupted coordinates", results["recovery"]),
            Table("neural_learner", "Neural (anti-Hebbian) learner", results["neural"]),
        ],
        figures={"sparse_recovery.png": _plot(results)},
        metadata={"svd_max_norm_Bx": results["svd_max_norm_Bx"]},
        notes=[f"SVD constraints: max ‖B x‖ on fresh vectors = {results['svd_max_norm_Bx']:.2e}"],
    )


def _compute(context: StudyContext) -> StudyResult:
    results = run_sparse_recovery_study(
        quick=context.quick, seed=context.seed, progress=context.progress
    )
    return study_result(results)


STUDY = Study("sparse-recovery", "Sparse-recovery associative memory", _compute)
