"""Muon study: tail-class balance of a linear associative memory under GD, sign-GD and Muon.

``hopfield study muon [--quick] [--out DIR] [--seed S]`` (Wang et al. 2025, "Muon
Outperforms Adam in Tail-End Associative Memory Learning", arXiv 2509.26030).

Toy model: a one-layer linear associative memory ``f_W(E_k) = softmax(Ẽᵀ W E_k)`` with
``K = d = 16`` classes, orthonormal input/output embeddings ``E``, ``Ẽ`` (identity, or
two independent random orthogonal matrices) and ``W = 0`` at the start. Loss
``L(W) = −Σ_k p_k log [f_W(E_k)]_k`` with 4 head classes holding 90 % of the mass and
12 tail classes sharing 10 %. With ``D = ∂L/∂Z`` (``Z = ẼᵀWE``) the gradient is
``∇L = Ẽ D Eᵀ``, so

* **GD** moves ``Z`` by ``−lr·D`` whatever the embeddings: tail classes, weighted by
  ``p_k``, learn ``p_head/p_tail`` times more slowly;
* **sign-GD** (Adam with ``β₁ = β₂ = 0``) moves ``W`` by ``−lr·sign(Ẽ D Eᵀ)``: balanced
  when the embeddings are the identity (every class owns its coordinates), not for
  rotated embeddings where classes share coordinates;
* **Muon** moves ``W`` by ``−lr·Ẽ polar(D) Eᵀ``: every singular direction at the same
  rate, for any orthonormal embedding.

Every optimiser runs (momentum off, so each is pure steepest descent in its norm) until
some class's correct probability reaches ``1 − ε = 0.99`` or a step budget; the table
reports the worst-class correct probability ``ϱ^ε`` then, and at the step count Muon
needed (step-matched).
Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``) and the figure ``muon_balance.png``.
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
from hopfield.optim.muon import Muon

__all__ = [
    "DEFAULT_LEARNING_RATES",
    "STUDY",
    "balance_table",
    "class_priors",
    "correct_probabilities",
    "orthonormal_embedding",
    "train_memory",
]

DEFAULT_LEARNING_RATES: dict[str, float] = {"gd": 1.0, "signgd": 0.01, "muon": 0.05}
"""Step sizes used by the study (the balance at stopping is insensitive to them)."""

OPTIMIZERS = ("gd", "signgd", "muon")


def class_priors(num_classes: int = 16, head: int = 4, head_mass: float = 0.9) -> torch.Tensor:
    """``p_k``: ``head_mass/head`` for the first ``head`` classes, the rest share the tail."""
    if not 0 < head < num_classes or not 0.0 < head_mass < 1.0:
        raise ValueError(
            f"need 0 < head < num_classes and 0 < head_mass < 1, got head={head}, "
            f"num_classes={num_classes}, head_mass={head_mass}"
        )
    tail = (1.0 - head_mass) / (num_classes - head)
    priors = torch.full((num_classes,), tail, dtype=torch.float64)
    priors[:head] = head_mass / head
    return priors


def orthonormal_embedding(dim: int, kind: str, seed: int) -> torch.Tensor:
    """``(dim, dim)`` orthonormal columns: ``"identity"`` or ``"random"`` (Haar, via QR
    of a Gaussian with the sign of ``R``'s diagonal fixed)."""
    if kind == "identity":
        return torch.eye(dim, dtype=torch.float64)
    if kind != "random":
        raise ValueError(f"kind must be 'identity' or 'random', got {kind!r}")
    generator = torch.Generator().manual_seed(seed)
    gauss = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gauss)
    return q * torch.sign(torch.diagonal(r))


def correct_probabilities(
    weight: torch.Tensor, inputs: torch.Tensor, outputs: torch.Tensor
) -> torch.Tensor:
    """``[f_W(E_k)]_k = softmax(Ẽᵀ W E_k)_k`` for every class ``k``, shape ``(K,)``."""
    return torch.diagonal(torch.softmax(outputs.T @ weight @ inputs, dim=0))


def _optimizer(name: str, weight: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    if name == "gd":
        return torch.optim.SGD([weight], lr=lr)
    if name == "signgd":  # Adam with β₁ = β₂ = 0 is g/(|g| + eps) = sign(g)
        return torch.optim.Adam([weight], lr=lr, betas=(0.0, 0.0), eps=1e-30)
    if name == "muon":
        return Muon([weight], lr=lr, momentum=0.0, nesterov=False)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def train_memory(
    optimizer: str,
    inputs: torch.Tensor,
    outputs: torch.Tensor,
    priors: torch.Tensor,
    *,
    lr: float,
    max_steps: int = 5000,
    target: float = 0.99,
    stop: bool = True,
) -> dict[str, Any]:
    """Train ``W`` (zeros) on ``L = −Σ_k p_k log softmax(ẼᵀWE_k)_k`` until the largest
    correct probability reaches ``target`` (``stop=True``) or ``max_steps``.

    Returns ``steps``, ``worst`` and ``best`` correct probability, and the per-step
    ``trace`` of the worst one.
    """
    dim = inputs.shape[0]
    weight = torch.zeros(dim, dim, dtype=torch.float64, requires_grad=True)
    opt = _optimizer(optimizer, weight, lr)
    trace = []
    steps = 0
    probs = correct_probabilities(weight.detach(), inputs, outputs)
    for steps in range(1, max_steps + 1):  # noqa: B007
        log_probs = torch.log_softmax(outputs.T @ weight @ inputs, dim=0)
        loss = -(priors * torch.diagonal(log_probs)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            probs = correct_probabilities(weight, inputs, outputs)
        trace.append(float(probs.min()))
        if stop and float(probs.max()) >= target:
            break
    return {
        "steps": steps,
        "worst": float(probs.min()),
        "best": float(probs.max()),
        "trace": trace,
    }


def balance_table(
    *,
    seed: int = 0,
    max_steps: int = 5000,
    lrs: dict[str, float] | None = None,
    progress: Progress = no_progress,
) -> list[dict[str, Any]]:
    """Worst-class correct probability per embedding and optimiser (see module doc)."""
    rates = {**DEFAULT_LEARNING_RATES, **(lrs or {})}
    priors = class_priors()
    rows = []
    for kind in progress(("identity", "random"), desc="muon embeddings"):
        inputs = orthonormal_embedding(16, kind, seed)
        outputs = orthonormal_embedding(16, kind, seed + 1)
        runs = {
            name: train_memory(name, inputs, outputs, priors, lr=rates[name], max_steps=max_steps)
            for name in OPTIMIZERS
        }
        matched = runs["muon"]["steps"]
        for name in OPTIMIZERS:
            fixed = train_memory(
                name, inputs, outputs, priors, lr=rates[name], max_steps=matched, stop=False
            )
            rows.append(
                {
                    "embedding": kind,
                    "optimizer": name,
                    "lr": rates[name],
                    "steps_to_0.99": runs[name]["steps"],
                    "worst_at_stop": runs[name]["worst"],
                    "best_at_stop": runs[name]["best"],
                    "matched_steps": matched,
                    "worst_at_matched": fixed["worst"],
                    "trace": runs[name]["trace"],
                }
            )
    return rows


def _plot(rows: list[dict[str, Any]]) -> Any:
    fig = new_figure((11, 4))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind in zip(axes, ("identity", "random"), strict=True):
        for row in (r for r in rows if r["embedding"] == kind):
            ax.plot(range(1, len(row["trace"]) + 1), row["trace"], label=row["optimizer"])
        ax.set_xscale("log")
        ax.set_xlabel("step")
        ax.set_title(f"{kind} embeddings")
        ax.legend()
    axes[0].set_ylabel("worst-class correct probability")
    fig.suptitle("linear AM, 16 classes, 4 head classes with 90 % of the mass")
    fig.tight_layout()
    return fig


COLUMNS = (
    "embedding",
    "optimizer",
    "lr",
    "steps_to_0.99",
    "worst_at_stop",
    "best_at_stop",
    "matched_steps",
    "worst_at_matched",
)


def _compute(context: StudyContext) -> StudyResult:
    rows = balance_table(
        seed=context.seed, max_steps=2000 if context.quick else 10000, progress=context.progress
    )
    return StudyResult(
        tables=[
            Table(
                "muon_balance",
                "Worst-class correct probability (stop when a class reaches 0.99)",
                rows,
                columns=COLUMNS,
            )
        ],
        figures={"muon_balance.png": _plot(rows)},
    )


STUDY = Study("muon", "Muon vs Adam/SGD: class balance of a linear AM", _compute)
