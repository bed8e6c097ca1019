"""Benchmark: compact pattern stores (bf16, fp16, int8 + scale) against our float32 path.

One retrieval step ``x ← Ξᵀ softmax(β Ξ x)`` of :class:`hopfield.models.ModernHopfield`
(Ramsauer et al. 2020) with ``B`` queries over ``K`` random patterns of dimension
``D = 256``, ``β = 1/√D``, for each ``storage=`` option of
:mod:`hopfield.models.storage` (arithmetic in float32; compact codes widened one
cache-sized block at a time).

Printed per case, all measured in the same run with interleaved repeats (median),
so that a shared machine slows every column alike:

* ``ms`` and ``×fp32``: our time and the speed-up over our float32 path;
* ``%floor``: the time a plain reduction (``codes.sum()``, measured here on the
  float32 patterns and scaled to the bytes of each store) would take over ours;
* ``recall``: fraction of stored patterns (used as queries, one step) whose nearest
  stored pattern after the step is themselves; ``same``: fraction whose result
  picks the same pattern as the float32 memory;
* ``ΔE``: largest ``|E − E_fp32|`` on the queries, and relative to ``|E_fp32|``.

Target (issue 14): bf16 ≥ 1.8× our float32 time at ``B = 1, K = 1e5`` with identical
recall. Usage: ``python benchmarks/bench_storage.py [--quick] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import machine
from hopfield.models.modern import ModernHopfield

__all__ = ["main"]

DIM = 256
STORAGES = ("full", "bf16", "fp16", "int8")
RECALL_QUERIES = 256


def _interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in turn within every repeat."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _accuracy(
    memories: dict[str, ModernHopfield], patterns: torch.Tensor, beta: float
) -> dict[str, dict[str, float]]:
    queries = patterns[:RECALL_QUERIES]
    own = torch.arange(queries.shape[0])
    picks = {
        name: torch.cdist(memory.step(queries), patterns).argmin(dim=1)
        for name, memory in memories.items()
    }
    reference = memories["full"].energy(queries).double()
    result = {}
    for name, memory in memories.items():
        error = (memory.energy(queries).double() - reference).abs()
        result[name] = {
            "recall": float((picks[name] == own).double().mean()),
            "same_as_fp32": float((picks[name] == picks["full"]).double().mean()),
            "energy_abs_error": float(error.max()),
            "energy_rel_error": float((error / reference.abs().clamp_min(1e-30)).max()),
        }
    return result


def run_case(
    num_patterns: int, batch: int, repeats: int, generator: torch.Generator
) -> list[dict[str, Any]]:
    """Time one step of every storage at ``(K, B)``; returns one row per storage."""
    beta = 1.0 / math.sqrt(DIM)
    patterns = torch.randn(num_patterns, DIM, generator=generator)
    memories = {}
    for storage in STORAGES:
        memories[storage] = ModernHopfield(beta, storage=storage)
        memories[storage].store(patterns)
    noise = 0.5 * torch.randn(batch, DIM, generator=generator)
    queries = patterns[:batch] + noise
    fns: dict[str, Callable[[], object]] = {
        name: (lambda m=memory: m.step(queries)) for name, memory in memories.items()
    }
    fns["floor"] = patterns.sum
    with torch.no_grad():
        seconds = _interleaved(fns, repeats)
        accuracy = _accuracy(memories, patterns, beta)
    floor_gbps = patterns.numel() * 4 / seconds["floor"] / 1e9
    rows = []
    for name, memory in memories.items():
        codes = memory.patterns
        nbytes = codes.numel() * codes.element_size() + memory.scales.numel() * 4
        floor_s = nbytes / (floor_gbps * 1e9)
        rows.append(
            {
                "storage": name,
                "K": num_patterns,
                "B": batch,
                "D": DIM,
                "ms": 1e3 * seconds[name],
                "speedup_vs_fp32": seconds["full"] / seconds[name],
                "bytes": nbytes,
                "floor_ms": 1e3 * floor_s,
                "pct_of_floor": 100.0 * floor_s / seconds[name],
                "reduction_gbps": floor_gbps,
                **accuracy[name],
            }
        )
    return rows


def _print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['storage']:>5} {row['K']:>8} {row['B']:>4} {row['ms']:>9.2f} "
        f"{row['speedup_vs_fp32']:>6.2f}x {row['floor_ms']:>8.2f} {row['pct_of_floor']:>6.1f}% "
        f"{row['recall']:>7.3f} {row['same_as_fp32']:>6.3f} {row['energy_abs_error']:>9.2e} "
        f"{row['energy_rel_error']:>9.2e}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="K = 1e5, B = 1 only")
    parser.add_argument("--out", default="benchmarks/results/bench_storage.json", help="JSON")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved repeats")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cases = [(10**5, 1)] if args.quick else [(10**5, 1), (10**5, 64), (10**6, 1)]
    load = os.getloadavg()[0]
    ceilings = machine.measure_ceilings()
    print(
        f"threads={torch.get_num_threads()} matmul={ceilings['matmul_gflops']:.1f} GFLOP/s "
        f"copy={ceilings['copy_gbps']:.1f} GB/s load average {load:.1f}"
    )
    print(
        f"{'store':>5} {'K':>8} {'B':>4} {'ms':>9} {'×fp32':>7} {'floor':>8} {'%floor':>7} "
        f"{'recall':>7} {'same':>6} {'ΔE':>9} {'ΔE/|E|':>9}"
    )
    generator = torch.Generator().manual_seed(args.seed)
    rows: list[dict[str, Any]] = []
    for num_patterns, batch in cases:
        for row in run_case(num_patterns, batch, args.repeats, generator):
            rows.append(row)
            _print_row(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "bench_storage",
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": {"before": load, "after": os.getloadavg()[0]},
        "ceilings": ceilings,
        "timing": "median of interleaved repeats after one warm-up",
        "rows": rows,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
