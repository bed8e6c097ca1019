"""torch.distributed plumbing: process groups with timeouts, local launches, DDP helpers.

Nothing here is home-made networking: process groups are
``torch.distributed.init_process_group`` (``env://`` rendezvous, as set by
``torchrun``), collectives are gloo (CPU) or NCCL (CUDA, chosen automatically when
CUDA is available), data parallelism is ``torch.nn.parallel.DistributedDataParallel``.

Failure behaviour (why nothing hangs):

* every group is created with ``timeout`` (:data:`DEFAULT_TIMEOUT_S` unless given),
  which bounds how long a collective waits for a peer that is alive but absent;
* a peer that *dies* closes its gloo sockets, so the survivors' pending or next
  collective raises at once (``DistBackendError``/``RuntimeError``, "Connection
  closed by peer") instead of waiting;
* :func:`launch_local` joins its workers with a deadline and terminates the
  leftovers, so a test can never hang the suite.

Use ``torchrun --nproc-per-node N script.py`` (then :func:`init_distributed` reads
``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``/``LOCAL_RANK`` from the
environment) or :func:`launch_local` from Python (tests, benchmarks).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hopfield._validation import check_positive

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "default_backend",
    "destroy_distributed",
    "distributed_sampler_indices",
    "free_port",
    "init_distributed",
    "is_main_process",
    "launch_local",
    "unwrap_ddp",
    "world_info",
    "wrap_ddp",
]

DEFAULT_TIMEOUT_S: float = 120.0
"""Default collective timeout (seconds) of the groups made by :func:`init_distributed`."""

_LOCALHOST = "127.0.0.1"


def default_backend() -> str:
    """``"nccl"`` when CUDA and NCCL are available, else ``"gloo"`` (CPU)."""
    if torch.cuda.is_available() and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def free_port(host: str = _LOCALHOST) -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it, close).

    Another process could take it before the rendezvous binds it; the window is
    tiny and a clash fails loudly (address in use), never silently.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise ValueError(
            f"{name} is not set: pass rank and world_size explicitly or launch with torchrun"
        )
    return int(value)


def init_distributed(
    backend: str | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    rank: int | None = None,
    world_size: int | None = None,
) -> None:
    """Join the default process group (no-op if already initialised).

    ``backend`` defaults to :func:`default_backend`; ``rank``/``world_size`` default
    to the ``RANK``/``WORLD_SIZE`` environment variables (set by ``torchrun``); the
    rendezvous is ``env://`` (``MASTER_ADDR``, ``MASTER_PORT``; ``MASTER_ADDR``
    defaults to 127.0.0.1). ``timeout_s`` bounds every collective of the group.
    With NCCL the current CUDA device is set to ``LOCAL_RANK``.
    """
    if dist.is_initialized():
        return
    timeout_s = check_positive(timeout_s, "timeout_s")
    backend = default_backend() if backend is None else backend
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    rank = _env_int("RANK") if rank is None else rank
    world_size = _env_int("WORLD_SIZE") if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must lie in [0, world_size={world_size}), got {rank}")
    os.environ.setdefault("MASTER_ADDR", _LOCALHOST)
    if "MASTER_PORT" not in os.environ:
        raise ValueError("MASTER_PORT is not set: launch with torchrun or launch_local")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    dist.init_process_group(
        backend,
        init_method="env://",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
    )


def destroy_distributed(*, barrier: bool = False) -> None:
    """Leave and destroy the default process group (no-op if none).

    ``barrier=True`` (use it when the rank's work succeeded) first waits until every
    rank is done communicating: a rank that tears its sockets down while a peer's gloo
    threads still use the connection makes that peer abort ("terminate called without
    an active exception", SIGABRT), seen in about one 2-rank launch in 15 without it.
    """
    if dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()


def world_info(process_group: dist.ProcessGroup | None = None) -> tuple[int, int]:
    """``(rank, world_size)`` in ``process_group`` (``(0, 1)`` when not distributed)."""
    if not dist.is_available() or not dist.is_initialized():
        return 0, 1
    return dist.get_rank(process_group), dist.get_world_size(process_group)


def is_main_process(process_group: dist.ProcessGroup | None = None) -> bool:
    """True on rank 0 (and when not distributed): the rank that logs and saves."""
    return world_info(process_group)[0] == 0


# --------------------------------------------------------------------------- launching


def _worker(
    rank: int,
    world_size: int,
    port: int,
    backend: str,
    timeout_s: float,
    fn: Callable[..., None],
    args: tuple[Any, ...],
) -> None:
    os.environ.update(
        MASTER_ADDR=_LOCALHOST,
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
    )
    init_distributed(backend, timeout_s=timeout_s, rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
    except BaseException:
        destroy_distributed()
        raise
    destroy_distributed(barrier=True)


def launch_local(
    fn: Callable[..., None],
    world_size: int,
    args: Sequence[Any] = (),
    *,
    backend: str = "gloo",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    join_timeout_s: float | None = None,
    check: bool = True,
) -> list[int]:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` fresh processes.

    Processes are started with ``torch.multiprocessing`` (``spawn``), each joins a
    ``backend`` group on a free local port with collective timeout ``timeout_s``,
    and leaves it when ``fn`` returns or raises. ``fn`` must be importable (a
    module-level function). All processes are joined within ``join_timeout_s``
    (default ``2·timeout_s + 60``); leftovers are terminated and ``TimeoutError`` is
    raised. Returns the exit codes by rank; with ``check`` a non-zero code raises
    ``RuntimeError``.
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an int ≥ 1, got {world_size!r}")
    timeout_s = check_positive(timeout_s, "timeout_s")
    deadline_s = 2 * timeout_s + 60 if join_timeout_s is None else join_timeout_s
    context = mp.get_context("spawn")
    port = free_port()
    processes = [
        context.Process(
            target=_worker,
            args=(rank, world_size, port, backend, timeout_s, fn, tuple(args)),
            daemon=False,
        )
        for rank in range(world_size)
    ]
    for process in processes:
        process.start()
    deadline = time.monotonic() + deadline_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    stuck = [rank for rank, process in enumerate(processes) if process.is_alive()]
    for rank in stuck:
        processes[rank].kill()
        processes[rank].join()
    if stuck:
        raise TimeoutError(f"ranks {stuck} did not finish within {deadline_s:.0f} s; killed")
    codes = [int(process.exitcode or 0) for process in processes]
    if check and any(codes):
        raise RuntimeError(f"workers failed: exit codes by rank {codes}")
    return codes


# --------------------------------------------------------------------------- training


def wrap_ddp(
    model: nn.Module,
    *,
    process_group: dist.ProcessGroup | None = None,
    **ddp_kwargs: Any,
) -> nn.Module:
    """Wrap ``model`` in ``DistributedDataParallel`` when a group is active.

    DDP broadcasts rank 0's parameters at construction and averages gradients in
    ``backward`` (all-reduce SUM / world size), so after each optimiser step every
    rank holds identical parameters. On CUDA models ``device_ids`` is set to the
    model's device. Without an initialised group (or with one rank) the model is
    returned unchanged, so a trainer can call this unconditionally.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if world_info(process_group)[1] == 1:
        return model
    first = next(model.parameters(), None)
    if first is not None and first.device.type == "cuda" and "device_ids" not in ddp_kwargs:
        ddp_kwargs["device_ids"] = [first.device.index]
    return DistributedDataParallel(model, process_group=process_group, **ddp_kwargs)


def unwrap_ddp(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (else ``model``)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def distributed_sampler_indices(
    num_samples: int,
    *,
    rank: int,
    world_size: int,
    epoch: int = 0,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
) -> torch.Tensor:
    """This rank's sample indices for one epoch (``torch.long``), like
    ``DistributedSampler``.

    The order is a permutation drawn from ``torch.Generator().manual_seed(seed +
    epoch)`` (or ``arange`` without ``shuffle``), identical on every rank; it is
    truncated (``drop_last``) or padded by wrapping around to a multiple of
    ``world_size``, and rank ``r`` takes positions ``r, r + W, r + 2W, …``. Every
    rank gets the same count, so collectives in the training step stay in lockstep.
    """
    for name, value in (
        ("num_samples", num_samples),
        ("rank", rank),
        ("world_size", world_size),
        ("epoch", epoch),
        ("seed", seed),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if num_samples < 1 or world_size < 1:
        raise ValueError(
            f"num_samples and world_size must be ≥ 1, got {num_samples} and {world_size}"
        )
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must lie in [0, {world_size}), got {rank}")
    if shuffle:
        generator = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(num_samples, generator=generator)
    else:
        order = torch.arange(num_samples)
    if drop_last:
        order = order[: num_samples - num_samples % world_size]
    else:
        padding = (-num_samples) % world_size
        order = torch.cat([order, order.repeat(padding // num_samples + 1)[:padding]])
    return order[rank::world_size]
