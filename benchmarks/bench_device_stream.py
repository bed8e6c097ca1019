"""Benchmark: one retrieval step over a very large bf16 memory streamed from device memory.

``K`` patterns (default 1e8) of width ``D = 256`` are stored in bfloat16 (51.2 GB at
the default size) and generated on the device itself (nothing crosses the host
link). One softmax-retrieval step for ``B`` queries (Ramsauer et al. 2021)::

    out = Σ_μ softmax_μ(β ξ_μ·q) ξ_μ,    lse = log Σ_μ exp(β ξ_μ·q)

reads every pattern once: the store is split into ``S`` segments; a fused attention
kernel (FlashAttention on CUDA, PyTorch's flash kernel for CPU elsewhere) streams each
segment once, with scores, online log-sum-exp and the weighted sum of the same tile
(the keys are the values, so the second read of a tile hits the cache), and returns
the per-segment output and log-sum-exp; the segments are then merged exactly in fp32
(``softmax`` over the segment log-sum-exps). Segments give the kernel ``S``
independent streams to run in parallel.

Reported: time per step (median of repeats, synchronised), the store's bytes
``K·D·2`` read per step, GB/s, and the % of the device's copy bandwidth measured in the
same run (``machine.measure_ceilings``: a tensor copy counted as read + write). The
aim on a GPU is ≥ 70 %. The result is checked against an fp32 explicit softmax over
the first segments. ``--patterns 1e5`` on a CPU is the small mode that
``benchmarks/gpu_check.sh --dry-run`` runs.

Usage: ``python benchmarks/bench_device_stream.py [--device cuda] [--patterns N] [--out PATH]``
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

import torch

import machine

DTYPE = torch.bfloat16
#: Which fused kernel ran (reported in the JSON).
KERNEL = {"name": "flash_for_cpu"}


def segments_for(num_patterns: int, target: int = 1000) -> int:
    """The largest divisor of ``num_patterns`` not above ``target`` (the number of segments)."""
    for count in range(min(target, num_patterns), 0, -1):
        if num_patterns % count == 0:
            return count
    return 1  # pragma: no cover - 1 always divides


def generate_store(
    num_patterns: int, dim: int, segments: int, device: str, seed: int
) -> torch.Tensor:
    """Random patterns ``N(0, 1/D)`` in bf16, shape ``(S, 1, K/S, D)``, made on ``device``."""
    store = torch.empty(segments, 1, num_patterns // segments, dim, dtype=DTYPE, device=device)
    generator = torch.Generator(device).manual_seed(seed)
    for segment in store:  # one segment at a time: no fp32 copy of the whole store
        segment.normal_(0.0, dim**-0.5, generator=generator)
    return store


def _flash(device: str) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """The fused attention op returning ``(output, logsumexp)`` on this device."""
    if torch.device(device).type == "cuda":

        def cuda_flash(q: torch.Tensor, k: torch.Tensor, scale: float) -> tuple[torch.Tensor, ...]:
            try:
                result = torch.ops.aten._scaled_dot_product_flash_attention(
                    q, k, k, 0.0, False, False, scale=scale
                )
                KERNEL["name"] = "flash"
                return result[0], result[1]
            except RuntimeError:  # no flash kernel for this GPU/shape: memory-efficient one
                result = torch.ops.aten._scaled_dot_product_efficient_attention(
                    q, k, k, None, True, scale=scale
                )
                KERNEL["name"] = "efficient"
                return result[0], result[1][..., : q.shape[2]]  # lse is padded along queries

        return cuda_flash

    def cpu_flash(q: torch.Tensor, k: torch.Tensor, scale: float) -> tuple[torch.Tensor, ...]:
        result = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, k, scale=scale)
        return result[0], result[1]

    return cpu_flash


def retrieve(
    store: torch.Tensor, queries: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(out (B, D) fp32, lse (B,) fp32)`` of one softmax retrieval over the whole store."""
    segments = store.shape[0]
    batched = queries.to(DTYPE).expand(segments, 1, *queries.shape).contiguous()
    out, lse = _flash(str(store.device))(batched, store, beta)  # (S,1,B,D), (S,1,B)
    lse = lse.float()
    weights = torch.softmax(lse, dim=0).unsqueeze(-1)  # exact merge of the segments
    merged = (weights * out.float()).sum(dim=0)[0]
    return merged, torch.logsumexp(lse, dim=0)[0]


def reference(store: torch.Tensor, queries: torch.Tensor, beta: float) -> tuple[torch.Tensor, ...]:
    """fp32 explicit softmax over the (small) ``store``."""
    keys = store.reshape(-1, store.shape[-1]).float()
    scores = beta * queries.float() @ keys.T
    return torch.softmax(scores, dim=-1) @ keys, torch.logsumexp(scores, dim=-1)


def time_step(fn: Callable[[], object], repeats: int, device: str) -> float:
    """Median wall time of ``fn`` after one warm-up, synchronised on CUDA."""
    cuda = torch.device(device).type == "cuda"
    fn()
    samples = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def check_against_fp32(store: torch.Tensor, queries: torch.Tensor, beta: float) -> float:
    """Largest |Δ| of ``out`` between the streamed bf16 step and fp32, on ≤ 4 segments."""
    head = store[: min(4, store.shape[0])]
    ours, _ = retrieve(head, queries, beta)
    expected, _ = reference(head, queries, beta)
    return float((ours - expected).abs().max())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, …)")
    parser.add_argument("--patterns", type=float, default=1e8, help="stored patterns K")
    parser.add_argument("--dim", type=int, default=256, help="pattern width D")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16], help="queries B")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median)")
    parser.add_argument("--copy-mib", type=int, default=1024, help="size of the copy probe")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/bench_device_stream.json")
    )
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: this torch build has no CUDA device")
    if args.patterns < 1 or args.patterns != int(args.patterns):
        parser.error(f"--patterns must be a positive integer, got {args.patterns}")
    args.patterns = int(args.patterns)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ceilings = machine.measure_ceilings(
        matmul_size=1024, copy_mib=args.copy_mib, repeats=5, device=args.device
    )
    segments = segments_for(args.patterns)
    start = time.perf_counter()
    store = generate_store(args.patterns, args.dim, segments, args.device, seed=0)
    if torch.device(args.device).type == "cuda":
        torch.cuda.synchronize()
    generate_seconds = time.perf_counter() - start
    store_bytes = store.numel() * store.element_size()
    beta = 1.0 / math.sqrt(args.dim)
    print(
        f"device {args.device}: K={args.patterns:.3g} patterns, D={args.dim}, bf16 store "
        f"{store_bytes / 1e9:.1f} GB in {segments} segments (generated in "
        f"{generate_seconds:.2f} s); copy bandwidth {ceilings['copy_gbps']:.0f} GB/s"
    )
    rows = []
    generator = torch.Generator(args.device).manual_seed(1)
    for batch in args.batches:
        queries = torch.randn(batch, args.dim, generator=generator, device=args.device)
        queries = queries / math.sqrt(args.dim)
        seconds = time_step(lambda q=queries: retrieve(store, q, beta), args.repeats, args.device)
        gbps = store_bytes / seconds / 1e9
        row = {
            "batch": batch,
            "seconds": seconds,
            "bytes_read": store_bytes,
            "gbps": gbps,
            "pct_copy_bandwidth": 100 * gbps / ceilings["copy_gbps"],
            "max_abs_diff_vs_fp32": check_against_fp32(store, queries, beta),
        }
        rows.append(row)
        print(
            f"B={batch:>3}: {1e3 * seconds:9.2f} ms/step, {gbps:8.1f} GB/s = "
            f"{row['pct_copy_bandwidth']:5.1f}% of copy bandwidth (aim ≥ 70% on a GPU); "
            f"|Δ| vs fp32 {row['max_abs_diff_vs_fp32']:.1e}"
        )
    report = {
        "benchmark": "bench_device_stream",
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "store": {"segments": segments, "bytes": store_bytes, "generate_seconds": generate_seconds},
        "kernel": KERNEL["name"],
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "device_name": (
                torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
            ),
            "load_average": os.getloadavg(),
            **ceilings,
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
