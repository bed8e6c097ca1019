"""Delta study: linear attention, DeltaNet and softmax attention as associative memories.

``hopfield study delta [--quick] [--out DIR] [--seed S]`` (Zhong, Xu, Ao & Shi 2025,
"Understanding Transformer from the Perspective of Associative Memory").

1. **Retrieval SNR**: ``N`` random pairs (keys uniform on the sphere in ``d_k = 64``,
   values ``N(0, I)`` in ``d_v = 64``) written into a linear memory (Hebbian,
   ``S = Σ v kᵀ``), a DeltaNet memory (``β = 1``, one pass in order, written with
   :func:`~hopfield.models.delta.delta_rule_chunked`) and softmax kernel memories
   (``β = 4`` and ``16``; rows ``softmax:<β>``), then read at the stored keys.
   ``SNR⁻¹ = Σ‖o_i − v_i‖² / Σ‖v_i‖²``
   (signal scale ``c = 1``, :func:`hopfield.metrics.snr.inverse_retrieval_snr`), Monte
   Carlo mean over trials, against the linear theory ``N/d_k`` (exactly ``(N−1)/d_k``).
2. **Overwrite**: write ``(k, v₁)`` then ``(k, v₂)`` among orthonormal keys; DeltaNet
   (``β = 1``) returns ``v₂``, linear attention ``v₁ + v₂``.
3. **Recurrent vs chunked**: max |difference| of outputs for several chunk sizes.

Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``) with the SNR table as ``results.csv``,
``delta_chunked.csv``, ``overwrite.csv`` and the figure ``delta_snr.png``.
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
from hopfield.metrics.snr import inverse_retrieval_snr
from hopfield.models.delta import (
    SoftmaxKernelMemory,
    delta_rule,
    delta_rule_chunked,
    linear_attention,
)
from hopfield.models.linear import LinearAssociativeMemory

__all__ = [
    "STUDY",
    "chunked_agreement_table",
    "overwrite_errors",
    "random_pairs",
    "snr_table",
]


def random_pairs(
    trials: int, count: int, dim: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys uniform on the unit sphere ``(trials, count, dim)`` and Gaussian values."""
    keys = torch.randn(trials, count, dim, generator=generator, dtype=torch.float64)
    keys = keys / keys.norm(dim=-1, keepdim=True)
    values = torch.randn(trials, count, dim, generator=generator, dtype=torch.float64)
    return keys, values


def _linear_memory(state: torch.Tensor) -> LinearAssociativeMemory:
    memory = LinearAssociativeMemory(state.shape[1], state.shape[0]).double()
    memory.weight.copy_(state)
    return memory


def _inverse_snr(kind: str, keys: torch.Tensor, values: torch.Tensor) -> float:
    """One trial's ``SNR⁻¹`` for ``kind``: ``linear``, ``delta`` or ``softmax:<β>``."""
    dim = keys.shape[1]
    memory: Any
    if kind == "linear":
        memory = LinearAssociativeMemory(dim, values.shape[1]).double()
        memory.store(keys, values=values)
    elif kind == "delta":
        _, state = delta_rule_chunked(keys, keys, values, 1.0, chunk_size=64)
        memory = _linear_memory(state)
    else:
        beta = float(kind.split(":")[1])
        memory = SoftmaxKernelMemory(dim, values.shape[1], beta=beta).double()
        memory.store(keys, values=values)
    return inverse_retrieval_snr(memory, keys, values, signal_scale=1.0)


def snr_table(
    loads: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0),
    *,
    dim: int = 64,
    trials: int = 20,
    softmax_betas: tuple[float, ...] = (4.0, 16.0),
    seed: int = 0,
    progress: Progress = no_progress,
) -> list[dict[str, Any]]:
    """Monte-Carlo ``SNR⁻¹`` per load ``N/d_k`` and memory (see the module docstring)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for load in progress(loads, desc="delta loads"):
        count = round(load * dim)
        keys, values = random_pairs(trials, count, dim, generator)
        kinds = ["linear", "delta"] + [f"softmax:{beta:g}" for beta in softmax_betas]
        for kind in kinds:
            inverse = [_inverse_snr(kind, keys[t], values[t]) for t in range(trials)]
            mean = sum(inverse) / trials
            rows.append(
                {
                    "memory": kind,
                    "N": count,
                    "d_k": dim,
                    "load": load,
                    "inverse_snr": mean,
                    "theory_linear": load,
                    "ratio_to_N_over_dk": mean / load,
                }
            )
    return rows


def overwrite_errors(dim: int = 16, seed: int = 0) -> dict[str, float]:
    """Write ``(k_j, v_j)`` for orthonormal keys, then rewrite ``k_0`` with a new value;
    distance of each memory's read at ``k_0`` to the new value (DeltaNet: 0)."""
    generator = torch.Generator().manual_seed(seed)
    keys = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))[0].T
    keys = torch.cat([keys[: dim // 2], keys[:1]])
    values = torch.randn(keys.shape[0], dim, generator=generator, dtype=torch.float64)
    read = keys[:1].expand_as(keys)
    delta_out, _ = delta_rule(read, keys, values, 1.0)
    linear_out, _ = linear_attention(read, keys, values)
    new = values[-1]
    return {
        "delta_error": float((delta_out[-1] - new).norm() / new.norm()),
        "linear_error": float((linear_out[-1] - new).norm() / new.norm()),
        "linear_minus_sum": float((linear_out[-1] - values[0] - new).norm()),
    }


def chunked_agreement_table(
    chunk_sizes: tuple[int, ...] = (1, 7, 16, 64), length: int = 200, seed: int = 0
) -> list[dict[str, Any]]:
    """Max |o_recurrent − o_chunked| in float32 and float64 (``(2, 2, T, 32)`` inputs,
    unit keys, ``β ~ U(0, 1)``)."""
    generator = torch.Generator().manual_seed(seed)
    shape = (2, 2, length, 32)
    q, k, v = (torch.randn(shape, generator=generator, dtype=torch.float64) for _ in range(3))
    k = k / k.norm(dim=-1, keepdim=True)
    beta = torch.rand(shape[:-1], generator=generator, dtype=torch.float64)
    rows = []
    for dtype in (torch.float32, torch.float64):
        args = [x.to(dtype) for x in (q, k, v, beta)]
        reference, _ = delta_rule(*args)
        for chunk in chunk_sizes:
            out, _ = delta_rule_chunked(*args, chunk_size=chunk)
            rows.append(
                {
                    "dtype": str(dtype).removeprefix("torch."),
                    "T": length,
                    "chunk_size": chunk,
                    "max_abs_diff": float((out - reference).abs().max()),
                }
            )
    return rows


def _plot(rows: list[dict[str, Any]]) -> Any:
    fig = new_figure((6, 4))
    ax = fig.subplots()
    for kind in dict.fromkeys(r["memory"] for r in rows):
        mine = [r for r in rows if r["memory"] == kind]
        marker = {"linear": "o", "delta": "s"}.get(kind, "^")
        ax.plot(
            [r["load"] for r in mine], [r["inverse_snr"] for r in mine], marker + "-", label=kind
        )
    loads = sorted({r["load"] for r in rows})
    ax.plot(loads, loads, "k--", label="N/d_k")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(loads, [f"{x:g}" for x in loads])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("load N/d_k")
    ax.set_ylabel("SNR⁻¹ (c = 1)")
    ax.set_title(f"retrieval noise, d_k = {rows[0]['d_k']}")
    ax.legend()
    fig.tight_layout()
    return fig


def _compute(context: StudyContext) -> StudyResult:
    seed = context.seed
    snr = snr_table(trials=5 if context.quick else 50, seed=seed, progress=context.progress)
    chunked = chunked_agreement_table(length=100 if context.quick else 500, seed=seed)
    overwrite = overwrite_errors(seed=seed)
    return StudyResult(
        tables=[
            Table("snr", "Retrieval SNR⁻¹ (Monte Carlo) vs N/d_k", snr),
            Table("delta_chunked", "Recurrent vs chunked DeltaNet", chunked),
            Table("overwrite", "Overwrite (relative error to the rewritten value)", [overwrite]),
        ],
        figures={"delta_snr.png": _plot(snr)},
    )


STUDY = Study("delta", "Linear attention, DeltaNet and softmax as associative memories", _compute)
