"""Re:Frame study: a Decision Transformer reads a small expert buffer keyed by a learned encoder.

``hopfield study reframe [--quick] [--out DIR] [--seed S] [--seeds N]
[--expert-fraction F] [--behaviour-trajectories B]`` (Zelezetsky, Cherepanov, Kovalev
& Panov 2025, "Re:Frame: Retrieving Experience From Associative Memory", arXiv
2508.19344), run in small on a generated maze (:mod:`hopfield.experiments.reframe_maze`).

Per seed: a maze, ``B`` low-quality behaviour trajectories (the training set) and a
separate set of expert trajectories numbering ``F·B`` (at least one). Observations are
rendered ``N × N`` images of the agent with pixel noise.

1. Stage 1: an :class:`~hopfield.tasks.decision_transformer.ObservationAutoencoder` is
   trained offline on all observations; the buffer
   (:class:`~hopfield.tasks.memory_buffer.AssociativeMemoryBuffer`) stores the expert
   steps with the latents as keys and ``[onehot(a), R/H]`` as values.
2. Stage 2: three :class:`~hopfield.tasks.decision_transformer.BufferedDecisionTransformer`
   policies with the same initial weights and minibatches are trained by
   return-conditioned behaviour cloning on the behaviour data only: without a buffer,
   with the autoencoder-keyed buffer, and with a buffer keyed by fixed RBF features of
   the image's brightest pixel (ablation).

Evaluation: greedy actions from every free start with target return-to-go ``−d*(start)``
(the optimal return); the metric is the mean return (``−steps``, ``−4N`` when the goal
is not reached). Tables: per seed, and mean ± std over seeds (10 by default) with the
paired gain of each buffer over no buffer; figure ``reframe.png`` (returns, and the
paired gain per seed). The default run takes about 6.5 CPU-minutes.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

import torch

from hopfield.experiments.cli_types import positive_int, probability
from hopfield.experiments.reframe_maze import (
    MOVES,
    GridMaze,
    behaviour_trajectories,
    expert_trajectories,
    make_maze,
    sequence_data,
    steps_table,
)
from hopfield.experiments.reframe_training import (
    build_autoencoder_buffer,
    build_buffer,
    build_image_rbf_buffer,
    evaluate,
    evaluate_sequence_policy,
    train_policy,
    train_sequence_policy,
)
from hopfield.experiments.report import new_figure
from hopfield.experiments.runner import Study, StudyContext, StudyResult, Table
from hopfield.tasks.decision_transformer import BufferedDecisionTransformer, ObservationAutoencoder
from hopfield.tasks.memory_buffer import AssociativeMemoryBuffer

__all__ = [
    "MOVES",
    "STUDY",
    "GridMaze",
    "ReframeConfig",
    "behaviour_trajectories",
    "build_buffer",
    "compare",
    "evaluate",
    "expert_trajectories",
    "make_maze",
    "steps_table",
    "summarise",
    "train_policy",
]

POLICIES = (
    ("no_buffer", "DT, no buffer"),
    ("buffer", "DT + AMB (autoencoder keys)"),
    ("rbf_buffer", "DT + AMB (RBF keys, ablation)"),
)
"""Result-column stem and label of each trained policy."""


@dataclass(frozen=True)
class ReframeConfig:
    """Sizes of one comparison (maze, data, autoencoder, Decision Transformer)."""

    size: int = 9
    wall_density: float = 0.3
    behaviour_trajectories: int = 500
    max_quality: float = 0.5
    expert_fraction: float = 0.01
    noise: float = 0.05
    latent_dim: int = 8
    autoencoder_steps: int = 600
    beta: float = 20.0
    context: int = 8
    width: int = 32
    layers: int = 1
    heads: int = 2
    train_steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3


def _policy(
    config: ReframeConfig, maze: GridMaze, seed: int, memory: Any
) -> BufferedDecisionTransformer:
    torch.manual_seed(seed)  # the same initial weights for the shared layers
    buffer, encoder = memory if memory is not None else (None, None)
    return BufferedDecisionTransformer(
        maze.size**2,
        4,
        maze.horizon,
        context=config.context,
        width=config.width,
        layers=config.layers,
        heads=config.heads,
        buffer=buffer,
        encoder=encoder,
    )


def compare(config: ReframeConfig, seed: int) -> dict[str, Any]:
    """One seed: train the three policies on the same maze and data; returns their mean
    returns, the expert's and the behaviour data's, and the autoencoder's final loss."""
    generator = torch.Generator().manual_seed(seed)
    maze = make_maze(config.size, config.wall_density, generator)
    behaviour = behaviour_trajectories(
        maze, config.behaviour_trajectories, generator, config.max_quality
    )
    num_expert = max(1, round(config.expert_fraction * config.behaviour_trajectories))
    expert = expert_trajectories(maze, num_expert, generator)
    data = sequence_data(maze, behaviour, config.noise, generator)
    expert_data = sequence_data(maze, expert, config.noise, generator)
    torch.manual_seed(seed)
    autoencoder = ObservationAutoencoder(maze.size**2, config.latent_dim)
    every = torch.cat([data.observations, expert_data.observations])
    ae_losses = autoencoder.fit(
        every, steps=config.autoencoder_steps, generator=torch.Generator().manual_seed(seed)
    )
    autoencoder.eval()
    memories: dict[str, tuple[AssociativeMemoryBuffer, torch.nn.Module] | None] = {
        "no_buffer": None,
        "buffer": build_autoencoder_buffer(maze, expert_data, autoencoder, config.beta),
        "rbf_buffer": build_image_rbf_buffer(maze, expert_data, config.beta),
    }
    results: dict[str, Any] = {
        "seed": seed,
        "expert_trajectories": num_expert,
        "buffer_size": expert_data.size,
        "behaviour_return": -sum(len(t) for t in behaviour) / len(behaviour),
        "expert_return": -float(
            torch.tensor([float(maze.distance[c]) for c in maze.free_cells()]).mean()
        ),
        "autoencoder_loss": sum(ae_losses[-20:]) / len(ae_losses[-20:]),
    }
    for name, _ in POLICIES:
        policy = _policy(config, maze, seed, memories[name])
        train_sequence_policy(
            policy,
            data,
            steps=config.train_steps,
            batch_size=config.batch_size,
            lr=config.lr,
            generator=torch.Generator().manual_seed(seed + 1),
        )
        noise_generator = torch.Generator().manual_seed(seed + 2)
        results[f"{name}_return"] = evaluate_sequence_policy(
            maze, policy, config.noise, noise_generator
        )
    results["buffer_wins"] = results["buffer_return"] > results["no_buffer_return"]
    return results


COLUMNS = (
    "seed",
    "expert_trajectories",
    "buffer_size",
    "behaviour_return",
    "no_buffer_return",
    "buffer_return",
    "rbf_buffer_return",
    "expert_return",
    "autoencoder_loss",
    "buffer_wins",
)

_SUMMARY_KEYS = (
    ("behaviour_return", "behaviour data"),
    *((f"{name}_return", label) for name, label in POLICIES),
    ("expert_return", "expert (shortest paths)"),
)


def _mean_std(values: list[float]) -> tuple[float, float]:
    data = torch.tensor(values, dtype=torch.float64)
    return float(data.mean()), float(data.std()) if len(values) > 1 else 0.0


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± standard deviation (``n − 1``; 0 for one seed) of each return over seeds,
    then the paired gain of each buffer over no buffer (same seed, same maze) with the
    number of seeds it is positive on (``wins``)."""
    out = []
    for key, label in _SUMMARY_KEYS:
        mean, std = _mean_std([float(r[key]) for r in rows])
        out.append({"policy": label, "mean_return": mean, "std_return": std, "seeds": len(rows)})
    for name, label in POLICIES[1:]:
        gains = [float(r[f"{name}_return"]) - float(r["no_buffer_return"]) for r in rows]
        mean, std = _mean_std(gains)
        out.append(
            {
                "policy": f"gain: {label} − no buffer",
                "mean_return": mean,
                "std_return": std,
                "seeds": len(rows),
                "wins": sum(g > 0 for g in gains),
            }
        )
    return out


def _plot(rows: list[dict[str, Any]], summary: list[dict[str, Any]]) -> Any:
    returns = summary[: len(_SUMMARY_KEYS)]
    fig = new_figure((10, 4))
    ax, gain_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    x = list(range(len(returns)))
    means = [s["mean_return"] for s in returns]
    stds = [s["std_return"] for s in returns]
    ax.bar(x, means, yerr=stds, color="#9ecae1", capsize=4)
    for i, (key, _) in enumerate(_SUMMARY_KEYS):
        ax.scatter([i] * len(rows), [r[key] for r in rows], color="k", s=10, zorder=3)
    ax.set_xticks(x, [s["policy"] for s in returns], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("mean return (−steps), ± std over seeds")
    ax.set_title("Re:Frame in small: returns", fontsize=9)
    seeds = [r["seed"] for r in rows]
    for name, label in POLICIES[1:]:
        gains = [r[f"{name}_return"] - r["no_buffer_return"] for r in rows]
        gain_ax.plot(seeds, gains, marker="o", label=label)
    gain_ax.axhline(0.0, color="grey", lw=0.8)
    gain_ax.set_xlabel("seed")
    gain_ax.set_ylabel("return gain over DT without buffer")
    gain_ax.set_title("paired gain (same maze and data)", fontsize=9)
    gain_ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seeds``, ``--expert-fraction``, ``--behaviour-trajectories``."""
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        help="number of seeds (default: 10, 1 with --quick)",
    )
    parser.add_argument(
        "--expert-fraction",
        type=probability,
        default=None,
        help="expert trajectories per behaviour trajectory (default 0.01)",
    )
    parser.add_argument(
        "--behaviour-trajectories",
        type=positive_int,
        default=None,
        help="low-quality training trajectories (default 500, 300 with --quick)",
    )


def _config(context: StudyContext) -> ReframeConfig:
    base = (
        ReframeConfig(behaviour_trajectories=300, train_steps=100, autoencoder_steps=150)
        if context.quick
        else ReframeConfig()
    )
    changes: dict[str, Any] = {}
    fraction = getattr(context.args, "expert_fraction", None)
    if fraction is not None:
        changes["expert_fraction"] = fraction
    trajectories = getattr(context.args, "behaviour_trajectories", None)
    if trajectories is not None:
        changes["behaviour_trajectories"] = trajectories
    return ReframeConfig(**{**asdict(base), **changes})


def _compute(context: StudyContext) -> StudyResult:
    seeds = getattr(context.args, "seeds", None)
    if seeds is None:
        seeds = 1 if context.quick else 10
    config = _config(context)
    rows = [
        compare(config, context.seed + i)
        for i in context.progress(range(seeds), desc="reframe seeds")
    ]
    summary = summarise(rows)
    wins = sum(bool(r["buffer_wins"]) for r in rows)
    return StudyResult(
        tables=[
            Table("reframe", "Mean return per seed", rows, columns=COLUMNS, digits=2),
            Table("reframe_summary", "Mean return over seeds", summary, digits=2),
        ],
        figures={"reframe.png": _plot(rows, summary)},
        metadata={"config": asdict(config), "buffer_wins": wins},
        notes=[
            f"The autoencoder-keyed buffer beats no buffer on {wins}/{len(rows)} seeds "
            f"(expert data: {config.expert_fraction:.2%} of the behaviour trajectories)."
        ],
    )


STUDY = Study(
    "reframe",
    "Re:Frame: a Decision Transformer reading an expert associative memory buffer",
    _compute,
    add_arguments,
)
