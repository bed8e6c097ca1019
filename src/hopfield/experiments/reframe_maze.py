"""The Re:Frame study's control task: a generated grid maze, its expert and its
low-quality behaviour data (Zelezetsky et al. 2025, "Re:Frame: Retrieving Experience
From Associative Memory", arXiv 2508.19344, run in small).

An ``N × N`` grid maze (random walls, cells that cannot reach the goal walled off), a
fixed goal at the centre, four moves (up, down, left, right; moving into a wall stays).
Reward ``−1`` per step until the goal, horizon ``H = 4N``; the return of an episode is
``−(steps taken)``.

* expert: a shortest-path (BFS) move;
* behaviour policy (the main, low-quality data set): per trajectory a quality
  ``q ~ U(0, q_max)``; each step is the expert move with probability ``q``, else a
  wall-blind greedy move toward the goal or a uniformly random move (equally likely).

Observations: the scaled cell coordinates (:func:`steps_table`, used by the one-step
MLP policy) or a rendered ``N × N`` image of the agent (:func:`render_observations`:
a Gaussian blob at the agent's cell plus pixel noise), the input of the autoencoder and
of the Decision Transformer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "MOVES",
    "GridMaze",
    "SequenceData",
    "Trajectory",
    "behaviour_trajectories",
    "expert_trajectories",
    "make_maze",
    "render_observations",
    "sequence_data",
    "steps_table",
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


def render_observations(
    maze: GridMaze,
    cells: torch.Tensor,
    noise: float,
    generator: torch.Generator,
    blur: float = 0.6,
) -> torch.Tensor:
    """Images ``(B, N²)`` of the agent at ``cells`` ``(B, 2)`` (row, column):
    ``exp(−‖x − cell‖²/(2·blur²))`` over the grid's cell centres ``x`` (in cells) plus
    Gaussian pixel noise of standard deviation ``noise``."""
    size = maze.size
    axis = torch.arange(size, dtype=torch.float32)
    grid = torch.cartesian_prod(axis, axis)  # (N², 2), row-major
    squared = torch.cdist(cells.float(), grid).square()
    images = torch.exp(-squared / (2 * blur**2))
    return images + noise * torch.randn(images.shape, generator=generator)


@dataclass(frozen=True)
class SequenceData:
    """Trajectories flattened step by step, for windows of a sequence policy.

    ``returns_to_go`` ``(S,)`` (``R_t = −(steps left)``), ``observations`` ``(S, N²)``
    (rendered), ``cells`` ``(S, 2)``, ``actions`` ``(S,)``, ``timesteps`` ``(S,)`` and
    ``first`` ``(S,)``, the flat index of the first step of each step's trajectory.
    """

    returns_to_go: torch.Tensor
    observations: torch.Tensor
    cells: torch.Tensor
    actions: torch.Tensor
    timesteps: torch.Tensor
    first: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.actions.shape[0])


def sequence_data(
    maze: GridMaze, trajectories: list[Trajectory], noise: float, generator: torch.Generator
) -> SequenceData:
    """Flatten ``trajectories`` and render each step's observation (fresh noise)."""
    rtg: list[int] = []
    cells: list[tuple[int, int]] = []
    actions: list[int] = []
    timesteps: list[int] = []
    first: list[int] = []
    for trajectory in trajectories:
        start = len(actions)
        for t, (cell, action) in enumerate(trajectory):
            rtg.append(-(len(trajectory) - t))
            cells.append(cell)
            actions.append(action)
            timesteps.append(t)
            first.append(start)
    cell_tensor = torch.tensor(cells, dtype=torch.float32).reshape(-1, 2)
    return SequenceData(
        torch.tensor(rtg, dtype=torch.float32),
        render_observations(maze, cell_tensor, noise, generator),
        cell_tensor,
        torch.tensor(actions, dtype=torch.long),
        torch.tensor(timesteps, dtype=torch.long),
        torch.tensor(first, dtype=torch.long),
    )
