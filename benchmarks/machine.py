"""This machine's measured ceilings, shared by every benchmark.

Each benchmark states how close a kernel comes to the machine's fp32 matmul rate
(compute bound) and copy bandwidth (memory bound), measured in the same run, so the
numbers are read against what this machine did at that moment, not a datasheet.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["best_seconds", "interleaved_medians", "measure_ceilings"]


def best_seconds(
    fn: Callable[[], object], repeats: int, device: torch.device | str = "cpu"
) -> float:
    """Best wall time of ``fn`` over ``repeats`` calls after one warm-up (CUDA-synchronised)."""
    synchronize = torch.cuda.synchronize if torch.device(device).type == "cuda" else None
    fn()
    best = float("inf")
    for _ in range(repeats):
        if synchronize:
            synchronize()
        start = time.perf_counter()
        fn()
        if synchronize:
            synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def interleaved_medians(
    steps: dict[str, Callable[[], object]],
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per step over ``repeats`` rounds; every round runs each step once
    (after one warm-up each), so a burst of load from other processes hits all steps
    alike and their ratios stay meaningful on a shared machine. ``clock``:
    ``time.process_time`` counts only this process's CPU time (for one thread on a
    loaded machine)."""
    for step in steps.values():
        step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = clock()
            step()
            samples[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def measure_ceilings(
    *,
    matmul_size: int = 2048,
    copy_mib: int = 128,
    repeats: int = 3,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """fp32 ``matmul_gflops`` (an n×n @ n×n product, 2n³ FLOP) and ``copy_gbps``
    (a ``copy_mib`` MiB tensor copy, counted as read + write)."""
    a = torch.randn(matmul_size, matmul_size, device=device)
    b = torch.randn(matmul_size, matmul_size, device=device)
    matmul_s = best_seconds(lambda: a @ b, repeats, device)
    src = torch.empty(copy_mib * 2**20 // 4, device=device)
    dst = torch.empty_like(src)
    copy_s = best_seconds(lambda: dst.copy_(src), repeats, device)
    return {
        "matmul_gflops": 2 * matmul_size**3 / matmul_s / 1e9,
        "copy_gbps": 2 * src.numel() * 4 / copy_s / 1e9,
    }
