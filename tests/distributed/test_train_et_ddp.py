"""Data-parallel Energy Transformer training over 2 gloo ranks (torch.distributed DDP).

One 2-process launch (process start-up dominates the cost) trains a tiny ET on the
digits and records, per rank, the final weights, history, logs, a split-and-resumed
run, a run with ``et_steps = 0`` (unused parameters) and a ``--distributed`` CLI
run. The tests then check: both ranks hold bit-identical weights; the 2-rank run
with per-rank batch ``b`` equals a single-process run with batch ``2b`` on the same
images and masks (and differs from one on ``b`` images, so the split matters); only
rank 0 logs and writes; resuming in distributed mode equals the straight run.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from safetensors.numpy import load_file, save_file

from hopfield.cli import main
from hopfield.distributed import launch_local
from hopfield.experiments.train_et import (
    TrainConfig,
    _load_images,
    _may_leave_parameters_unused,
    build_model,
    load_training_checkpoint,
    masked_mse,
    train,
)
from hopfield.models.energy_transformer_patches import patchify, random_patch_mask

WORLD = 2
PER_RANK = 4
TINY = TrainConfig(
    steps=3,
    batch_size=WORLD * PER_RANK,  # global batch; each rank trains on PER_RANK rows
    num_features=16,
    num_heads=2,
    head_dim=8,
    num_memories=32,
    et_steps=2,
    eval_every=2,
    eval_images=15,  # odd: the ranks score slices of 8 and 7 images
    checkpoint_every=2,
    warmup=1,
    device="cpu",
)
CLI_ARGS = [
    "train",
    "et",
    "--distributed",
    "--steps",
    "2",
    "--batch-size",
    "4",
    "--num-features",
    "8",
    "--num-heads",
    "1",
    "--head-dim",
    "4",
    "--num-memories",
    "8",
    "--et-steps",
    "1",
    "--eval-every",
    "2",
    "--eval-images",
    "8",
    "--device",
    "cpu",
    "--no-progress",
]


def _quiet(_: str) -> None:
    pass


def _weights(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- worker
# Module-level so that spawned processes can import it.


def _ddp_train_worker(rank: int, world_size: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    out = Path(out_dir)
    logs: list[str] = []
    result = train(TINY, out_dir=out / f"run{rank}", progress=False, report=False, log=logs.append)
    save_file(_weights(result.model), out / f"final{rank}.safetensors")
    record = {"logs": logs, "history": result.history, "metrics": result.metrics}
    record["out_dir"] = None if result.out_dir is None else str(result.out_dir)
    # Split run: stop at step 2 (rank 0 checkpoints), then every rank resumes from it.
    train(TINY, out_dir=out / f"split{rank}", progress=False, report=False, stop_after=2)
    dist.barrier()  # rank 0's checkpoint is on disk before anyone reads it
    resumed = train(
        TINY, resume=out / "split0" / "checkpoint.safetensors", progress=False, report=False
    )
    save_file(_weights(resumed.model), out / f"resumed{rank}.safetensors")
    # et_steps = 0: the block and the CLS token get no gradient (find_unused_parameters).
    unused = train(replace(TINY, et_steps=0, steps=2), progress=False, report=False, log=_quiet)
    save_file(_weights(unused.model), out / f"unused{rank}.safetensors")
    try:
        train(replace(TINY, batch_size=7), progress=False, report=False)
    except ValueError as error:
        record["indivisible_error"] = str(error)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):  # last: --distributed leaves the group
        record["cli_code"] = main([*CLI_ARGS, "--out", str(out / f"cli{rank}")])
    record["cli_stdout"] = stdout.getvalue()
    (out / f"record{rank}.json").write_text(json.dumps(record))


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("et_ddp")
    launch_local(_ddp_train_worker, WORLD, (str(out),), timeout_s=60.0)
    return out


def _load(out: Path, name: str) -> list[dict[str, np.ndarray]]:
    return [load_file(out / f"{name}{rank}.safetensors") for rank in range(WORLD)]


def _records(out: Path) -> list[dict[str, object]]:
    return [json.loads((out / f"record{rank}.json").read_text()) for rank in range(WORLD)]


# --------------------------------------------------------------------------- tests


def test_ranks_hold_bit_identical_parameters(ranks: Path) -> None:
    for name in ("final", "resumed", "unused"):
        first, second = _load(ranks, name)
        assert first.keys() == second.keys()
        for key in first:
            assert np.array_equal(first[key], second[key]), (name, key)


def test_two_ranks_equal_single_process_on_the_global_batch(ranks: Path) -> None:
    single = train(TINY, progress=False, report=False, log=_quiet)
    distributed = _load(ranks, "final")[0]
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(
            torch.from_numpy(distributed[key]), value, rtol=1e-5, atol=1e-5, msg=key
        )
    record = _records(ranks)[0]
    history = record["history"]
    assert isinstance(history, list) and len(history) == len(single.history) == 2
    for got, want in zip(history, single.history, strict=True):
        assert got.keys() == want.keys()
        for key in want:  # loss (all-reduced mean) and evaluation (all-reduced sums)
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), key
    # The split matters: training on one rank's rows alone gives other weights.
    half = train(replace(TINY, batch_size=PER_RANK), progress=False, report=False, log=_quiet)
    gaps = [
        float((torch.from_numpy(distributed[k]) - v).abs().max())
        for k, v in half.model.state_dict().items()
    ]
    assert max(gaps) > 1e-3


def test_only_rank_zero_logs_and_writes_unwrapped_checkpoints(ranks: Path) -> None:
    main_record, other = _records(ranks)
    assert len(main_record["logs"]) == 2 and other["logs"] == []  # type: ignore[arg-type]
    assert main_record["out_dir"] == str(ranks / "run0") and other["out_dir"] is None
    assert not (ranks / "run1").exists() and not (ranks / "split1").exists()
    scores = [dict(r["metrics"]) for r in (main_record, other)]  # type: ignore[call-overload]
    for score in scores:
        score.pop("train_seconds")
    assert scores[0] == scores[1]  # shared evaluation: the same numbers on every rank
    model = build_model(TINY, torch.rand(10, 1, 8, 8))
    meta = load_training_checkpoint(ranks / "run0" / "checkpoint.safetensors", model, config=TINY)
    assert meta["step"] == TINY.steps
    final = _load(ranks, "final")[0]
    for key, value in model.state_dict().items():  # plain ET keys: no "module." prefix
        assert np.array_equal(value.numpy(), final[key]), key


def test_resumed_distributed_run_equals_straight_run(ranks: Path) -> None:
    straight, resumed = _load(ranks, "final")[0], _load(ranks, "resumed")[0]
    for key in straight:
        torch.testing.assert_close(
            torch.from_numpy(resumed[key]), torch.from_numpy(straight[key]), msg=key
        )


def _gradient_sizes(config: TrainConfig) -> dict[str, float | None]:
    """``max |∂loss/∂θ|`` per parameter after one masked-MSE backward (``None``: no
    gradient, the parameter is not in the autograd graph)."""
    model = build_model(config, torch.rand(10, 1, 8, 8))
    images = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = random_patch_mask(3, 16, 0.5, generator=torch.Generator().manual_seed(1))
    loss = masked_mse(model(images, mask).patches, patchify(images, 2), mask)
    loss.backward()
    return {
        name: None if p.grad is None else float(p.grad.abs().max())
        for name, p in model.named_parameters()
    }


def _no_grad_parameters(config: TrainConfig) -> set[str]:
    return {name for name, size in _gradient_sizes(config).items() if size is None}


def test_run_with_unused_parameters_equals_single_process(ranks: Path) -> None:
    """``et_steps = 0`` (DDP with ``find_unused_parameters``): parameters without a
    gradient stay at their initial value on every rank, as in one process."""
    config = replace(TINY, et_steps=0, steps=2)
    single = train(config, progress=False, report=False, log=_quiet).model
    distributed = _load(ranks, "unused")[0]
    for key, value in single.state_dict().items():
        torch.testing.assert_close(
            torch.from_numpy(distributed[key]), value, rtol=1e-5, atol=1e-5, msg=key
        )
    torch.manual_seed(config.seed)  # the trainer's initialisation (data loading first)
    init = build_model(config, _load_images(config)[0])
    frozen = _no_grad_parameters(config)
    assert frozen
    for name, value in init.named_parameters():
        if name in frozen:
            assert np.array_equal(distributed[name], value.detach().numpy()), name


def test_indivisible_global_batch_is_rejected_on_every_rank(ranks: Path) -> None:
    for record in _records(ranks):
        assert "divisible by the number of ranks (2)" in str(record["indivisible_error"])


def test_cli_distributed_flag_prints_and_writes_on_rank_zero_only(ranks: Path) -> None:
    main_record, other = _records(ranks)
    assert main_record["cli_code"] == 0 and other["cli_code"] == 0
    assert "Energy Transformer" in str(main_record["cli_stdout"])
    assert other["cli_stdout"] == ""
    assert (ranks / "cli0" / "reconstructions.png").is_file()
    assert not (ranks / "cli1").exists()


# --------------------------------------------------------------------------- in-process


@pytest.mark.parametrize("et_steps", [0, 1, 2])
def test_parameters_without_gradient_match_find_unused_parameters(et_steps: int) -> None:
    """With ``et_steps ≥ 1`` every parameter reaches the loss (the CLS token through
    attention), so DDP runs without ``find_unused_parameters``; with 0 steps the
    block's attention and memories get no gradient (and the CLS token a zero one)."""
    config = replace(TINY, et_steps=et_steps)
    sizes = _gradient_sizes(config)
    missing = {name for name, size in sizes.items() if size is None}
    assert bool(missing) == _may_leave_parameters_unused(config)
    if et_steps == 0:
        block = {"block.attention.query_weight", "block.attention.key_weight"}
        assert missing == block | {"block.hopfield.memories"}
        assert sizes["tokenizer.cls_token"] == 0.0
    else:
        assert all(size is not None and size > 0 for size in sizes.values()), sizes


def test_distributed_flag_without_torchrun_environment_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("RANK", "WORLD_SIZE", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert main([*CLI_ARGS, "--out", "unused"]) == 2
    assert "RANK is not set" in capsys.readouterr().err
