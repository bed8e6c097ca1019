"""CAMformer study: recall of the hierarchical top-k and the error of binary attention.

``hopfield study camformer [--quick] [--out DIR] [--seed S]`` (Molom-Ochir et al. 2025,
"CAMformer: Associative Memory is All You Need", arXiv 2511.19740).

1. **Top-k recall**: the fraction of the exact top-``k₂`` of ``n = 1024`` distinct random
   scores kept by :func:`~hopfield.nn.binary_attention.hierarchical_topk` (tiles of ``T``
   keys, top-``k₁ = 2`` per tile), by Monte Carlo and by the hypergeometric model: the
   top-``k₂`` positions are a uniform ``k₂``-subset, a tile holds ``X`` of them with
   ``P(X = x) = C(k₂, x) C(n − k₂, T − x) / C(n, T)`` and loses ``max(0, X − k₁)``, so
   ``recall = 1 − (n/T) E[max(0, X − k₁)] / k₂``.
2. **Attention error** vs dense softmax attention (``d = 64``, ``n = 1024`` keys) for
   binarisation only (``k₂ = n``), top-k only (full-precision scores) and both (CAMformer),
   on random queries and on retrieval queries (a stored key plus noise of the same norm
   times ``noise``): relative output error ``‖o − o_dense‖/‖o_dense‖`` and the dense
   attention mass on the selected keys. (With random queries the dense weights sit on
   a few keys chosen by exact dot products; binarisation picks others, so the error can
   exceed 1. With retrieval queries the stored key wins either way.)

Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``) with the top-k recall table as ``results.csv``,
``attention_error.csv`` and the figure ``camformer.png``.
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
from hopfield.nn.binary_attention import binary_cam_attention, topk_recall

__all__ = [
    "STUDY",
    "attention_error_table",
    "expected_recall",
    "monte_carlo_recall",
    "recall_table",
]


def expected_recall(n: int, tile: int, k1: int, k2: int) -> float:
    """Hypergeometric expected recall of the two-stage top-k (``n`` divisible by ``tile``)."""
    if n % tile:
        raise ValueError(f"n ({n}) must be divisible by tile ({tile})")
    total = math.comb(n, tile)
    lost = 0.0
    for x in range(k1 + 1, min(tile, k2) + 1):
        lost += (x - k1) * math.comb(k2, x) * math.comb(n - k2, tile - x) / total
    return 1.0 - (n / tile) * lost / k2


def monte_carlo_recall(
    n: int, tile: int, k1: int, k2: int, *, trials: int, seed: int
) -> tuple[float, float]:
    """Mean and standard error of the recall over ``trials`` rows of uniform scores."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.rand(trials, n, generator=generator, dtype=torch.float64)
    recall = topk_recall(scores, tile, k1, k2)
    return float(recall.mean()), float(recall.std() / math.sqrt(trials))


def recall_table(
    *, trials: int, seed: int, n: int = 1024, k1: int = 2, progress: Progress = no_progress
) -> list[dict[str, Any]]:
    """Recall for ``k₂ ∈ {8, 16, 32, 64}`` at ``T = 16`` and ``T ∈ {4, 8, 32}`` at ``k₂ = 32``."""
    cases = [(16, k2) for k2 in (8, 16, 32, 64)] + [(t, 32) for t in (4, 8, 32)]
    rows = []
    for tile, k2 in progress(cases, desc="camformer top-k recall"):
        mean, sem = monte_carlo_recall(n, tile, k1, k2, trials=trials, seed=seed)
        rows.append(
            {
                "n": n,
                "tile": tile,
                "k1": k1,
                "k2": k2,
                "recall_mc": mean,
                "recall_sem": sem,
                "recall_hypergeometric": expected_recall(n, tile, k1, k2),
            }
        )
    return rows


def _queries(
    keys: torch.Tensor, kind: str, noise: float, generator: torch.Generator
) -> torch.Tensor:
    count = keys.shape[-2]
    if kind == "random":
        return torch.randn((*keys.shape[:-2], count, keys.shape[-1]), generator=generator)
    pick = torch.randint(count, (*keys.shape[:-2], count), generator=generator)
    chosen = keys.gather(-2, pick.unsqueeze(-1).expand_as(keys))
    return chosen + noise * torch.randn(chosen.shape, generator=generator)


def attention_error_table(
    *, n: int = 1024, dim: int = 64, batch: int = 2, noise: float = 0.5, seed: int = 0
) -> list[dict[str, Any]]:
    """Output error of binary / top-k / CAMformer attention vs dense softmax attention.

    Scale ``β = 4/√d`` (sharper than ``1/√d`` so that top-k matters), keys and values
    standard Gaussian ``(batch, n, d)``, ``n`` queries.
    """
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randn(batch, n, dim, generator=generator)
    values = torch.randn(batch, n, dim, generator=generator)
    scale = 4.0 / math.sqrt(dim)
    variants: dict[str, tuple[bool, int, int]] = {  # (binary, k1, k2)
        "binary only": (True, 16, n),
        "top-k only": (False, 2, 32),
        "camformer": (True, 2, 32),
    }
    rows = []
    for kind in ("random", "retrieval"):
        queries = _queries(keys, kind, noise, generator)
        dense = torch.softmax(scale * queries @ keys.transpose(-2, -1), dim=-1)
        reference = dense @ values
        for name, (binary, k1, k2) in variants.items():
            out, weights = binary_cam_attention(
                queries, keys, values, tile=16, k1=k1, k2=k2, binary=binary, scale=scale,
                need_weights=True,
            )  # fmt: skip
            assert weights is not None
            error = (out - reference).norm(dim=-1) / reference.norm(dim=-1)
            mass = (dense * (weights > 0)).sum(dim=-1)
            rows.append(
                {
                    "queries": kind,
                    "variant": name,
                    "k2": k2,
                    "relative_error": float(error.mean()),
                    "dense_mass_kept": float(mass.mean()),
                }
            )
    return rows


def _plot(recall: list[dict[str, Any]], errors: list[dict[str, Any]]) -> Any:
    fig = new_figure((11, 4))
    left, right = fig.subplots(1, 2)
    tile16 = [r for r in recall if r["tile"] == 16]
    ks = [r["k2"] for r in tile16]
    left.plot(ks, [r["recall_hypergeometric"] for r in tile16], "-", label="hypergeometric")
    left.errorbar(
        ks, [r["recall_mc"] for r in tile16], [r["recall_sem"] for r in tile16], fmt="o",
        label="Monte Carlo",
    )  # fmt: skip
    left.set_xscale("log", base=2)
    left.set_xlabel("global k₂ (tile 16, k₁ = 2, n = 1024)")
    left.set_ylabel("recall of the exact top-k₂")
    left.legend()
    labels = [f"{r['variant']}\n({r['queries']})" for r in errors]
    right.bar(range(len(errors)), [r["relative_error"] for r in errors])
    right.set_xticks(range(len(errors)), labels, fontsize=7)
    right.set_ylabel("‖o − o_dense‖ / ‖o_dense‖")
    right.set_title("attention output error vs dense softmax")
    fig.tight_layout()
    return fig


def _compute(context: StudyContext) -> StudyResult:
    seed = context.seed
    recall = recall_table(
        trials=1000 if context.quick else 20000, seed=seed, progress=context.progress
    )
    errors = attention_error_table(n=256 if context.quick else 1024, seed=seed)
    return StudyResult(
        tables=[
            Table("topk_recall", "Hierarchical top-k recall", recall, digits=4),
            Table("attention_error", "Attention output error vs dense softmax", errors, digits=4),
        ],
        figures={"camformer.png": _plot(recall, errors)},
    )


STUDY = Study("camformer", "CAMformer: hierarchical top-k attention", _compute)
