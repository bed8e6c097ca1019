"""ShardedMemory over gloo processes equals single-process retrieval; a dead rank
makes the others fail fast; DDP helpers keep replicas identical."""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hopfield.distributed import (
    ShardedMemory,
    default_backend,
    distributed_sampler_indices,
    free_port,
    is_main_process,
    launch_local,
    unwrap_ddp,
    world_info,
    wrap_ddp,
)
from hopfield.io.pattern_store import write_patterns
from hopfield.models.modern import ModernHopfield

NUM, DIM, BATCH, BETA = 203, 12, 5, 0.7
TIMEOUT_S = 8.0


def _patterns() -> torch.Tensor:
    return torch.randn(NUM, DIM, generator=torch.Generator().manual_seed(21))


def _queries() -> torch.Tensor:
    return torch.randn(BATCH, DIM, generator=torch.Generator().manual_seed(22))


def _results(
    memory: ShardedMemory | ModernHopfield, queries: torch.Tensor
) -> dict[str, np.ndarray]:
    recall = memory.recall(queries, steps=2)
    top = memory.retrieve_topk(queries, 7)  # one top-k API on RAM and sharded memories
    return {
        "topk_values": top.values.numpy(),
        "topk_indices": top.indices.numpy(),
        "topk_weights": top.weights.numpy(),
        "energy": memory.energy(queries).numpy(),
        "step": memory.step(queries).numpy(),
        "grad": memory.energy_grad(queries).numpy(),
        "states": recall.states.numpy(),
        "energies": recall.energies.numpy(),
    }


# --------------------------------------------------------------------------- workers
# Module-level so that spawned processes can import them.


def _retrieval_worker(rank: int, world_size: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    patterns, queries = _patterns(), _queries()
    saved: dict[str, np.ndarray] = {}
    for similarity in ("dot", "euclidean"):
        memory = ShardedMemory.from_full(patterns, BETA, similarity=similarity, chunk_size=16)
        assert memory.num_patterns == NUM and memory.local_num_patterns < NUM
        for name, value in _results(memory, queries).items():
            saved[f"{similarity}/{name}"] = value
    stored = ShardedMemory.from_store(Path(out_dir) / "patterns.safetensors", BETA)
    saved["store/step"] = stored.step(queries).numpy()
    tiny = ShardedMemory.from_full(patterns[:3], BETA)  # some ranks hold no pattern
    saved["tiny/step"] = tiny.step(queries).numpy()
    saved["tiny/topk"] = tiny.retrieve_topk(queries, 3).indices.numpy()
    for storage in ("bf16", "int8"):  # compact shards: the same codes as one RAM memory
        compact = ShardedMemory.from_full(patterns, BETA, storage=storage, chunk_size=16)
        saved[f"{storage}/step"] = compact.step(queries).numpy()
        saved[f"{storage}/energy"] = compact.energy(queries).numpy()
    saved["offset"] = np.array([memory.offset, memory.local_num_patterns])
    saved["empty"] = memory.recall(torch.zeros(0, DIM), steps=2).states.numpy()
    try:
        memory.step(torch.full((1, DIM), 1e39, dtype=torch.float64))  # inf in float32
        saved["huge"] = np.array("no error")
    except ValueError as error:
        saved["huge"] = np.array(str(error))
    np.savez(Path(out_dir) / f"rank{rank}.npz", **saved)


def _dying_worker(rank: int, world_size: int, out_dir: str) -> None:
    if rank == world_size - 1:
        os._exit(3)  # dies abruptly after joining the group, before any collective
    start = time.monotonic()
    try:
        memory = ShardedMemory.from_full(_patterns(), BETA)
        memory.step(_queries())
    except Exception as error:
        outcome = {
            "error": type(error).__name__,
            "message": str(error)[:300],
            "elapsed": time.monotonic() - start,
        }
        (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(outcome))
        raise
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps({"error": None}))


def _absent_worker(rank: int, world_size: int, out_dir: str) -> None:
    if rank == world_size - 1:
        time.sleep(TIMEOUT_S + 4.0)  # alive, but never joins the collective
        os._exit(0)
    _dying_worker(rank, world_size, out_dir)


def _ddp_worker(rank: int, world_size: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(100 + rank)  # different init per rank: DDP must broadcast rank 0's
    model = wrap_ddp(nn.Linear(4, 2))
    inputs, targets = _ddp_data()
    local = distributed_sampler_indices(8, rank=rank, world_size=world_size, seed=5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = (model(inputs[local]) - targets[local]).square().mean()
    loss.backward()
    optimizer.step()
    state = {k: v.detach().numpy() for k, v in unwrap_ddp(model).state_dict().items()}
    state["main"] = np.array(is_main_process())
    state["world"] = np.array(world_info())
    np.savez(Path(out_dir) / f"rank{rank}.npz", **state)


def _ddp_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return torch.randn(8, 4, generator=generator), torch.randn(8, 2, generator=generator)


# --------------------------------------------------------------------------- tests


def _retrieval_and_ddp_worker(rank: int, world_size: int, out_dir: str) -> None:
    _retrieval_worker(rank, world_size, out_dir)
    _ddp_worker(rank, world_size, str(Path(out_dir) / "ddp"))


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 2-process gloo launch shared by the retrieval and DDP tests (start-up of
    the processes dominates their cost)."""
    out = tmp_path_factory.mktemp("two_ranks")
    (out / "ddp").mkdir()
    write_patterns(out / "patterns.safetensors", [_patterns()])
    launch_local(_retrieval_and_ddp_worker, 2, (str(out),), timeout_s=30.0)
    return out


def _check_retrieval(tmp_path: Path, world_size: int, *, launch: bool = True) -> None:
    if launch:
        write_patterns(tmp_path / "patterns.safetensors", [_patterns()])
        launch_local(_retrieval_worker, world_size, (str(tmp_path),), timeout_s=30.0)
    queries = _queries()
    offsets = []
    for rank in range(world_size):
        got = np.load(tmp_path / f"rank{rank}.npz")
        offsets.append(tuple(got["offset"]))
        for similarity in ("dot", "euclidean"):
            reference = ModernHopfield(BETA, similarity=similarity)
            reference.store(_patterns())
            for name, want in _results(reference, queries).items():
                torch.testing.assert_close(
                    torch.from_numpy(got[f"{similarity}/{name}"]),
                    torch.from_numpy(want),
                    rtol=1e-5,
                    atol=1e-5,
                )
        dot = ModernHopfield(BETA)
        dot.store(_patterns())
        torch.testing.assert_close(
            torch.from_numpy(got["store/step"]), dot.step(queries), rtol=1e-5, atol=1e-5
        )
        tiny = ModernHopfield(BETA)
        tiny.store(_patterns()[:3])
        torch.testing.assert_close(
            torch.from_numpy(got["tiny/step"]), tiny.step(queries), rtol=1e-5, atol=1e-5
        )
        assert np.array_equal(got["tiny/topk"], tiny.retrieve_topk(queries, 3).indices.numpy())
        assert got["empty"].shape == (0, DIM)
        for storage in ("bf16", "int8"):
            compact = ModernHopfield(BETA, storage=storage)
            compact.store(_patterns())
            for name in ("step", "energy"):
                torch.testing.assert_close(
                    torch.from_numpy(got[f"{storage}/{name}"]),
                    getattr(compact, name)(queries),
                    rtol=1e-6,
                    atol=1e-6,
                )
        assert "states contains values outside the range" in str(got["huge"])
    # The shards tile [0, K).
    assert offsets[0][0] == 0 and sum(size for _, size in offsets) == NUM
    assert all(a[0] + a[1] == b[0] for a, b in itertools.pairwise(offsets))


def test_sharded_retrieval_over_2_gloo_ranks_equals_single_process(two_ranks: Path) -> None:
    _check_retrieval(two_ranks, 2, launch=False)


@pytest.mark.slow  # 4 process start-ups: ~10 s on 2 cores
def test_sharded_retrieval_over_4_gloo_ranks_equals_single_process(tmp_path: Path) -> None:
    _check_retrieval(tmp_path, 4)


def test_dead_rank_makes_the_others_fail_within_the_timeout(tmp_path: Path) -> None:
    start = time.monotonic()
    codes = launch_local(
        _dying_worker, 3, (str(tmp_path),), timeout_s=TIMEOUT_S, join_timeout_s=25.0, check=False
    )
    wall = time.monotonic() - start
    assert codes[2] == 3
    assert codes[0] != 0 and codes[1] != 0  # survivors exited with an error, no hang
    for rank in (0, 1):
        outcome = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert outcome["error"] == "RuntimeError", outcome
        assert "a peer rank died" in outcome["message"], outcome
        assert outcome["elapsed"] < TIMEOUT_S + 2.0, outcome
    assert wall < 30.0


@pytest.mark.slow
def test_absent_rank_makes_the_others_fail_at_the_timeout(tmp_path: Path) -> None:
    codes = launch_local(
        _absent_worker, 3, (str(tmp_path),), timeout_s=TIMEOUT_S, join_timeout_s=40.0, check=False
    )
    assert codes[0] != 0 and codes[1] != 0 and codes[2] == 0
    for rank in (0, 1):
        outcome = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert outcome["error"] == "RuntimeError", outcome
        assert TIMEOUT_S - 1.0 < outcome["elapsed"] < TIMEOUT_S + 3.0, outcome


def test_ddp_ranks_hold_identical_parameters_equal_to_full_batch_sgd(two_ranks: Path) -> None:
    ranks = [np.load(two_ranks / "ddp" / f"rank{rank}.npz") for rank in range(2)]
    for name in ("weight", "bias"):
        assert np.array_equal(ranks[0][name], ranks[1][name])
    assert bool(ranks[0]["main"]) and not bool(ranks[1]["main"])
    assert tuple(ranks[1]["world"]) == (1, 2)
    # Reference: rank 0's init, one SGD step on the mean loss over the whole batch
    # (equal shards: the mean of per-rank means is the global mean).
    torch.manual_seed(100)
    model = nn.Linear(4, 2)
    inputs, targets = _ddp_data()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    (model(inputs) - targets).square().mean().backward()
    optimizer.step()
    torch.testing.assert_close(
        torch.from_numpy(ranks[0]["weight"]), model.weight.detach(), rtol=1e-6, atol=1e-6
    )
    torch.testing.assert_close(
        torch.from_numpy(ranks[0]["bias"]), model.bias.detach(), rtol=1e-6, atol=1e-6
    )


# --------------------------------------------------------------------------- in-process


@pytest.mark.parametrize("num_samples", [8, 10, 3])
@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_sampler_indices_partition_the_epoch(num_samples: int, world_size: int) -> None:
    parts = [
        distributed_sampler_indices(num_samples, rank=r, world_size=world_size, epoch=1)
        for r in range(world_size)
    ]
    assert len({len(p) for p in parts}) == 1  # same count on every rank
    merged = torch.cat(parts)
    assert set(merged.tolist()) == set(range(num_samples))
    assert len(merged) == num_samples + (-num_samples) % world_size
    other_epoch = distributed_sampler_indices(num_samples, rank=0, world_size=world_size, epoch=2)
    again = distributed_sampler_indices(num_samples, rank=0, world_size=world_size, epoch=1)
    assert torch.equal(again, parts[0])
    assert num_samples < 8 or not torch.equal(other_epoch, parts[0])
    dropped = [
        distributed_sampler_indices(
            num_samples, rank=r, world_size=world_size, drop_last=True, shuffle=False
        )
        for r in range(world_size)
    ]
    assert sum(len(p) for p in dropped) == num_samples - num_samples % world_size


def test_helpers_outside_a_process_group() -> None:
    assert default_backend() in ("gloo", "nccl")
    assert 0 < free_port() < 65536
    assert world_info() == (0, 1) and is_main_process()
    model = nn.Linear(2, 2)
    assert wrap_ddp(model) is model
    with pytest.raises(RuntimeError, match="not initialised"):
        ShardedMemory(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="rank must lie in"):
        distributed_sampler_indices(4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="world_size must be an int"):
        launch_local(_ddp_worker, 0)
