"""Distributed AM study: regret of tree-routed online gradient descent on three graphs.

``hopfield study distributed-am [--quick] [--out DIR] [--seed S] [--gloo]`` (Wang,
Zecchin & Simeone 2025, "Distributed Associative Memory via Online Convex
Optimization", arXiv 2509.22321; protocol and formulation in
:mod:`hopfield.tasks.distributed_am`).

``K = 4`` agents, every agent interested in every agent's associations (``C = 1``),
stationary noisy linear associations (``d_k = d_v = 4``, noise 0.1), step
``η_t = 0.5/√t``. Graphs: a path (delays up to 3 hops), a star (2 hops) and the
complete graph (1 hop). The table reports the cumulative regret ``R_T`` against the
best fixed memories in hindsight, ``R_T/T``, and the log-log slope of ``R_T`` over
``T ≥ 100`` (sublinear: < 1; the paper's rate is 1/2). It also checks the single-agent,
no-delay reduction to the delta rule (:meth:`LinearAssociativeMemory.write_delta`);
``--gloo`` additionally runs the path graph as real processes on a gloo group and
reports the largest difference from the simulation.
Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``), ``checks.csv`` and the figure
``distributed_am.png``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
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
from hopfield.models.linear import LinearAssociativeMemory
from hopfield.tasks.distributed_am import (
    association_stream,
    loglog_slope,
    routing_trees,
    run_agent,
    simulate,
    step_sizes,
)

__all__ = [
    "STUDY",
    "delta_rule_gap",
    "gloo_gap",
    "graph",
    "regret_table",
]

GRAPHS = ("path", "star", "complete")


def graph(name: str, num_agents: int) -> torch.Tensor:
    """Adjacency ``(K, K)`` of a ``"path"``, ``"star"`` (hub 0) or ``"complete"`` graph."""
    adjacency = torch.zeros(num_agents, num_agents, dtype=torch.long)
    if name == "path":
        index = torch.arange(num_agents - 1)
        adjacency[index, index + 1] = 1
    elif name == "star":
        adjacency[0, 1:] = 1
    elif name == "complete":
        adjacency = 1 - torch.eye(num_agents, dtype=torch.long)
    else:
        raise ValueError(f"name must be one of {GRAPHS}, got {name!r}")
    return adjacency | adjacency.T


def regret_table(
    num_rounds: int, seed: int, num_agents: int = 4, *, progress: Progress = no_progress
) -> list[dict[str, Any]]:
    """One row per graph: delays, final regret, ``R_T/T``, slope and the regret curve."""
    interest = torch.ones(num_agents, num_agents)
    keys, values = association_stream(
        num_rounds, num_agents, 4, 4, generator=torch.Generator().manual_seed(seed)
    )
    rows = []
    for name in progress(GRAPHS, desc="distributed-am graphs"):
        delays = routing_trees(graph(name, num_agents), interest).delays
        result = simulate(keys, values, interest, delays, eta0=0.5)
        regret = result.regret
        rows.append(
            {
                "graph": name,
                "max_delay": int(delays.max()),
                "mean_delay": float(delays.double().mean()),
                "rounds": num_rounds,
                "regret": float(regret[-1]),
                "regret_per_round": float(regret[-1]) / num_rounds,
                "loglog_slope": loglog_slope(result.checkpoints, regret, start=100),
                "curve": list(zip(result.checkpoints.tolist(), regret.tolist(), strict=True)),
            }
        )
    return rows


def delta_rule_gap(num_rounds: int = 200, seed: int = 0) -> float:
    """Largest ``|W_sim − W_delta|`` for one agent without delay against
    :meth:`LinearAssociativeMemory.write_delta` with ``lr = η_t``."""
    keys, values = association_stream(
        num_rounds, 1, 4, 3, generator=torch.Generator().manual_seed(seed)
    )
    result = simulate(keys, values, torch.ones(1, 1), torch.zeros(1, 1, dtype=torch.long))
    memory = LinearAssociativeMemory(4, 3).double()
    for t, eta in enumerate(step_sizes(num_rounds, 0.5).tolist()):
        memory.write_delta(keys[t], values[t], lr=eta)
    return float((result.memories[0] - memory.weight).abs().max())


def gloo_gap(num_rounds: int = 50, seed: int = 0, num_agents: int = 3) -> float:
    """Largest difference (memories and losses) between the gloo run (one process per
    agent, path graph) and :func:`simulate`."""
    from hopfield.distributed.launch import launch_local

    interest = torch.ones(num_agents, num_agents)
    delays = routing_trees(graph("path", num_agents), interest).delays
    keys, values = association_stream(
        num_rounds, num_agents, 3, 2, generator=torch.Generator().manual_seed(seed)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "gloo.pt")
        launch_local(
            run_agent,
            num_agents,
            (keys, values, interest, delays, 0.5, "inv_sqrt", path),
            timeout_s=60.0,
        )
        gloo = torch.load(path)
    result = simulate(keys, values, interest, delays, eta0=0.5)
    return max(
        float((gloo["memories"] - result.memories).abs().max()),
        float((gloo["losses"] - result.losses).abs().max()),
    )


def _plot(rows: list[dict[str, Any]]) -> Any:
    fig = new_figure((6, 4))
    ax = fig.subplots()
    for row in rows:
        horizons, regret = zip(*row["curve"], strict=True)
        ax.loglog(
            horizons, regret, marker=".", label=f"{row['graph']} (max delay {row['max_delay']})"
        )
    grid = torch.tensor([r[0] for r in rows[0]["curve"]], dtype=torch.float64)
    scale = rows[0]["regret"] / rows[0]["rounds"] ** 0.5
    ax.loglog(grid.tolist(), (scale * grid.sqrt()).tolist(), "k--", label="∝ √T")
    ax.set_xlabel("round T")
    ax.set_ylabel("cumulative regret R_T")
    ax.legend()
    fig.tight_layout()
    return fig


COLUMNS = (
    "graph",
    "max_delay",
    "mean_delay",
    "rounds",
    "regret",
    "regret_per_round",
    "loglog_slope",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--gloo``: also run the protocol as gloo processes and compare."""
    parser.add_argument("--gloo", action="store_true", help="also run 3 agents on a gloo group")


def _compute(context: StudyContext) -> StudyResult:
    rounds = 2000 if context.quick else 10000
    rows = regret_table(rounds, context.seed, progress=context.progress)
    checks: dict[str, float] = {"delta_rule_max_abs_diff": delta_rule_gap(seed=context.seed)}
    if getattr(context.args, "gloo", False):
        checks["gloo_vs_simulation_max_abs_diff"] = gloo_gap(seed=context.seed)
    return StudyResult(
        tables=[
            Table(
                "distributed_am",
                "Distributed AM: OGD over BFS routing trees, 4 agents, C = 1",
                rows,
                columns=COLUMNS,
            ),
            Table(
                "checks",
                "Agreement checks (max abs difference)",
                [{"check": name, "max_abs_diff": value} for name, value in checks.items()],
            ),
        ],
        figures={"distributed_am.png": _plot(rows)},
        metadata=checks,
    )


STUDY = Study(
    "distributed-am", "Distributed associative memory: online learning", _compute, add_arguments
)
