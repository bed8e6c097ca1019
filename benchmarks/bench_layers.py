"""Benchmark: ``hopfield.nn.Hopfield`` (SDPA fast path) vs an explicit-matrix reference.

Retrieval of ``Lq`` state patterns from ``K`` stored patterns of width ``D`` (one head,
identity projections, β = 1/√D, values = stored patterns):

    out = softmax(β Q Kᵀ) K                     (Ramsauer et al. 2020, one CCCP update)

* ours: ``Hopfield(D, project_patterns=False)``, i.e. ``scaled_dot_product_attention``
  (on CPU a blocked, online-softmax kernel: the ``Lq × K`` matrix is never stored);
* reference: the association matrix written out — ``logits = β Q Kᵀ``,
  ``P = softmax(logits)``, ``out = P K`` (what hopfield-layers does).

Kernel counts per call: FLOPs ≈ 4·Lq·K·D (two matmuls) + 5·Lq·K (softmax);
bytes ≥ 2·K·D·4 (keys read twice) for ours, plus 4·Lq·K·4 (write/read the logits and
the probabilities) for the reference. The % columns compare with an fp32 matmul
(2048³) and a 128 MiB copy timed in the same worker process. Peak memory is the
growth of the process's resident set (VmHWM after resetting it) during the first
call, in a fresh subprocess per point.

On a GPU (``--device cuda``) the timings are synchronised, the ceilings measured on
the device and the peak memory is the device's (``torch.cuda.max_memory_allocated``).

Usage: ``python benchmarks/bench_layers.py [--quick] [--device DEV] [--sizes K …] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
from pathlib import Path

import torch

import machine
from hopfield.nn import Hopfield

BYTES_F32 = 4
REFERENCE_LIMIT_BYTES = 4 * 2**30


def reference_retrieve(query: torch.Tensor, stored: torch.Tensor, beta: float) -> torch.Tensor:
    """Explicit association matrix: ``softmax(β Q Kᵀ) K`` with every intermediate stored."""
    logits = beta * (query @ stored.transpose(-2, -1))
    probabilities = torch.softmax(logits, dim=-1)
    return probabilities @ stored


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    """Reset the kernel's high-water mark VmHWM to the current RSS (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def worker(
    impl: str, num_stored: int, dim: int, num_queries: int, repeats: int, device: str = "cpu"
) -> dict[str, float]:
    """One measurement in this (fresh) process: best time and peak memory growth of one call."""
    gen = torch.Generator().manual_seed(0)
    stored = torch.randn(1, num_stored, dim, generator=gen).to(device)
    query = torch.randn(1, num_queries, dim, generator=gen).to(device)
    beta = 1.0 / math.sqrt(dim)
    layer = Hopfield(dim, beta=beta, project_patterns=False).to(device)
    if impl == "ours":

        def call() -> torch.Tensor:
            with torch.no_grad():
                return layer(query, stored)
    else:

        def call() -> torch.Tensor:
            with torch.no_grad():
                return reference_retrieve(query, stored, beta)

    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        out = call()  # first call: peak memory
        peak = max(torch.cuda.max_memory_allocated(device) - before, 0)
    else:
        _reset_peak_rss()
        before = _status_bytes("VmRSS")
        out = call()  # first call: peak memory
        peak = max(_status_bytes("VmHWM") - before, 0)
    seconds = machine.best_seconds(call, repeats, device)
    check = float(out.double().sum())
    # Ceilings measured in the same process right after the timing, so that the
    # percentages compare numbers taken under the same machine load.
    return {"seconds": seconds, "peak_bytes": peak, "checksum": check, **measure_ceilings(device)}


def _run_worker(impl: str, num_stored: int, args: argparse.Namespace) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        impl,
        str(num_stored),
        "--dim",
        str(args.dim),
        "--queries",
        str(args.queries),
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
        "--device",
        args.device,
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure_ceilings(device: str = "cpu") -> dict[str, float]:
    """This machine's fp32 matmul GFLOP/s and copy GB/s (quick, best of a few)."""
    return machine.measure_ceilings(matmul_size=2048, copy_mib=128, repeats=3, device=device)


def kernel_counts(num_stored: int, dim: int, num_queries: int, explicit: bool) -> tuple[int, int]:
    flops = 4 * num_queries * num_stored * dim + 5 * num_queries * num_stored
    bytes_moved = 2 * num_stored * dim * BYTES_F32 + 2 * num_queries * dim * BYTES_F32
    if explicit:
        bytes_moved += 4 * num_queries * num_stored * BYTES_F32
    return flops, bytes_moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K ∈ {1e4, 1e5} only")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_layers.json"))
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, …)")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the K values")
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: this torch build has no CUDA device")
    torch.set_num_threads(args.threads)
    if args.worker:
        impl, num_stored = args.worker[0], int(args.worker[1])
        result = worker(impl, num_stored, args.dim, args.queries, args.repeats, args.device)
        print(json.dumps(result))
        return 0

    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    sizes = args.sizes or sizes
    ceilings = measure_ceilings(args.device)
    print(
        f"torch {torch.__version__}, {args.threads} threads, D={args.dim}, Lq={args.queries}; "
        f"ceilings: matmul {ceilings['matmul_gflops']:.1f} GFLOP/s, "
        f"copy {ceilings['copy_gbps']:.1f} GB/s (re-measured in each worker for the % columns)"
    )
    header = (
        f"{'K':>9} {'impl':>9} {'time ms':>9} {'peak MiB':>9} {'GFLOP/s':>8} {'%peak':>6} "
        f"{'GB/s':>6} {'%bw':>5}"
    )
    print(header)
    rows = []
    for num_stored in sizes:
        point: dict[str, object] = {"K": num_stored}
        for impl in ("ours", "reference"):
            explicit = impl == "reference"
            matrix_bytes = 3 * args.queries * num_stored * BYTES_F32
            if explicit and matrix_bytes > REFERENCE_LIMIT_BYTES:
                print(
                    f"{num_stored:>9} {impl:>9}  skipped: would need {matrix_bytes / 2**30:.1f} GiB"
                )
                point[impl] = None
                continue
            result = _run_worker(impl, num_stored, args)
            flops, bytes_moved = kernel_counts(num_stored, args.dim, args.queries, explicit)
            gflops = flops / result["seconds"] / 1e9
            gbps = bytes_moved / result["seconds"] / 1e9
            result.update(
                flops=flops,
                bytes=bytes_moved,
                gflops=gflops,
                gbps=gbps,
                pct_matmul_ceiling=100 * gflops / result["matmul_gflops"],
                pct_copy_ceiling=100 * gbps / result["copy_gbps"],
            )
            point[impl] = result
            print(
                f"{num_stored:>9} {impl:>9} {1e3 * result['seconds']:>9.2f} "
                f"{result['peak_bytes'] / 2**20:>9.1f} {gflops:>8.1f} "
                f"{result['pct_matmul_ceiling']:>5.0f}% {gbps:>6.1f} "
                f"{result['pct_copy_ceiling']:>4.0f}%"
            )
        ours, ref = point["ours"], point["reference"]
        if isinstance(ours, dict) and isinstance(ref, dict):
            point["time_ratio_reference_over_ours"] = ref["seconds"] / ours["seconds"]
            point["peak_ratio_reference_over_ours"] = ref["peak_bytes"] / max(ours["peak_bytes"], 1)
            point["outputs_agree"] = math.isclose(
                ours["checksum"], ref["checksum"], rel_tol=1e-4, abs_tol=1e-3
            )
            print(
                f"{'':>9} {'ratio':>9} time ×{point['time_ratio_reference_over_ours']:.2f}, "
                f"peak memory ×{point['peak_ratio_reference_over_ours']:.1f} "
                f"(reference / ours), outputs agree: {point['outputs_agree']}"
            )
        rows.append(point)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "bench_layers",
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": args.threads,
        "dim": args.dim,
        "queries": args.queries,
        "quick": args.quick,
        "ceilings": ceilings,
        "results": rows,
    }
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
