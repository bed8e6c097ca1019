"""Re:Frame's learned parts: the observation autoencoder and the buffered Decision Transformer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from hopfield.experiments.reframe_maze import (
    behaviour_trajectories,
    expert_trajectories,
    make_maze,
    render_observations,
    sequence_data,
)
from hopfield.experiments.reframe_training import (
    ImagePeakRBFEncoder,
    build_autoencoder_buffer,
    evaluate_sequence_policy,
    train_sequence_policy,
    windows,
)
from hopfield.tasks.decision_transformer import BufferedDecisionTransformer, ObservationAutoencoder
from hopfield.tasks.memory_buffer import AssociativeMemoryBuffer


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _window(batch: int, steps: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    rtg = -torch.randint(1, 20, (batch, steps), generator=g).float()
    obs = torch.randn(batch, steps, dim, generator=g)
    actions = torch.randint(0, 4, (batch, steps), generator=g)
    timesteps = torch.arange(steps).expand(batch, -1).clone()
    valid = torch.ones(batch, steps, dtype=torch.bool)
    return rtg, obs, actions, timesteps, valid


def _buffered(dim: int = 6, key_dim: int = 4) -> BufferedDecisionTransformer:
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Linear(dim, key_dim), torch.nn.Tanh())
    keys = torch.nn.functional.normalize(torch.randn(5, key_dim), dim=1)
    buffer = AssociativeMemoryBuffer(keys, torch.randn(5, 3), beta=5.0)
    return BufferedDecisionTransformer(
        dim, 4, 20, context=4, width=16, heads=2, buffer=buffer, encoder=encoder
    )


def test_autoencoder_latents_are_unit_norm_and_fit_lowers_the_loss() -> None:
    g = torch.Generator().manual_seed(1)
    maze = make_maze(7, 0.2, g)
    cells = torch.tensor(maze.free_cells(), dtype=torch.float32)
    obs = render_observations(maze, cells, 0.02, g)
    torch.manual_seed(0)
    autoencoder = ObservationAutoencoder(49, latent_dim=6, hidden=32)
    torch.testing.assert_close(autoencoder.encode(obs).norm(dim=1), torch.ones(len(cells)))
    before = autoencoder.reconstruction_loss(obs).item()
    losses = autoencoder.fit(obs, steps=300, batch_size=64, lr=3e-3, generator=g)
    assert len(losses) == 300
    assert autoencoder.reconstruction_loss(obs).item() < 0.3 * before


@torch.no_grad()
def test_decision_transformer_is_causal_and_ignores_padding() -> None:
    torch.manual_seed(0)
    policy = BufferedDecisionTransformer(6, 4, 20, context=4, width=16, heads=2)
    rtg, obs, actions, timesteps, valid = _window(3, 4, 6)
    logits = policy(rtg, obs, actions, timesteps, valid)
    assert logits.shape == (3, 4, 4)
    later = obs.clone()
    later[:, 2:] += 1.0
    changed_actions = actions.clone()
    changed_actions[:, 1] = (actions[:, 1] + 1) % 4  # a_1 must not change the logits at t ≤ 1
    moved = policy(rtg, later, changed_actions, timesteps, valid)
    torch.testing.assert_close(moved[:, :2], logits[:, :2])
    assert float((moved[:, 2:] - logits[:, 2:]).abs().max()) > 1e-4
    padded = valid.clone()
    padded[:, :2] = False  # left padding: its content must not reach the valid steps
    noisy = obs.clone()
    noisy[:, :2] = torch.randn(3, 2, 6)
    torch.testing.assert_close(
        policy(rtg, noisy, actions, timesteps, padded)[:, 2:],
        policy(rtg, obs, actions, timesteps, padded)[:, 2:],
    )


def test_buffer_and_encoder_stay_frozen_and_gradients_reach_the_read() -> None:
    policy = _buffered()
    assert policy.encoder is not None and policy.buffer is not None
    assert policy.query_map is not None and policy.read_embedding is not None
    torch.testing.assert_close(policy.query_map.weight, torch.eye(4))  # identity at start
    encoder_before = [p.detach().clone() for p in policy.encoder.parameters()]
    keys_before = policy.buffer.keys.clone()
    optimizer = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=0.1)
    loss = policy.loss(*_window(5, 4, 6))
    loss.backward()
    assert policy.query_map.weight.grad is not None
    assert float(policy.query_map.weight.grad.abs().sum()) > 0
    assert policy.read_embedding.weight.grad is not None
    assert all(p.grad is None and not p.requires_grad for p in policy.encoder.parameters())
    optimizer.step()
    assert torch.equal(policy.buffer.keys, keys_before)
    for before, after in zip(encoder_before, policy.encoder.parameters(), strict=True):
        assert torch.equal(before, after)


def test_autoencoder_buffer_returns_the_expert_action_of_a_stored_observation() -> None:
    g = torch.Generator().manual_seed(0)
    maze = make_maze(7, 0.3, g)
    expert = sequence_data(maze, expert_trajectories(maze, 3, g), 0.0, g)
    torch.manual_seed(0)
    autoencoder = ObservationAutoencoder(49, latent_dim=8)
    cells = torch.tensor(maze.free_cells(), dtype=torch.float32)
    autoencoder.fit(render_observations(maze, cells, 0.0, g), steps=400, batch_size=64, generator=g)
    buffer, encoder = build_autoencoder_buffer(maze, expert, autoencoder, beta=500.0)
    read = buffer.read(encoder(expert.observations)).detach()
    # a cell visited by several expert steps stores one action (BFS is deterministic)
    assert torch.equal(read[:, :4].argmax(dim=1), expert.actions)
    assert float(read[:, :4].max(dim=1).values.min()) > 0.9


def test_windows_left_pad_at_the_start_of_a_trajectory() -> None:
    g = torch.Generator().manual_seed(2)
    maze = make_maze(7, 0.2, g)
    data = sequence_data(maze, behaviour_trajectories(maze, 3, g), 0.0, g)
    rtg, obs, actions, timesteps, valid = windows(data, torch.tensor([0, 2]), 4, 4)
    assert valid[0].tolist() == [False, False, False, True]
    assert actions[0, :3].tolist() == [4, 4, 4] and float(obs[0, :3].abs().sum()) == 0
    assert timesteps[0, 3] == 0 and float(rtg[0, 3]) == float(data.returns_to_go[0])
    if int(data.first[2]) == 0:  # the first trajectory has at least three steps
        assert valid[1].tolist() == [False, True, True, True]
        assert timesteps[1, 1:].tolist() == [0, 1, 2]


def test_peak_rbf_encoder_finds_the_agent_cell() -> None:
    g = torch.Generator().manual_seed(3)
    maze = make_maze(7, 0.2, g)
    cells = torch.tensor(maze.free_cells(), dtype=torch.float32)
    encoder = ImagePeakRBFEncoder(7)
    phi = encoder(render_observations(maze, cells, 0.05, g))
    exact = encoder.coordinates(cells / 6)
    torch.testing.assert_close(phi, exact)


def test_sequence_policy_trains_and_evaluates_on_a_small_maze() -> None:
    g = torch.Generator().manual_seed(4)
    maze = make_maze(5, 0.2, g)
    data = sequence_data(maze, expert_trajectories(maze, 40, g), 0.02, g)
    torch.manual_seed(0)
    policy = BufferedDecisionTransformer(25, 4, maze.horizon, context=4, width=16)
    losses = train_sequence_policy(policy, data, steps=150, batch_size=32, lr=3e-3, generator=g)
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    mean_return = evaluate_sequence_policy(maze, policy, 0.02, g)
    optimal = -float(torch.tensor([float(maze.distance[c]) for c in maze.free_cells()]).mean())
    assert -maze.horizon <= mean_return <= optimal


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="encoder must be given"):
        BufferedDecisionTransformer(
            6, 4, 20, buffer=AssociativeMemoryBuffer(torch.randn(3, 2), torch.randn(3, 2))
        )
    with pytest.raises(ValueError, match="multiple of heads"):
        BufferedDecisionTransformer(6, 4, 20, width=15, heads=2)
    with pytest.raises(ValueError, match="context"):
        BufferedDecisionTransformer(6, 4, 20, context=0)
    policy = BufferedDecisionTransformer(6, 4, 20, context=4, width=16)
    rtg, obs, actions, timesteps, valid = _window(2, 5, 6)
    with pytest.raises(ValueError, match="observations must have shape"):
        policy(rtg, obs, actions, timesteps, valid)  # 5 steps > context 4
    bad = obs[:, :4].clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="observations"):
        policy(rtg[:, :4], bad, actions[:, :4], timesteps[:, :4], valid[:, :4])
    with pytest.raises(ValueError, match="observations must have shape"):
        ObservationAutoencoder(6).encode(torch.randn(2, 5))
    with pytest.raises(ValueError, match="no buffer"):
        policy.read_buffer(torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"timesteps must have shape \(2, 4\)"):
        policy(rtg[:, :4], obs[:, :4], actions[:, :4], timesteps[:, :3], valid[:, :4])
    empty = policy(rtg[:0, :4], obs[:0, :4], actions[:0, :4], timesteps[:0, :4], valid[:0, :4])
    assert empty.shape == (0, 4, 4)
    assert ObservationAutoencoder(6).encode(torch.randn(0, 6)).shape == (0, 8)
