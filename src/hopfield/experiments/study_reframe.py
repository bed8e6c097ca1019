"""Re:Frame study: a 1 % expert associative memory buffer lifts a policy cloned from poor data.

``hopfield study reframe [--quick] [--out DIR] [--seed S]`` (Zelezetsky et al. 2025,
"Re:Frame: Retrieving Experience From Associative Memory", arXiv 2508.19344).

Task (generated locally, per seed). An ``N × N`` grid maze (random walls, cells that
cannot reach the goal walled off), a fixed goal, four moves (up, down, left, right;
moving into a wall stays). Reward ``−1`` per step until the goal, horizon
``H = 4N``; the return of an episode is ``−(steps taken)``.

* expert: a shortest-path (BFS) move;
* behaviour policy (the main, low-quality data set): per trajectory a quality
  ``q ~ U(0, q_max)``; each step is the expert move with probability ``q``, else a
  wall-blind greedy move toward the goal or a uniformly random move (equally likely).

Policies (:class:`~hopfield.tasks.memory_buffer.BufferedPolicy`) are trained by
return-conditioned behaviour cloning on the behaviour data: without a buffer, and with
an :class:`~hopfield.tasks.memory_buffer.AssociativeMemoryBuffer` holding the
(return-to-go, observation, action) triplets of expert trajectories numbering 1 % of
the behaviour trajectories. Evaluation: greedy actions from every free start cell
with target return-to-go ``−d*(start)`` (the optimal return, decremented each step);
the metric is the mean return.
Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``) and the figure ``reframe.png``.
"""

from __future__ import annotations

import argparse
from collections import deque
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hopfield.experiments.cli_types import positive_int
from hopfield.experiments.report import new_figure
from hopfield.experiments.runner import (
    Study,
    StudyContext,
    StudyResult,
    Table,
)
from hopfield.tasks.memory_buffer import AssociativeMemoryBuffer, BufferedPolicy, rbf_features

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
    "train_policy",
]

MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
"""Row/column offsets of the actions up, down, left, right."""

Trajectory = list[tuple[tuple[int, int], int]]  # (position, action) per step


@dataclass(frozen=True)
class GridMaze:
    """A grid maze: ``walls`` ``(N, N)`` bool, ``goal`` cell, BFS ``distance`` to it
    (``-1`` on walls)."""

    walls: torch.Tensor
    goal: tuple[int, int]
    distance: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.walls.shape[0])

    @property
    def horizon(self) -> int:
        return 4 * self.size

    def free_cells(self) -> list[tuple[int, int]]:
        """Non-wall cells other than the goal (start cells)."""
        cells = torch.nonzero(~self.walls).tolist()
        return [(r, c) for r, c in cells if (r, c) != self.goal]

    def move(self, cell: tuple[int, int], action: int) -> tuple[int, int]:
        """The cell after ``action`` (stay when blocked)."""
        r, c = cell[0] + MOVES[action][0], cell[1] + MOVES[action][1]
        if 0 <= r < self.size and 0 <= c < self.size and not bool(self.walls[r, c]):
            return r, c
        return cell

    def expert_action(self, cell: tuple[int, int]) -> int:
        """A move that decreases the BFS distance (first in :data:`MOVES` order)."""
        here = int(self.distance[cell])
        for action in range(4):
            target = self.move(cell, action)
            if int(self.distance[target]) == here - 1:
                return action
        raise ValueError(f"cell {cell} has no move toward the goal")

    def greedy_action(self, cell: tuple[int, int]) -> int:
        """Wall-blind move along the larger offset to the goal."""
        dr, dc = self.goal[0] - cell[0], self.goal[1] - cell[1]
        if abs(dr) >= abs(dc):
            return 1 if dr > 0 else 0
        return 3 if dc > 0 else 2


def _bfs(walls: torch.Tensor, goal: tuple[int, int]) -> torch.Tensor:
    size = walls.shape[0]
    distance = torch.full((size, size), -1, dtype=torch.long)
    distance[goal] = 0
    queue = deque([goal])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES:
            nr, nc = r + dr, c + dc
            inside = 0 <= nr < size and 0 <= nc < size
            if inside and not bool(walls[nr, nc]) and int(distance[nr, nc]) < 0:
                distance[nr, nc] = distance[r, c] + 1
                queue.append((nr, nc))
    return distance


def make_maze(size: int, wall_density: float, generator: torch.Generator) -> GridMaze:
    """Random walls with probability ``wall_density`` (goal at the centre kept free);
    cells that cannot reach the goal become walls."""
    if size < 3:
        raise ValueError(f"size must be ≥ 3, got {size}")
    walls = torch.rand(size, size, generator=generator) < wall_density
    goal = (size // 2, size // 2)
    walls[goal] = False
    distance = _bfs(walls, goal)
    walls = walls | (distance < 0)
    return GridMaze(walls, goal, distance)


def _rollout(
    maze: GridMaze, start: tuple[int, int], choose: Any, generator: torch.Generator
) -> Trajectory:
    cell, steps = start, []
    for _ in range(maze.horizon):
        if cell == maze.goal:
            break
        action = int(choose(cell, generator))
        steps.append((cell, action))
        cell = maze.move(cell, action)
    return steps


def _random_start(maze: GridMaze, generator: torch.Generator) -> tuple[int, int]:
    cells = maze.free_cells()
    return cells[int(torch.randint(len(cells), (1,), generator=generator))]


def expert_trajectories(maze: GridMaze, count: int, generator: torch.Generator) -> list[Trajectory]:
    """``count`` shortest-path trajectories from random start cells."""
    return [
        _rollout(
            maze, _random_start(maze, generator), lambda c, _g: maze.expert_action(c), generator
        )
        for _ in range(count)
    ]


def behaviour_trajectories(
    maze: GridMaze, count: int, generator: torch.Generator, max_quality: float = 1.0
) -> list[Trajectory]:
    """``count`` low-quality trajectories (see the module docstring)."""

    def behaviour(quality: float) -> Any:
        def choose(cell: tuple[int, int], gen: torch.Generator) -> int:
            u = float(torch.rand((), generator=gen))
            if u < quality:
                return maze.expert_action(cell)
            if u < quality + (1 - quality) / 2:
                return maze.greedy_action(cell)
            return int(torch.randint(4, (1,), generator=gen))

        return choose

    out = []
    for _ in range(count):
        quality = max_quality * float(torch.rand((), generator=generator))
        out.append(_rollout(maze, _random_start(maze, generator), behaviour(quality), generator))
    return out


def steps_table(
    maze: GridMaze, trajectories: list[Trajectory]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flatten trajectories to ``(return-to-go, observation, action)`` arrays:
    returns-to-go ``R_t = −(steps left)`` ``(S,)``, observations ``(S, 2)`` (cell
    coordinates scaled to ``[0, 1]``) and actions ``(S,)`` long."""
    rtg, obs, act = [], [], []
    scale = max(maze.size - 1, 1)
    for trajectory in trajectories:
        length = len(trajectory)
        for t, (cell, action) in enumerate(trajectory):
            rtg.append(-(length - t))
            obs.append((cell[0] / scale, cell[1] / scale))
            act.append(action)
    return (
        torch.tensor(rtg, dtype=torch.float32),
        torch.tensor(obs, dtype=torch.float32),
        torch.tensor(act, dtype=torch.long),
    )


class _Encoder(nn.Module):
    """``φ``: RBF encoding of scaled cell coordinates on the grid's cell centres."""

    centres: torch.Tensor

    def __init__(self, size: int) -> None:
        super().__init__()
        axis = torch.linspace(0.0, 1.0, size)
        grid = torch.cartesian_prod(axis, axis)
        self.register_buffer("centres", grid)
        self.width = 0.5 / max(size - 1, 1)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return rbf_features(observations, self.centres, self.width)


def build_buffer(
    maze: GridMaze, trajectories: list[Trajectory], beta: float = 50.0
) -> tuple[AssociativeMemoryBuffer, nn.Module]:
    """An AMB of the expert triplets: keys ``φ(o)``, values ``[onehot(a), R/H]``;
    returns the buffer and the encoder ``φ``."""
    rtg, obs, act = steps_table(maze, trajectories)
    encoder = _Encoder(maze.size)
    values = torch.cat([nn.functional.one_hot(act, 4).float(), rtg[:, None] / maze.horizon], dim=1)
    return AssociativeMemoryBuffer(encoder(obs), values, beta=beta), encoder


@dataclass(frozen=True)
class ReframeConfig:
    """Sizes of one comparison."""

    size: int = 9
    wall_density: float = 0.3
    behaviour_trajectories: int = 500
    max_quality: float = 1.0
    expert_fraction: float = 0.01
    hidden: int = 64
    train_steps: int = 1500
    batch_size: int = 256
    lr: float = 3e-3


def train_policy(
    policy: BufferedPolicy,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    horizon: int,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
) -> list[float]:
    """Return-conditioned behaviour cloning with Adam; returns the loss per step."""
    rtg, obs, act = data
    inputs = torch.cat([rtg[:, None] / horizon, obs], dim=1)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        index = torch.randint(rtg.shape[0], (batch_size,), generator=generator)
        loss = policy.loss(inputs[index], obs[index], act[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def evaluate(maze: GridMaze, policy: BufferedPolicy) -> float:
    """Mean return of greedy actions from every free start, target RTG ``−d*(start)``,
    all starts rolled out in one batch."""
    starts = maze.free_cells()
    cells = list(starts)
    rtg = torch.tensor([-float(maze.distance[c]) for c in starts])
    done = [False] * len(cells)
    returns = torch.zeros(len(cells))
    scale = max(maze.size - 1, 1)
    for _ in range(maze.horizon):
        active = [i for i, d in enumerate(done) if not d]
        if not active:
            break
        obs = torch.tensor([(cells[i][0] / scale, cells[i][1] / scale) for i in active])
        inputs = torch.cat([rtg[active, None] / maze.horizon, obs], dim=1)
        actions = policy(inputs, obs).argmax(dim=1).tolist()
        for i, action in zip(active, actions, strict=True):
            cells[i] = maze.move(cells[i], action)
            returns[i] -= 1
            rtg[i] = min(float(rtg[i]) + 1, -1.0)
            done[i] = cells[i] == maze.goal
    return float(returns.mean())


def compare(config: ReframeConfig, seed: int) -> dict[str, Any]:
    """Train the no-buffer and the buffer policy on one seed's maze and data; returns
    their mean returns, the expert's and the behaviour data's."""
    generator = torch.Generator().manual_seed(seed)
    maze = make_maze(config.size, config.wall_density, generator)
    behaviour = behaviour_trajectories(
        maze, config.behaviour_trajectories, generator, config.max_quality
    )
    num_expert = max(1, round(config.expert_fraction * config.behaviour_trajectories))
    expert = expert_trajectories(maze, num_expert, generator)
    data = steps_table(maze, behaviour)
    buffer, encoder = build_buffer(maze, expert)
    results: dict[str, Any] = {
        "seed": seed,
        "expert_trajectories": num_expert,
        "buffer_size": buffer.size,
        "behaviour_return": -sum(len(t) for t in behaviour) / len(behaviour),
        "expert_return": -float(
            torch.tensor([float(maze.distance[c]) for c in maze.free_cells()]).mean()
        ),
    }
    for name, amb in (("no_buffer", None), ("buffer", buffer)):
        torch.manual_seed(seed)  # same initial weights for the shared layers
        policy = BufferedPolicy(3, 4, config.hidden, amb, encoder if amb is not None else None)
        train_policy(
            policy,
            data,
            maze.horizon,
            steps=config.train_steps,
            batch_size=config.batch_size,
            lr=config.lr,
            generator=torch.Generator().manual_seed(seed + 1),
        )
        results[f"{name}_return"] = evaluate(maze, policy)
    results["buffer_wins"] = results["buffer_return"] > results["no_buffer_return"]
    return results


COLUMNS = (
    "seed",
    "expert_trajectories",
    "buffer_size",
    "behaviour_return",
    "no_buffer_return",
    "buffer_return",
    "expert_return",
    "buffer_wins",
)


def _plot(rows: list[dict[str, Any]]) -> Any:
    fig = new_figure((6, 4))
    ax = fig.subplots()
    seeds = [r["seed"] for r in rows]
    x = torch.arange(len(rows)).float()
    for offset, key, label in (
        (-0.3, "behaviour_return", "behaviour data"),
        (-0.1, "no_buffer_return", "BC, no buffer"),
        (0.1, "buffer_return", "BC + 1 % expert AMB"),
        (0.3, "expert_return", "expert"),
    ):
        ax.bar((x + offset).tolist(), [r[key] for r in rows], width=0.2, label=label)
    ax.set_xticks(x.tolist(), [str(s) for s in seeds])
    ax.set_xlabel("seed")
    ax.set_ylabel("mean return (−steps)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seeds`` (number of seeds; 4, or 1 with ``--quick``)."""
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        help="number of seeds (default: 4, 1 with --quick)",
    )


def _compute(context: StudyContext) -> StudyResult:
    seeds = getattr(context.args, "seeds", None)
    if seeds is None:
        seeds = 1 if context.quick else 4
    config = (
        ReframeConfig(train_steps=300, behaviour_trajectories=300)
        if context.quick
        else ReframeConfig()
    )
    rows = [
        compare(config, context.seed + i)
        for i in context.progress(range(seeds), desc="reframe seeds")
    ]
    wins = sum(bool(r["buffer_wins"]) for r in rows)
    return StudyResult(
        tables=[
            Table(
                "reframe",
                "Mean return: behaviour cloning with and without a 1 % expert buffer",
                rows,
                columns=COLUMNS,
                digits=2,
            )
        ],
        figures={"reframe.png": _plot(rows)},
        metadata={"config": config.__dict__, "buffer_wins": wins},
        notes=[f"The buffer wins on {wins}/{len(rows)} seeds."],
    )


STUDY = Study(
    "reframe", "Re:Frame: behaviour cloning with an expert buffer", _compute, add_arguments
)
