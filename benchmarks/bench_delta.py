"""Benchmark: DeltaNet chunked (WY/UT-transform) form vs the token-by-token recurrence.

Kernel (``hopfield.models.delta``): causal delta-rule memory over ``(B, H, T, d)`` inputs,
``S_t = S_{t−1} − β_t (S_{t−1} k_t − v_t) k_tᵀ``, ``o_t = S_t q_t``.

* fast path: :func:`~hopfield.models.delta.delta_rule_chunked` (chunk ``C``);
* reference (written here): a plain loop over ``t`` with ``torch.baddbmm``-free
  elementwise/matmul ops, the textbook recurrence.

FLOP per head (``d_k = d_v = d``): recurrent ``6·T·d²`` (``S k``, the rank-1 update and
``S q``); chunked ``T·(4·C·d + 2·C·d + 2·C·d + 6·d²)`` (``K Kᵀ`` and ``Q Kᵀ`` blocks,
triangular solve with two right-hand sides, ``tril(Q Kᵀ) Ũ``, and the three
``d×d`` products with the carried state). Bytes: ``4·T·d·4`` (read ``q, k, v``, write
``o``, fp32), the compulsory traffic. Ceilings are measured in the same run: fp32
matmul rate (square ``torch.mm``) and copy bandwidth (large tensor copy, read + write).

Timings are the best of several repeats (the machine is shared); ``--threads 1`` gives
the most reproducible numbers on a loaded machine.

Usage: ``python benchmarks/bench_delta.py [--quick] [--out PATH] [--chunk C] [--threads N]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import machine
from hopfield.models.delta import delta_rule_chunked

__all__ = ["main", "recurrent_reference"]


def recurrent_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor
) -> torch.Tensor:
    """Textbook recurrence, one token at a time (no validation, no helpers)."""
    state = q.new_zeros(*q.shape[:-2], v.shape[-1], k.shape[-1])
    out = torch.empty_like(v)
    for t in range(q.shape[-2]):
        kt, vt = k[..., t, :], v[..., t, :]
        error = torch.einsum("...ij,...j->...i", state, kt) - vt
        state = state - beta[..., t, None, None] * error[..., :, None] * kt[..., None, :]
        out[..., t, :] = torch.einsum("...ij,...j->...i", state, q[..., t, :])
    return out


def _time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_ceilings(quick: bool) -> dict[str, float]:
    """fp32 matmul GFLOP/s and copy GB/s on this machine."""
    size, mib = (512, 32) if quick else (1024, 128)
    return machine.measure_ceilings(matmul_size=size, copy_mib=mib, repeats=3)


def _case(
    length: int, heads: int, dim: int, chunk: int, repeats: int, ceil: dict[str, float]
) -> dict[str, Any]:
    g = torch.Generator().manual_seed(length)
    q, k, v = (torch.randn(1, heads, length, dim, generator=g) for _ in range(3))
    k = k / k.norm(dim=-1, keepdim=True)
    beta = torch.rand(1, heads, length, generator=g)
    with torch.no_grad():
        ref = recurrent_reference(q, k, v, beta)
        fast, _ = delta_rule_chunked(q, k, v, beta, chunk_size=chunk)
        t_ref = _time(lambda: recurrent_reference(q, k, v, beta), max(1, repeats // 2))
        t_fast = _time(lambda: delta_rule_chunked(q, k, v, beta, chunk_size=chunk), repeats)
    flop_fast = heads * length * (8 * chunk * dim + 6 * dim * dim)
    flop_ref = heads * length * 6 * dim * dim
    bytes_moved = heads * 4 * length * dim * 4
    gflops = flop_fast / t_fast / 1e9
    gbps = bytes_moved / t_fast / 1e9
    return {
        "T": length,
        "heads": heads,
        "d": dim,
        "chunk": chunk,
        "recurrent_ms": 1e3 * t_ref,
        "chunked_ms": 1e3 * t_fast,
        "speedup": t_ref / t_fast,
        "max_abs_diff": float((ref - fast).abs().max()),
        "chunked_gflop": flop_fast / 1e9,
        "recurrent_gflop": flop_ref / 1e9,
        "bytes": bytes_moved,
        "chunked_gflops": gflops,
        "chunked_gbps": gbps,
        "pct_matmul_ceiling": 100 * gflops / ceil["matmul_gflops"],
        "pct_copy_ceiling": 100 * gbps / ceil["copy_gbps"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T ∈ {256, 1024}, fewer repeats")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/delta.json"))
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, default=None, help="intra-op threads (default: torch's)"
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    ceil = measure_ceilings(args.quick)
    lengths = (256, 1024) if args.quick else (256, 1024, 4096)
    repeats = 3 if args.quick else 7
    rows = [_case(t, 4, 64, args.chunk, repeats, ceil) for t in lengths]
    print(
        f"ceilings: matmul {ceil['matmul_gflops']:.1f} GFLOP/s, copy {ceil['copy_gbps']:.1f} GB/s "
        f"({torch.get_num_threads()} threads)"
    )
    print(
        "|    T | recurrent ms | chunked ms | speedup | max|Δ| | GFLOP/s (% ceil) | GB/s (% ceil) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['T']:4d} | {r['recurrent_ms']:12.2f} | {r['chunked_ms']:10.2f} | "
            f"{r['speedup']:7.1f} | {r['max_abs_diff']:.1e} | "
            f"{r['chunked_gflops']:6.2f} ({r['pct_matmul_ceiling']:.1f} %) | "
            f"{r['chunked_gbps']:6.3f} ({r['pct_copy_ceiling']:.2f} %) |"
        )
    payload = {
        "benchmark": "delta",
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads()},
        "torch": torch.__version__,
        "ceilings": ceil,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
