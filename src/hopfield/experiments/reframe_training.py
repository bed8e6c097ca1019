"""Buffers, training and evaluation of the Re:Frame study's policies.

Zelezetsky et al. (2025), "Re:Frame: Retrieving Experience From Associative Memory",
arXiv 2508.19344. Two policy families on the maze of
:mod:`hopfield.experiments.reframe_maze`:

* the sequence policy (:class:`~hopfield.tasks.decision_transformer.BufferedDecisionTransformer`)
  on rendered observations, with a buffer keyed by a learned autoencoder's latents
  (:func:`build_autoencoder_buffer`) or by fixed RBF features of the image's brightest
  pixel (:func:`build_image_rbf_buffer`, the ablation);
* the earlier one-step MLP (:class:`~hopfield.tasks.memory_buffer.BufferedPolicy`) on
  cell coordinates with RBF keys (:func:`build_buffer`, :func:`train_policy`,
  :func:`evaluate`).

Buffer values are ``[onehot(a_i), R_i/H]`` of the expert steps in every case.
"""

from __future__ import annotations

import torch
from torch import nn

from hopfield.experiments.reframe_maze import (
    GridMaze,
    SequenceData,
    Trajectory,
    render_observations,
    steps_table,
)
from hopfield.tasks.decision_transformer import BufferedDecisionTransformer, ObservationAutoencoder
from hopfield.tasks.memory_buffer import AssociativeMemoryBuffer, BufferedPolicy, rbf_features

__all__ = [
    "CoordinateRBFEncoder",
    "ImagePeakRBFEncoder",
    "build_autoencoder_buffer",
    "build_buffer",
    "build_image_rbf_buffer",
    "evaluate",
    "evaluate_sequence_policy",
    "train_policy",
    "train_sequence_policy",
    "windows",
]

Window = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class CoordinateRBFEncoder(nn.Module):
    """``φ``: RBF encoding (:func:`~hopfield.tasks.memory_buffer.rbf_features`) of scaled
    cell coordinates on the grid's cell centres, width half a cell. Fixed, no energy."""

    centres: torch.Tensor

    def __init__(self, size: int) -> None:
        super().__init__()
        axis = torch.linspace(0.0, 1.0, size)
        self.register_buffer("centres", torch.cartesian_prod(axis, axis))
        self.width = 0.5 / max(size - 1, 1)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return rbf_features(observations, self.centres, self.width)


class ImagePeakRBFEncoder(nn.Module):
    """``φ`` for rendered images ``(B, N²)``: the brightest pixel's scaled coordinates,
    encoded by :class:`CoordinateRBFEncoder`. Fixed (not learned): the ablation of the
    autoencoder keys."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.coordinates = CoordinateRBFEncoder(size)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        peak = observations.argmax(dim=1)
        cells = torch.stack([peak // self.size, peak % self.size], dim=1).float()
        return self.coordinates(cells / max(self.size - 1, 1))


def _values(actions: torch.Tensor, returns_to_go: torch.Tensor, horizon: int) -> torch.Tensor:
    one_hot = nn.functional.one_hot(actions, 4).float()
    return torch.cat([one_hot, returns_to_go[:, None] / horizon], dim=1)


def build_buffer(
    maze: GridMaze, trajectories: list[Trajectory], beta: float = 50.0
) -> tuple[AssociativeMemoryBuffer, nn.Module]:
    """An AMB of the expert triplets for the coordinate MLP: keys ``φ(o)`` (RBF of
    coordinates), values ``[onehot(a), R/H]``; returns the buffer and ``φ``."""
    rtg, obs, act = steps_table(maze, trajectories)
    encoder = CoordinateRBFEncoder(maze.size)
    values = _values(act, rtg, maze.horizon)
    return AssociativeMemoryBuffer(encoder(obs), values, beta=beta), encoder


def build_autoencoder_buffer(
    maze: GridMaze, expert: SequenceData, autoencoder: ObservationAutoencoder, beta: float
) -> tuple[AssociativeMemoryBuffer, nn.Module]:
    """An AMB keyed by the autoencoder's latents of the expert observations; returns the
    buffer and the (frozen) encoder."""
    with torch.no_grad():
        keys = autoencoder.encode(expert.observations)
    values = _values(expert.actions, expert.returns_to_go, maze.horizon)
    return AssociativeMemoryBuffer(keys, values, beta=beta), autoencoder.encoder


def build_image_rbf_buffer(
    maze: GridMaze, expert: SequenceData, beta: float
) -> tuple[AssociativeMemoryBuffer, nn.Module]:
    """An AMB keyed by :class:`ImagePeakRBFEncoder` of the expert observations."""
    encoder = ImagePeakRBFEncoder(maze.size)
    values = _values(expert.actions, expert.returns_to_go, maze.horizon)
    return AssociativeMemoryBuffer(encoder(expert.observations), values, beta=beta), encoder


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
    """Return-conditioned behaviour cloning of the one-step MLP with Adam; returns the
    loss per step."""
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
    """Mean return of the one-step MLP's greedy actions from every free start, target RTG
    ``−d*(start)``, all starts rolled out in one batch."""
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


def windows(data: SequenceData, ends: torch.Tensor, context: int, num_actions: int) -> Window:
    """``K = context``-step windows ending at the flat step indices ``ends`` ``(B,)``,
    left-padded at the start of a trajectory: returns-to-go, observations, actions,
    timesteps and the ``valid`` mask, each ``(B, K, …)``."""
    offsets = torch.arange(context - 1, -1, -1)
    index = ends[:, None] - offsets[None, :]
    valid = index >= data.first[ends][:, None]
    index = torch.where(valid, index, ends[:, None])
    rtg = torch.where(valid, data.returns_to_go[index], 0.0)
    obs = data.observations[index] * valid[..., None]
    actions = torch.where(valid, data.actions[index], num_actions)
    timesteps = torch.where(valid, data.timesteps[index], 0)
    return rtg, obs, actions, timesteps, valid


def train_sequence_policy(
    policy: BufferedDecisionTransformer,
    data: SequenceData,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
) -> list[float]:
    """Return-conditioned behaviour cloning on ``K``-step windows (AdamW, weight decay
    10⁻⁴, gradient norm clipped at 1); returns the loss per step."""
    optimizer = torch.optim.AdamW(
        [p for p in policy.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4
    )
    losses = []
    for _ in range(steps):
        ends = torch.randint(data.size, (batch_size,), generator=generator)
        loss = policy.loss(*windows(data, ends, policy.context, policy.num_actions))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def evaluate_sequence_policy(
    maze: GridMaze, policy: BufferedDecisionTransformer, noise: float, generator: torch.Generator
) -> float:
    """Mean return of greedy actions from every free start with target return-to-go
    ``−d*(start)`` (raised by 1 per step, capped at −1); the policy sees the last ``K``
    steps of its own episode. All starts are rolled out in one batch."""
    starts = maze.free_cells()
    count, context, horizon = len(starts), policy.context, maze.horizon
    cells = torch.tensor(starts, dtype=torch.long)
    target = torch.tensor([-float(maze.distance[c]) for c in starts])
    history_obs = torch.zeros(count, horizon, maze.size**2)
    history_rtg = torch.zeros(count, horizon)
    history_act = torch.full((count, horizon), policy.num_actions, dtype=torch.long)
    returns = torch.zeros(count)
    done = torch.zeros(count, dtype=torch.bool)
    goal = torch.tensor(maze.goal)
    for t in range(horizon):
        done |= (cells == goal).all(dim=1)
        if bool(done.all()):
            break
        history_obs[:, t] = render_observations(maze, cells.float(), noise, generator)
        history_rtg[:, t] = target
        lo = max(0, t + 1 - context)
        steps = torch.arange(lo, t + 1)
        valid = torch.ones(count, len(steps), dtype=torch.bool)
        logits = policy(
            history_rtg[:, lo : t + 1],
            history_obs[:, lo : t + 1],
            history_act[:, lo : t + 1],
            steps.expand(count, -1),
            valid,
        )
        actions = logits[:, -1].argmax(dim=1)
        history_act[:, t] = actions
        for i in torch.nonzero(~done).flatten().tolist():
            cells[i] = torch.tensor(
                maze.move((int(cells[i, 0]), int(cells[i, 1])), int(actions[i]))
            )
        returns -= (~done).float()
        target = torch.where(done, target, (target + 1).clamp_max(-1.0))
    return float(returns.mean())
