"""Benchmark: one retrieval step of dense associative memories against the machine's floor.

One step from ``B`` queries over ``K`` memories of dimension ``D = 256``:

* **lse** (modern Hopfield, Ramsauer et al. 2020): ``x ← Ξᵀ softmax(β Ξ x)``,
  ``β = 1/√D``, through :func:`hopfield.ops.lse_retrieve` (``kernel="auto"``: the
  one-pass native or fused kernel for few queries, the chunk loop otherwise);
* **poly** (Dense AM, Krotov & Hopfield 2016, ``F(z) = z³``): ``x ← Ξᵀ F'(Ξ x)``;
* **lsr** (Epanechnikov, Hoover et al. 2025): ``x ← mean of the active memories``.

Per case, measured in the same run and interleaved (median of ``--repeats`` rounds,
each round times every contender once, so a burst of load hits all of them):

* ``ours``: the library kernel; ``ref``: the explicit reference written here (the
  full ``(B, K)`` score matrix, ``torch.softmax`` / elementwise ops / ``cdist``;
  skipped when its temporaries would exceed 4 GiB);
* ``floor``: a plain reduction over the same keys (``keys.sum()``): the time to read
  the ``4·K·D`` bytes once, which no step can beat;
* ``flop``: the compute bound, ``4·B·K·D`` FLOP at the fp32 matmul rate of a
  cache-resident ``(128 × D) @ (D × 4096)`` product timed in the same rounds (the
  rate of a large square product, ``machine.measure_ceilings``, is printed at
  start-up);
* ``%floor``: ``max(floor, flop) / ours`` (100% = at the machine's bound).

A "kernel choice" section first times the candidate ways to read the keys at
``B = 1`` (plain reduction, MKL matrix-vector product, the native one-pass kernel,
PyTorch's fused attention kernel, the chunk loop) and prints which one ``"auto"``
uses and why.

``--contended`` also runs every case with one competing single-threaded process
(a CPU spin loop that stops itself after at most ``--contend-seconds``) and prints,
per case, loaded/idle for ours and for the reference: robust kernels degrade no
more than the reference.

Stores (``STORES``): fp32 keys, and bf16 keys read by the native kernel (rows
``store=bf16``, only where ``"auto"`` runs it: ``B ≤ 4`` with a C compiler; its
reference is the explicit fp32 step on the same bf16-rounded patterns, its floor the
reduction over the bf16 keys, half the bytes). int8 stores join the table when
the memories store them (the native kernel already reads int8 with per-row scales).
Usage: ``python benchmarks/bench_retrieval.py [--quick] [--contended] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import machine
from hopfield.ops import lse_retrieve, lsr_retrieve, polynomial_retrieve
from hopfield.ops.few_queries import plan_kernel
from hopfield.ops.native import native_available

__all__ = ["main"]

NAIVE_LIMIT_BYTES = 4 * 2**30
DIM = 256
STORES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16}
"""Key stores benchmarked (name -> dtype); low-precision stores join here."""

Step = Callable[[], object]


# --------------------------------------------------------------------------- references


def naive_lse(queries: torch.Tensor, keys: torch.Tensor, beta: float) -> torch.Tensor:
    """Full ``(B, K)`` scores, ``torch.softmax``, one matmul back."""
    return torch.softmax(beta * (queries @ keys.T), dim=1) @ keys


def naive_poly(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Full ``(B, K)`` overlaps, ``F'(z) = 3 z²``, one matmul back."""
    return (3.0 * (queries @ keys.T) ** 2) @ keys


def naive_lsr(queries: torch.Tensor, keys: torch.Tensor, beta: float) -> torch.Tensor:
    """Full ``(B, K)`` squared distances (``cdist``), active indicator, mean."""
    kernel = torch.relu(1.0 - 0.5 * beta * torch.cdist(queries, keys).square())
    active = (kernel > 0).to(keys.dtype)
    return (active @ keys) / active.sum(dim=1, keepdim=True).clamp_min(1.0)


# --------------------------------------------------------------------------- timing


def _load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


class Competitor:
    """One single-threaded CPU spin loop in a child process (stops itself after
    ``seconds``; :meth:`stop` ends it earlier)."""

    def __init__(self, seconds: float) -> None:
        code = (
            "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\n"
            "x = 0\nwhile time.monotonic() < end:\n    x += 1\n"
        )
        self.process = subprocess.Popen([sys.executable, "-c", code, str(seconds)])
        time.sleep(0.2)  # let it reach its loop

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# --------------------------------------------------------------------------- kernel choice


def kernel_choice(keys: torch.Tensor, beta: float, repeats: int) -> dict[str, Any]:
    """Time the ways of reading the keys once at B = 1 and say what ``"auto"`` uses."""
    query = keys[:1] + 0.3 * torch.randn(1, DIM) / math.sqrt(DIM)
    steps: dict[str, Step] = {
        "plain reduction keys.sum()": lambda: keys.sum(),
        "matrix-vector keys @ q (MKL)": lambda: keys @ query[0],
        "lse chunk loop": lambda: lse_retrieve(query, keys, None, beta, kernel="chunked"),
        "lse sdpa (fused, no compiler)": lambda: lse_retrieve(
            query, keys, None, beta, kernel="sdpa"
        ),
    }
    if native_available():
        steps["lse native (one pass, C)"] = lambda: lse_retrieve(
            query, keys, None, beta, kernel="native"
        )
    seconds = machine.interleaved_medians(steps, repeats)
    nbytes = keys.numel() * keys.element_size()
    chosen = plan_kernel("auto", query, keys, None, grad=False)
    print(f"kernel choice at B=1, K={keys.shape[0]:.0e}, D={DIM} (fp32, median of {repeats}):")
    for name, value in seconds.items():
        print(f"  {name:<32} {value * 1e3:8.2f} ms  {nbytes / value / 1e9:6.1f} GB/s")
    reduction = seconds["plain reduction keys.sum()"]
    gemv = seconds["matrix-vector keys @ q (MKL)"]
    verdict = "slow" if gemv > reduction / 0.6 else "not slow"
    print(
        f"  -> the matrix-vector product reads at {reduction / gemv:.0%} of the reduction's "
        f"rate here ({verdict}); 'auto' uses the '{chosen}' kernel for B ≤ 4: "
        + (
            "one pass, no per-chunk parallel regions, threads take tasks from a shared "
            "counter (a thread sharing its core with another process does less)"
            if chosen == "native"
            else "no C compiler, so PyTorch's fused attention kernel (one pass, one "
            "parallel region)"
        )
    )
    return {"B": 1, "K": keys.shape[0], "auto": chosen, "seconds": seconds}


# --------------------------------------------------------------------------- cases


def _contenders(
    name: str,
    keys: torch.Tensor,
    queries: torch.Tensor,
    sq_norms: torch.Tensor,
    ref_keys: torch.Tensor,
) -> tuple[Step, Step | None]:
    """(ours on the stored ``keys``, explicit fp32 reference on ``ref_keys`` (the same
    patterns) or None when its temporaries exceed the limit)."""
    beta_lse, beta_lsr = 1.0 / math.sqrt(DIM), 1.5
    factor = {"lse": 2, "poly": 2, "lsr": 3}[name]
    fits = factor * queries.shape[0] * keys.shape[0] * 4 <= NAIVE_LIMIT_BYTES
    pairs: dict[str, tuple[Step, Step]] = {
        "lse": (
            lambda: lse_retrieve(queries, keys, None, beta_lse),
            lambda: naive_lse(queries, ref_keys, beta_lse),
        ),
        "poly": (
            lambda: polynomial_retrieve(queries, keys, None, 3),
            lambda: naive_poly(queries, ref_keys),
        ),
        "lsr": (
            lambda: lsr_retrieve(queries, keys, None, beta_lsr, key_sq_norms=sq_norms),
            lambda: naive_lsr(queries, ref_keys, beta_lsr),
        ),
    }
    ours, ref = pairs[name]
    return ours, (ref if fits else None)


def _check_result(name: str, keys: torch.Tensor, queries: torch.Tensor) -> float | None:
    """Relative max error of ours against the explicit reference (lse only, float64)."""
    if name != "lse" or queries.shape[0] * keys.shape[0] > 2 * 10**7:
        return None
    beta = 1.0 / math.sqrt(DIM)
    want = naive_lse(queries.double(), keys.double(), beta)
    got = lse_retrieve(queries, keys, None, beta)[0].double()
    return float((got - want).abs().max() / want.abs().max())


def run_case(
    name: str,
    store: str,
    keys: torch.Tensor,
    queries: torch.Tensor,
    sq_norms: torch.Tensor,
    ref_keys: torch.Tensor,
    repeats: int,
    contend_seconds: float | None,
) -> dict[str, Any]:
    batch, num_memories = queries.shape[0], keys.shape[0]
    ours, ref = _contenders(name, keys, queries, sq_norms, ref_keys)
    block = ref_keys[: min(num_memories, 4096)]
    square = torch.randn(128, DIM)  # a matrix product at full BLAS speed (not a gemv)
    steps: dict[str, Step] = {
        "ours": ours,
        "floor": lambda: keys.sum(),
        "matmul": lambda: square @ block.T,
    }
    if ref is not None:
        steps["ref"] = ref
    idle = machine.interleaved_medians(steps, repeats)
    # compute bound: 4·B·K·D FLOP at the rate of a cache-resident (128 × D) @ (D × 4096)
    # product measured in the same rounds
    matmul_flops = 2.0 * square.shape[0] * DIM * block.shape[0] / idle["matmul"]
    flop_s = 4.0 * batch * num_memories * DIM / matmul_flops
    row: dict[str, Any] = {
        "kernel": name,
        "store": store,
        "K": num_memories,
        "B": batch,
        "D": DIM,
        "auto_kernel": plan_kernel("auto", queries, keys, None, grad=False)
        if name == "lse"
        else "chunked",
        "ours_s": idle["ours"],
        "ref_s": idle.get("ref"),
        "floor_s": idle["floor"],
        "flop_s": flop_s,
        "pct_of_floor": 100.0 * max(idle["floor"], flop_s) / idle["ours"],
        "read_gbps": keys.numel() * keys.element_size() / idle["ours"] / 1e9,
        "rel_error_vs_float64": _check_result(name, keys, queries),
    }
    if contend_seconds is not None:
        competitor = Competitor(contend_seconds)
        try:
            loaded = machine.interleaved_medians(steps, repeats)
        finally:
            competitor.stop()
        row["loaded_ours_s"] = loaded["ours"]
        row["loaded_ref_s"] = loaded.get("ref")
        row["ours_loaded_over_idle"] = loaded["ours"] / idle["ours"]
        if "ref" in loaded:
            row["ref_loaded_over_idle"] = loaded["ref"] / idle["ref"]
    return row


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.2f}"


def print_header(contended: bool) -> None:
    header = (
        f"{'kern':>4} {'store':>5} {'K':>8} {'B':>5} {'auto':>7} {'ours ms':>9} {'ref ms':>9} "
        f"{'ref/ours':>8} {'floor ms':>9} {'flop ms':>8} {'%floor':>7} {'GB/s':>6} {'err':>8}"
    )
    if contended:
        header += f" {'ours ld/idle':>12} {'ref ld/idle':>11}"
    print(header)


def print_row(row: dict[str, Any]) -> None:
    ratio = "-" if row["ref_s"] is None else f"{row['ref_s'] / row['ours_s']:.2f}x"
    error = row["rel_error_vs_float64"]
    line = (
        f"{row['kernel']:>4} {row['store']:>5} {row['K']:>8} {row['B']:>5} "
        f"{row['auto_kernel']:>7} {_ms(row['ours_s']):>9} {_ms(row['ref_s']):>9} {ratio:>8} "
        f"{_ms(row['floor_s']):>9} {_ms(row['flop_s']):>8} {row['pct_of_floor']:6.1f}% "
        f"{row['read_gbps']:6.1f} {'-' if error is None else f'{error:.1e}':>8}"
    )
    if "ours_loaded_over_idle" in row:
        ref_ratio = row.get("ref_loaded_over_idle")
        line += f" {row['ours_loaded_over_idle']:11.2f}x " + (
            f"{ref_ratio:10.2f}x" if ref_ratio is not None else f"{'-':>11}"
        )
    print(line, flush=True)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lse only, K=1e5, B ∈ {1, 64}")
    parser.add_argument("--contended", action="store_true", help="also run under one competitor")
    parser.add_argument("--contend-seconds", type=float, default=600.0)
    parser.add_argument("--out", default="benchmarks/results/bench_retrieval.json")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the K values")
    parser.add_argument("--batches", type=int, nargs="*", help="override the B values")
    parser.add_argument("--kernels", nargs="*", choices=["lse", "poly", "lsr"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    load_before = _load_average()
    sizes = args.sizes or ([10**5] if args.quick else [10**4, 10**5, 10**6])
    batches = args.batches or ([1, 64] if args.quick else [1, 64, 1024])
    kernels = args.kernels or (["lse"] if args.quick else ["lse", "poly", "lsr"])
    ceilings = machine.measure_ceilings(matmul_size=2048, copy_mib=256, repeats=5)
    print(
        f"cpu: {platform.processor() or platform.machine()}, torch threads "
        f"{torch.get_num_threads()}, fp32 matmul {ceilings['matmul_gflops']:.0f} GFLOP/s, "
        f"copy {ceilings['copy_gbps']:.1f} GB/s (read + write); load average "
        f"{load_before:.1f} (the machine may be shared: compare columns of one row, "
        "they were measured interleaved)"
    )
    choice = kernel_choice(torch.randn(sizes[-1], DIM) / math.sqrt(DIM), 0.0625, args.repeats)
    print(
        "ours = library kernel, ref = explicit full-matrix reference, floor = keys.sum() "
        "(read the keys once), flop = 4·B·K·D at the (same-moment) matmul rate; %floor = "
        "max(floor, flop)/ours; err = max|ours − float64| / max|float64| (lse)"
    )
    print_header(args.contended)
    rows: list[dict[str, Any]] = []
    for num_memories in sizes:
        base = torch.randn(num_memories, DIM) / math.sqrt(DIM)
        for store, dtype in STORES.items():
            keys = base.to(dtype)
            ref_keys = keys.float()
            sq_norms = ref_keys.square().sum(dim=1)
            for batch in batches:
                noise = 0.3 * torch.randn(batch, DIM) / math.sqrt(DIM)
                queries = ref_keys[:batch] + noise
                if store != "fp32" and (
                    plan_kernel("auto", queries, keys, None, grad=False) != "native"
                ):
                    continue  # only the native kernel reads low-precision keys here
                repeats = 3 if batch * num_memories >= 10**8 else args.repeats
                contend = args.contend_seconds if args.contended else None
                for name in kernels if store == "fp32" else ["lse"]:
                    row = run_case(name, store, keys, queries, sq_norms, ref_keys, repeats, contend)
                    rows.append(row)
                    print_row(row)
            del keys, ref_keys, sq_norms
    _write(args, rows, ceilings, choice, load_before)
    return 0


def _write(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    ceilings: dict[str, float],
    choice: dict[str, Any],
    load_before: float,
) -> None:
    skipped = [f"{r['kernel']} K={r['K']} B={r['B']}" for r in rows if r["ref_s"] is None]
    if skipped:
        print(f"reference skipped (> 4 GiB of temporaries): {', '.join(skipped)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "bench_retrieval",
        "platform": platform.platform(),
        "processor": platform.processor(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "native_kernel": native_available(),
        "quick": args.quick,
        "contended": args.contended,
        "ceilings": ceilings,
        "kernel_choice": choice,
        "load_average": {"before": load_before, "after": _load_average()},
        "timing": f"median of {args.repeats} interleaved rounds after one warm-up",
        "rows": rows,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    raise SystemExit(main())
