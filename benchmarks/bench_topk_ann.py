"""Benchmark: approximate top-k through faiss against the exact streamed top-k.

Top-``k`` retrieval (``k = 32``) from ``K`` memories of dimension ``D = 256``,
``β = 1/√D``, dot similarity, ``B ∈ {1, 64}`` queries:

* **exact**: :func:`hopfield.ops.topk_retrieve` (streams every key once, exact);
* **ann**: :func:`hopfield.ops.ann.approximate_topk_retrieve` with a prebuilt faiss
  index (IVF by default; HNSW with ``--index hnsw``). Build time is reported
  separately: the index is built once when the patterns are stored.

Reported per case (interleaved medians, same run): both times and the speed-up,
recall@32 (the fraction of the exact top-32 indices that the index returns,
averaged over queries), and the relative error of the retrieved state and of the
energy term ``Ω*`` against the exact top-k retrieval (the approximation is in the
selection only: scores of the candidates are exact).

Memories: ``clustered`` (the default): patterns from a mixture of ``K/1000``
Gaussian clusters (real pattern sets have such structure; an index exploits it);
``iid``: i.i.d. Gaussian patterns, the hard case for any index (all but the nearest
pattern are near-ties in high dimension); queries are stored patterns plus noise
(relative norm 0.3).

Usage: ``python benchmarks/bench_topk_ann.py [--quick] [--data iid] [--index hnsw]``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path
from typing import Any

import torch

import machine
from hopfield.ops import topk_retrieve
from hopfield.ops.ann import (
    HNSW,
    IVF,
    AnnIndex,
    ApproximateTopK,
    approximate_topk_retrieve,
    faiss_available,
)

__all__ = ["main"]

DIM = 256
TOP = 32


def make_memory(num: int, kind: str, gen: torch.Generator) -> torch.Tensor:
    """``(num, DIM)`` patterns of unit expected norm: clustered or i.i.d."""
    if kind == "iid":
        return torch.randn(num, DIM, generator=gen) / math.sqrt(DIM)
    centres = torch.randn(max(1, num // 1000), DIM, generator=gen)
    labels = torch.randint(0, centres.shape[0], (num,), generator=gen)
    patterns = centres[labels] + 0.5 * torch.randn(num, DIM, generator=gen)
    return patterns / math.sqrt(1.25 * DIM)


def run_case(
    keys: torch.Tensor,
    index: AnnIndex,
    option: ApproximateTopK,
    batch: int,
    repeats: int,
    gen: torch.Generator,
) -> dict[str, Any]:
    beta = 1.0 / math.sqrt(DIM)
    rows = torch.randint(0, keys.shape[0], (batch,), generator=gen)
    noise = torch.randn(batch, DIM, generator=gen)
    queries = keys[rows] + 0.3 * noise * keys[rows].norm(dim=1, keepdim=True) / math.sqrt(DIM)
    exact = topk_retrieve(queries, keys, None, beta, TOP)
    approx = approximate_topk_retrieve(queries, keys, None, beta, option, index=index)
    hits = [
        len(set(a.tolist()) & set(e.tolist()))
        for a, e in zip(approx.indices, exact.indices, strict=True)
    ]
    seconds = machine.interleaved_medians(
        {
            "exact": lambda: topk_retrieve(queries, keys, None, beta, TOP),
            "ann": lambda: approximate_topk_retrieve(
                queries, keys, None, beta, option, index=index
            ),
        },
        repeats,
    )
    state_error = (approx.output - exact.output).norm(dim=1) / exact.output.norm(dim=1)
    energy_error = (approx.max_value - exact.max_value).abs() / exact.max_value.abs()
    return {
        "K": keys.shape[0],
        "B": batch,
        "exact_s": seconds["exact"],
        "ann_s": seconds["ann"],
        "speedup": seconds["exact"] / seconds["ann"],
        "recall_at_32": sum(hits) / (TOP * batch),
        "state_rel_error_max": float(state_error.max()),
        "omega_rel_error_max": float(energy_error.max()),
    }


def _option(args: argparse.Namespace) -> ApproximateTopK:
    if args.index == "hnsw":
        return ApproximateTopK(k=TOP, index=HNSW(m=32, ef_search=args.ef_search))
    return ApproximateTopK(k=TOP, index=IVF(nlist=args.nlist, nprobe=args.nprobe))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 1e5 only")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the K values")
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 64])
    parser.add_argument("--data", choices=["clustered", "iid"], default="clustered")
    parser.add_argument("--index", choices=["ivf", "hnsw"], default="ivf")
    parser.add_argument("--nlist", type=int, default=None, help="IVF cells (default 2·√K)")
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument(
        "--ef-search",
        type=int,
        default=256,
        help="HNSW search breadth (K=1e6, B=64 clustered: recall@32 0.944 at 128, 0.950 at 256)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/bench_topk_ann.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not faiss_available():
        print("faiss is not installed: pip install 'hopfield[faiss]' (skipping)")
        return 0
    sizes = args.sizes or ([10**5] if args.quick else [10**5, 10**6])
    option = _option(args)
    gen = torch.Generator().manual_seed(args.seed)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(
        f"top-{TOP} retrieval, D={DIM}, {args.data} memory, index {option.get_config()}, "
        f"torch threads {torch.get_num_threads()}, load average {load} (the machine may be "
        "shared: exact and ann were timed interleaved in the same run)"
    )
    print(
        f"{'K':>8} {'B':>4} {'build s':>8} {'exact ms':>9} {'ann ms':>8} {'speedup':>8} "
        f"{'recall@32':>9} {'state err':>9} {'Ω* err':>8}"
    )
    rows: list[dict[str, Any]] = []
    for num in sizes:
        keys = make_memory(num, args.data, gen)
        index = AnnIndex.build(keys, option.index, "dot")
        for batch in args.batches:
            row = run_case(keys, index, option, batch, args.repeats, gen)
            row["build_s"] = index.build_seconds
            rows.append(row)
            print(
                f"{num:>8} {batch:>4} {index.build_seconds:8.1f} {row['exact_s'] * 1e3:9.2f} "
                f"{row['ann_s'] * 1e3:8.2f} {row['speedup']:7.1f}x {row['recall_at_32']:9.3f} "
                f"{row['state_rel_error_max']:9.1e} {row['omega_rel_error_max']:8.1e}",
                flush=True,
            )
        del keys, index
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "bench_topk_ann",
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "data": args.data,
        "option": option.get_config(),
        "timing": f"median of {args.repeats} interleaved rounds after one warm-up",
        "rows": rows,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
