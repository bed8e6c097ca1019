"""hopfield.distributed: associative memories sharded over torch.distributed ranks.

* :class:`ShardedMemory` — modern Hopfield memory (Ramsauer et al. 2020) whose
  stored patterns are split across ranks; per-rank log-sum-exp partials are merged
  exactly with ``all_reduce(MAX)`` + ``all_reduce(SUM)``.
* :mod:`hopfield.distributed.launch` — process groups with timeouts (gloo on CPU,
  NCCL on CUDA), :func:`launch_local` for tests, DDP helpers for training.
"""

from hopfield.distributed.launch import (
    DEFAULT_TIMEOUT_S,
    default_backend,
    destroy_distributed,
    distributed_sampler_indices,
    free_port,
    init_distributed,
    is_main_process,
    launch_local,
    unwrap_ddp,
    world_info,
    wrap_ddp,
)
from hopfield.distributed.sharded import ShardedMemory

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "ShardedMemory",
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
