"""Consensus baseline, drifting streams and dynamic regret for distributed AM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from hopfield.tasks.distributed_am import (
    association_stream,
    log_checkpoints,
    recall_losses,
    routing_trees,
    simulate,
)
from hopfield.tasks.distributed_am_baselines import (
    comparator_memories,
    consensus,
    drifting_stream,
    dynamic_regret,
    metropolis_weights,
    path_length,
    static_regret,
)

PATH = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]])
PAIRS = torch.tensor(
    [[1.0, 0, 1, 0], [0, 1.0, 0, 1], [1, 0, 1.0, 0], [0, 1, 0, 1.0]], dtype=torch.float64
)


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_metropolis_weights_are_doubly_stochastic_on_the_graph() -> None:
    weights = metropolis_weights(PATH)
    torch.testing.assert_close(weights.sum(0), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(weights, weights.T)
    assert float(weights[0, 2]) == 0.0 and float(weights[0, 1]) == pytest.approx(1 / 3)
    complete = metropolis_weights(torch.ones(4, 4) - torch.eye(4))
    torch.testing.assert_close(complete, torch.full((4, 4), 0.25, dtype=torch.float64))
    with pytest.raises(ValueError, match="symmetric"):
        metropolis_weights(torch.tensor([[0, 1], [0, 0]]))


def test_consensus_step_matches_the_update_written_out() -> None:
    keys, values = association_stream(3, 4, 3, 2, generator=torch.Generator().manual_seed(0))
    interest = PAIRS.clone()
    interest[0, 3] = 2.0
    result = consensus(keys, values, interest, PATH, eta0=0.3, schedule="constant")
    mixing = metropolis_weights(PATH)
    memories = torch.zeros(4, 2, 3, dtype=torch.float64)
    for t in range(3):
        expected = recall_losses(memories, keys[t], values[t], interest)
        torch.testing.assert_close(result.recall_losses[t], expected)
        new = []
        for k in range(4):
            mixed = sum(mixing[k, l] * memories[l] for l in range(4))
            error = memories[k] @ keys[t, k] - values[t, k]
            demand = float(interest[:, k].sum())  # how many agents want k's associations
            new.append(mixed - 0.3 * demand * torch.outer(error, keys[t, k]))
        memories = torch.stack(new)
    torch.testing.assert_close(result.memories, memories)


def test_recall_loss_is_the_interest_weighted_error_on_current_associations() -> None:
    keys, values = association_stream(1, 3, 3, 2, generator=torch.Generator().manual_seed(1))
    memories = torch.randn(3, 2, 3, dtype=torch.float64)
    interest = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.5]])
    got = recall_losses(memories, keys[0], values[0], interest)
    for k in range(3):
        want = sum(
            float(interest[k, j])
            * 0.5
            * float((memories[k] @ keys[0, j] - values[0, j]).square().sum())
            for j in range(3)
        )
        assert float(got[k]) == pytest.approx(want)


def test_drifting_stream_moves_each_map_by_drift_per_round() -> None:
    stream = drifting_stream(50, 3, 4, 2, drift=0.05, generator=torch.Generator().manual_seed(2))
    steps = stream.truths.diff(dim=0).flatten(2).norm(dim=-1)
    torch.testing.assert_close(steps, torch.full_like(steps, 0.05))
    comparators = comparator_memories(stream.truths, torch.ones(3, 3))
    torch.testing.assert_close(comparators[:, 0], stream.truths.mean(dim=1))
    assert path_length(comparators) <= 3 * 49 * 0.05 + 1e-12  # an average moves no further
    own = comparator_memories(stream.truths, torch.eye(3))
    assert path_length(own) == pytest.approx(3 * 49 * 0.05)
    fixed = drifting_stream(20, 2, 3, 3, drift=0.0, generator=torch.Generator().manual_seed(2))
    assert path_length(comparator_memories(fixed.truths, torch.eye(2))) == 0.0


def test_regrets_against_known_memories() -> None:
    """Holding the comparator gives zero dynamic regret; holding the hindsight optimum
    gives zero static regret at the last checkpoint."""
    stream = drifting_stream(200, 2, 3, 2, drift=0.0, generator=torch.Generator().manual_seed(3))
    interest = torch.eye(2, dtype=torch.float64)
    checkpoints = torch.tensor([50, 200])
    truth = comparator_memories(stream.truths, interest)
    recall = torch.stack(
        [recall_losses(truth[t], stream.keys[t], stream.values[t], interest) for t in range(200)]
    )
    dynamic = dynamic_regret(recall, stream.keys, stream.values, interest, truth, checkpoints)
    torch.testing.assert_close(dynamic, torch.zeros(2, dtype=torch.float64))
    static = static_regret(recall, stream.keys, stream.values, interest, checkpoints)
    assert bool((static >= 0).all())  # the truth is not better than least squares in hindsight
    best = torch.stack(
        [torch.linalg.lstsq(stream.keys[:, j], stream.values[:, j]).solution.T for j in range(2)]
    )
    recall = torch.stack(
        [recall_losses(best, stream.keys[t], stream.values[t], interest) for t in range(200)]
    )
    static = static_regret(recall, stream.keys, stream.values, interest, checkpoints)
    assert float(static[-1]) == pytest.approx(0.0, abs=1e-9)


def test_tree_beats_consensus_when_interests_differ() -> None:
    """With different targets per agent, consensus converges to a compromise: linear
    regret; the tree protocol stays sublinear."""
    stream = drifting_stream(1500, 4, 4, 4, drift=0.0, generator=torch.Generator().manual_seed(4))
    checkpoints = log_checkpoints(1500)
    tree = simulate(stream.keys, stream.values, PAIRS, routing_trees(PATH, PAIRS).delays, eta0=0.5)
    gossip = consensus(stream.keys, stream.values, PAIRS, PATH, eta0=0.5)
    regrets = [
        static_regret(r, stream.keys, stream.values, PAIRS, checkpoints)
        for r in (tree.recall_losses, gossip.recall_losses)
    ]
    assert float(regrets[1][-1]) > 10 * float(regrets[0][-1])
    per_round = regrets[1] / checkpoints
    assert float(per_round[-1]) > 0.5 * float(per_round[checkpoints >= 100][0])  # not vanishing


def test_consensus_reaches_the_common_target_with_equal_interests() -> None:
    stream = drifting_stream(3000, 4, 3, 2, drift=0.0, generator=torch.Generator().manual_seed(5))
    gossip = consensus(stream.keys, stream.values, torch.ones(4, 4), PATH, eta0=0.5)
    target = stream.truths[0].mean(dim=0)  # least squares over all agents' data → mean map
    assert float((gossip.memories - target).abs().max()) < 0.1


def test_consensus_inputs_are_validated() -> None:
    keys, values = association_stream(4, 2, 3, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="shape"):
        consensus(keys, values, torch.ones(3, 3), torch.ones(2, 2) - torch.eye(2))
    with pytest.raises(ValueError, match="non-negative"):
        consensus(keys, values, -torch.ones(2, 2), torch.ones(2, 2) - torch.eye(2))
    with pytest.raises(ValueError, match="drift"):
        drifting_stream(3, 1, 2, 2, drift=-1.0, generator=torch.Generator())
    bad = keys.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="keys"):
        consensus(bad, values, torch.ones(2, 2), torch.ones(2, 2) - torch.eye(2))
