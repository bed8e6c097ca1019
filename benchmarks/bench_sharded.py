"""Benchmark: sharded retrieval over gloo ranks, and retrieval streamed from disk.

Kernel: one modern Hopfield update (Ramsauer et al. 2020) of ``B`` queries over
``K`` stored patterns of dimension ``D``: ``x ← Ξᵀ softmax(β Ξ x)``.
Counts per update: FLOP = ``2·B·K·D`` (scores) + ``2·B·K·D`` (values) = ``4·B·K·D``;
bytes = ``4·K·D`` (the patterns are read once, float32).

Part 1, sharding (:class:`hopfield.distributed.ShardedMemory`): ``P ∈ {1, 2, 4}``
gloo processes on this machine, each holding ``K/P`` patterns and one torch thread;
the time of a step is the slowest rank's (``all_reduce(MAX)`` of the per-rank time).
Parallel efficiency ``T_1 / (P·T_P)``. The slowest rank's local compute (the
partials without the collectives) is printed beside it, so communication and
contention can be told apart. With 2 cores, ``P = 4`` oversubscribes the machine:
expect efficiency ≤ 0.5 there (and less when other jobs share the cores).

Part 2, streaming (:class:`hopfield.models.streaming_memory.StreamingMemory`): the
same update with ``Ξ`` in a ``.npy`` / ``.safetensors`` file versus
:class:`~hopfield.models.modern.ModernHopfield` with ``Ξ`` in RAM. Read rate =
``4·K·D / time``. The file was just written, so it is served from the page cache
(no way to drop caches without root): this measures the copy + compute path, not
the disk.

Reference (written here): the explicit ``(B, K)`` score matrix, ``torch.softmax``
and one matmul back, single process.

Ceilings are measured in the same run: fp32 matmul rate (square ``torch.mm``) and
copy bandwidth (large tensor copy, read + write bytes).

Usage: ``python benchmarks/bench_sharded.py [--quick] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

import machine
from hopfield.distributed import ShardedMemory, launch_local
from hopfield.distributed.partition import shard_range
from hopfield.io.pattern_store import NumpyPatternStore, PatternWriter, open_store
from hopfield.models.modern import ModernHopfield
from hopfield.models.streaming_memory import StreamingMemory

__all__ = ["main"]

BETA = 0.05


# --------------------------------------------------------------------------- helpers


def naive_step(queries: torch.Tensor, patterns: torch.Tensor, beta: float) -> torch.Tensor:
    """Reference: full ``(B, K)`` scores, ``torch.softmax``, one matmul back."""
    return torch.softmax(beta * (queries @ patterns.T), dim=1) @ patterns


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Minimum wall time of ``fn`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def ceilings(quick: bool) -> dict[str, float]:
    """Measured fp32 matmul GFLOP/s and copy GB/s (read + write) of this machine."""
    return machine.measure_ceilings(matmul_size=2048, copy_mib=128, repeats=3 if quick else 5)


def in_ram_times(
    patterns: torch.Tensor, queries: torch.Tensor, repeats: int
) -> tuple[float, float]:
    """Best times of the naive reference and of ModernHopfield with ``patterns`` in RAM."""
    t_naive = best_time(lambda: naive_step(queries, patterns, BETA), repeats)
    memory = ModernHopfield(BETA)
    memory.store(patterns)
    return t_naive, best_time(lambda: memory.step(queries), repeats)


def _patterns(num: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn(num, dim, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- sharded


def _sharded_worker(
    rank: int, world_size: int, num: int, dim: int, batch: int, repeats: int, out: str
) -> None:
    torch.set_num_threads(1)
    start, stop = shard_range(num, rank, world_size)
    local = _patterns(stop - start, dim, seed=1000 + rank)
    queries = _patterns(batch, dim, seed=1)
    memory = ShardedMemory(local, BETA)
    memory.step(queries)  # warm-up
    times, local_times = [], []
    for _ in range(repeats):
        dist.barrier()
        begin = time.perf_counter()
        memory.step(queries)
        middle = time.perf_counter()
        memory._local_partials(queries, with_values=True)  # this rank's compute alone
        elapsed = torch.tensor([middle - begin, time.perf_counter() - middle], dtype=torch.float64)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        times.append(float(elapsed[0]))
        local_times.append(float(elapsed[1]))
    if rank == 0:
        Path(out).write_text(json.dumps({"time_s": min(times), "local_s": min(local_times)}))


def bench_sharded(
    num: int, dim: int, batch: int, ranks: list[int], repeats: int, flop: float, nbytes: float
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    torch.set_num_threads(1)
    queries = _patterns(batch, dim, seed=1)
    t_naive, t_model = in_ram_times(_patterns(num, dim, seed=0), queries, repeats)
    rows.append({"case": "naive (1 proc, 1 thread)", "ranks": 1, "time_s": t_naive})
    rows.append({"case": "ModernHopfield (1 proc, 1 thread)", "ranks": 1, "time_s": t_model})
    with tempfile.TemporaryDirectory() as tmp:
        for world in ranks:
            out = str(Path(tmp) / f"r{world}.json")
            launch_local(_sharded_worker, world, (num, dim, batch, repeats, out), timeout_s=300.0)
            timing = json.loads(Path(out).read_text())
            rows.append(
                {
                    "case": f"ShardedMemory gloo x{world}",
                    "ranks": world,
                    "time_s": timing["time_s"],
                    "slowest_local_compute_s": timing["local_s"],
                }
            )
    base = min((r for r in rows if r["case"].startswith("ShardedMemory")), key=lambda r: r["ranks"])
    t_one = base["time_s"] * base["ranks"]  # efficiency relative to the fewest ranks run
    for row in rows:
        row["gflops"] = flop / row["time_s"] / 1e9
        row["gbs"] = nbytes / row["time_s"] / 1e9
        row["vs_naive"] = t_naive / row["time_s"]
        if row["case"].startswith("ShardedMemory"):
            row["parallel_efficiency"] = t_one / (row["ranks"] * row["time_s"])
    return rows


# --------------------------------------------------------------------------- streaming


def bench_streaming(
    num: int, dim: int, batch: int, repeats: int, flop: float, nbytes: float, threads: int
) -> list[dict[str, Any]]:
    torch.set_num_threads(threads)
    queries = _patterns(batch, dim, seed=1)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {suffix: Path(tmp) / f"p{suffix}" for suffix in (".npy", ".safetensors")}
        for path in paths.values():
            generator = torch.Generator().manual_seed(0)
            with PatternWriter(path, dim) as writer:
                for start in range(0, num, 65536):
                    writer.append(torch.randn(min(65536, num - start), dim, generator=generator))
        t_naive, t_ram = in_ram_times(open_store(paths[".npy"]).read(), queries, repeats)
        rows.append({"case": "naive, in RAM", "time_s": t_naive})
        rows.append({"case": "ModernHopfield, in RAM", "time_s": t_ram})
        stores = {
            "StreamingMemory .npy read": open_store(paths[".npy"]),
            "StreamingMemory .npy mmap": NumpyPatternStore(paths[".npy"], access="mmap"),
            "StreamingMemory .safetensors": open_store(paths[".safetensors"]),
        }
        for case, store in stores.items():
            streamed = StreamingMemory(store, BETA)
            rows.append(
                {"case": case, "time_s": best_time(lambda s=streamed: s.step(queries), repeats)}
            )
            read_only = best_time(lambda s=store: [c for _, c in s.iter_chunks(65536)], repeats)
            rows.append({"case": case.replace("StreamingMemory", "read only"), "time_s": read_only})
            store.close()
    for row in rows:
        row["gflops"] = 0.0 if row["case"].startswith("read only") else flop / row["time_s"] / 1e9
        row["gbs"] = nbytes / row["time_s"] / 1e9
        row["vs_naive"] = t_naive / row["time_s"]
    return rows


# --------------------------------------------------------------------------- main


def _print_table(title: str, rows: list[dict[str, Any]], ceil: dict[str, float]) -> None:
    print(f"\n{title}")
    print(
        f"{'case':40s} {'time ms':>9s} {'GFLOP/s':>8s} {'%mm':>5s} {'GB/s':>7s} {'%bw':>5s} "
        f"{'×naive':>7s} {'eff':>6s}"
    )
    for row in rows:
        eff = row.get("parallel_efficiency")
        local = row.get("slowest_local_compute_s")
        print(
            f"{row['case']:40s} {1e3 * row['time_s']:9.2f} {row['gflops']:8.2f} "
            f"{100 * row['gflops'] / ceil['matmul_gflops']:5.1f} {row['gbs']:7.2f} "
            f"{100 * row['gbs'] / ceil['copy_gbps']:5.1f} {row['vs_naive']:7.2f} "
            f"{'' if eff is None else f'{eff:6.2f}':>6s}"
            + ("" if local is None else f"  (slowest rank's local compute {1e3 * local:.2f} ms)")
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_sharded.json"))
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)
    dim, batch = 128, 64
    shard_num = 100_000 if args.quick else 1_000_000
    stream_num = 200_000 if args.quick else 1_000_000
    repeats = 2 if args.quick else 5
    threads = torch.get_num_threads()
    ceil = ceilings(args.quick)
    print(
        f"ceilings: matmul {ceil['matmul_gflops']:.1f} GFLOP/s, copy {ceil['copy_gbps']:.1f} GB/s "
        f"({threads} threads)"
    )
    flop_s, bytes_s = 4.0 * batch * shard_num * dim, 4.0 * shard_num * dim
    sharded = bench_sharded(shard_num, dim, batch, args.ranks, repeats, flop_s, bytes_s)
    _print_table(
        f"sharded step: K={shard_num}, D={dim}, B={batch}; FLOP {flop_s:.3g}, "
        f"bytes {bytes_s:.3g} (1 thread per rank)",
        sharded,
        ceil,
    )
    flop_m, bytes_m = 4.0 * batch * stream_num * dim, 4.0 * stream_num * dim
    streaming = bench_streaming(stream_num, dim, batch, repeats, flop_m, bytes_m, threads)
    _print_table(
        f"streamed step: K={stream_num}, D={dim}, B={batch}; FLOP {flop_m:.3g}, "
        f"bytes {bytes_m:.3g} ({threads} threads, file in page cache)",
        streaming,
        ceil,
    )
    result = {
        "benchmark": "bench_sharded",
        "quick": args.quick,
        "machine": {"platform": platform.platform(), "threads": threads, **ceil},
        "sharded": {"num_patterns": shard_num, "dim": dim, "batch": batch, "rows": sharded},
        "streaming": {"num_patterns": stream_num, "dim": dim, "batch": batch, "rows": streaming},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
