"""Distributed associative memory by online convex optimisation (Wang, Zecchin & Simeone 2025)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from hopfield.distributed.launch import launch_local
from hopfield.models.linear import LinearAssociativeMemory
from hopfield.tasks.distributed_am import (
    association_stream,
    hindsight_losses,
    loglog_slope,
    routing_trees,
    run_agent,
    simulate,
    step_sizes,
)

PATH_GRAPH = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]])


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _stream(rounds: int, agents: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return association_stream(rounds, agents, 3, 2, generator=torch.Generator().manual_seed(seed))


def test_routing_trees_are_bfs_shortest_path_trees() -> None:
    trees = routing_trees(PATH_GRAPH)
    hops = torch.tensor([[abs(k - j) for j in range(4)] for k in range(4)])
    assert torch.equal(trees.delays, hops)
    for source in range(4):
        for node in range(4):
            parent = int(trees.parents[source, node])
            if node == source:
                assert parent == -1
            else:  # the parent is a neighbour one hop closer to the source
                assert PATH_GRAPH[node, parent] == 1
                assert trees.delays[parent, source] == trees.delays[node, source] - 1
    star = torch.zeros(4, 4, dtype=torch.long)
    star[0, 1:] = star[1:, 0] = 1
    assert int(routing_trees(star).delays.max()) == 2


def test_unreachable_interest_and_asymmetric_graph_are_rejected() -> None:
    split = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    interest = torch.ones(3, 3)
    with pytest.raises(ValueError, match="cannot reach"):
        routing_trees(split, interest)
    routing_trees(split, torch.eye(3))  # only own associations: fine
    with pytest.raises(ValueError, match="symmetric"):
        routing_trees(torch.tensor([[0, 1], [0, 0]]))


def test_single_agent_without_delay_is_the_delta_rule() -> None:
    keys, values = association_stream(120, 1, 4, 3, generator=torch.Generator().manual_seed(1))
    for schedule in ("inv_sqrt", "constant"):
        result = simulate(
            keys,
            values,
            torch.ones(1, 1),
            torch.zeros(1, 1, dtype=torch.long),
            eta0=0.7,
            schedule=schedule,
        )
        memory = LinearAssociativeMemory(4, 3).double()
        for t, eta in enumerate(step_sizes(120, 0.7, schedule).tolist()):
            memory.write_delta(keys[t], values[t], lr=eta)  # β = η_t
        torch.testing.assert_close(result.memories[0], memory.weight, rtol=0, atol=1e-12)
    # the losses are the pre-update errors of the delta rule
    errors = keys[0, 0] @ torch.zeros(4, 3, dtype=torch.float64) - values[0, 0]
    assert float(result.losses[0, 0]) == pytest.approx(0.5 * float(errors.square().sum()))


def test_delayed_data_only_arrives_after_its_hop_count() -> None:
    keys, values = _stream(5, 4)
    delays = routing_trees(PATH_GRAPH).delays
    interest = torch.zeros(4, 4)
    interest[0, 3] = 1.0  # agent 0 only wants agent 3's associations, 3 hops away
    result = simulate(keys, values, interest, delays, eta0=0.5)
    assert torch.equal(result.losses[:3, 0], torch.zeros(3, dtype=torch.float64))
    expected = 0.5 * float(values[0, 3].square().sum())  # W = 0 still, sees ν_{3,1}
    assert float(result.losses[3, 0]) == pytest.approx(expected)


def test_hindsight_minimum_matches_least_squares() -> None:
    keys, values = _stream(40, 3, seed=2)
    interest = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    delays = routing_trees(torch.ones(3, 3) - torch.eye(3)).delays
    best = hindsight_losses(keys, values, interest, delays, torch.tensor([40]))
    for k in range(3):
        rows, targets = [], []
        for j in range(3):
            last = 40 - int(delays[k, j])
            w = float(interest[k, j]) ** 0.5
            if w > 0:
                rows.append(w * keys[:last, j])
                targets.append(w * values[:last, j])
        a, b = torch.cat(rows), torch.cat(targets)
        solution = torch.linalg.lstsq(a, b).solution  # (d_k, d_v)
        expected = 0.5 * float((a @ solution - b).square().sum())
        assert float(best[0, k]) == pytest.approx(expected, rel=1e-9)


def test_regret_grows_sublinearly_over_ten_thousand_rounds() -> None:
    keys, values = association_stream(10_000, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    interest = torch.ones(3, 3)
    delays = routing_trees(PATH_GRAPH[:3, :3], interest).delays
    result = simulate(keys, values, interest, delays, eta0=0.5)
    slope = loglog_slope(result.checkpoints, result.regret, start=100)
    assert slope < 0.8, slope
    per_round = result.regret / result.checkpoints
    assert float(per_round[-1]) < 0.5 * float(per_round[result.checkpoints >= 100][0])


def test_constant_step_does_not_give_vanishing_regret_per_round() -> None:
    """The same check fails for a non-decaying step: the test can tell the difference."""
    keys, values = association_stream(3000, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    result = simulate(
        keys,
        values,
        torch.ones(1, 1),
        torch.zeros(1, 1, dtype=torch.long),
        eta0=1.5,
        schedule="constant",
    )
    assert loglog_slope(result.checkpoints, result.regret, start=100) > 0.8


def test_inputs_are_validated() -> None:
    keys, values = _stream(4, 2)
    with pytest.raises(ValueError, match="interest must have shape"):
        simulate(keys, values, torch.ones(2, 3), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="K = 3 agents"):
        simulate(keys, values, torch.ones(3, 3), torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="delays must be"):
        simulate(keys, values, torch.ones(2, 2), -torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="schedule"):
        step_sizes(3, 0.1, "cosine")


def test_gloo_processes_equal_the_simulation(tmp_path: Path) -> None:
    keys, values = _stream(30, 3, seed=3)
    interest = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 0.5], [1.0, 0.0, 1.0]])
    delays = routing_trees(PATH_GRAPH[:3, :3], interest).delays
    out = tmp_path / "gloo.pt"
    launch_local(
        run_agent, 3, (keys, values, interest, delays, 0.5, "inv_sqrt", str(out)), timeout_s=30.0
    )
    gloo = torch.load(out)
    result = simulate(keys, values, interest, delays, eta0=0.5)
    torch.testing.assert_close(gloo["memories"], result.memories, rtol=0, atol=1e-12)
    torch.testing.assert_close(gloo["losses"], result.losses, rtol=0, atol=1e-12)
    assert float(result.memories.abs().max()) > 0.01  # something was learned
