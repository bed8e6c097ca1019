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

Stores (``STORES``): fp32 keys, bf16 keys and int8 keys with one scale per row
(``storage="int8"`` of :class:`hopfield.models.ModernHopfield`, whose step reads the
codes with the native kernel). The low-precision rows (lse only) run where
``"auto"`` reads the codes directly (``B ≤ 64`` with AVX-512, ``B ≤ 4`` without);
their reference is the explicit fp32 step on the dequantised patterns, their floor
the plain reduction over their own (halved, quartered) bytes (int8:
``codes.view(int64).sum()``, as torch's int8 ``sum`` widens every element). Accuracy
per store (columns ``recall``, ``same``, ``ΔE/|E|``): one step of
``ModernHopfield(β=1/√D, storage=...)`` from ``ACCURACY_QUERIES`` stored patterns
plus noise (relative norm 0.3), with the same patterns scaled to unit-variance
components (at unit norm, ``β = 1/√D`` gives a near-uniform softmax and no store
could recall anything): the fraction whose result is nearest to their own pattern,
the fraction that picks the same pattern as fp32, and the largest relative energy
error against fp32.
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
from hopfield.ops.few_queries import native_max_queries, plan_kernel, plan_threads
from hopfield.ops.native import (
    NativeTeam,
    native_available,
    native_lse_partials,
    native_simd,
)
from retrieval_stores import ACCURACY_QUERIES, STORES, MemoryStep, make_store, store_accuracy

__all__ = ["main"]

NAIVE_LIMIT_BYTES = 4 * 2**30
DIM = 256

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


def kernel_choice(
    keys: torch.Tensor, beta: float, repeats: int, clock: Callable[[], float]
) -> dict[str, Any]:
    """Time the ways of reading the keys once at B = 1 and say what ``"auto"`` uses."""
    query = keys[:1] + 0.3 * torch.randn(1, DIM) / math.sqrt(DIM)
    steps: dict[str, Step] = {
        "plain reduction keys.sum()": lambda: keys.sum(),
        "matrix-vector keys @ q (MKL)": lambda: keys @ query[0],
        "lse chunk loop": lambda: lse_retrieve(query, keys, None, beta, kernel="chunked"),
    }
    own = "lse native, own threads (not a team)"
    if native_available() and plan_threads(keys.numel() * 4) > 1:  # after PyTorch ops, as:
        steps[own] = lambda: native_lse_partials(
            query, keys, None, beta, floor=-87.0, num_threads=plan_threads(keys.numel() * 4),
            team=NativeTeam.OWN,
        )  # fmt: skip
    steps["lse sdpa (fused, no compiler)"] = lambda: lse_retrieve(
        query, keys, None, beta, kernel="sdpa"
    )
    if native_available():
        steps["lse native (one pass, C)"] = lambda: lse_retrieve(
            query, keys, None, beta, kernel="native"
        )
        low = keys.to(torch.bfloat16)
        threads = plan_threads(low.numel() * 2)

        def native_bf16(portable: bool) -> Step:
            return lambda: native_lse_partials(
                query, low, None, beta, floor=-87.0, num_threads=threads, portable=portable
            )

        for portable in (False, True) if native_simd() else (True,):
            label = "portable loops" if portable else "AVX-512"
            steps[f"lse native bf16 keys ({label})"] = native_bf16(portable)
    seconds = machine.interleaved_medians(steps, repeats, clock)
    nbytes = keys.numel() * keys.element_size()
    chosen = plan_kernel("auto", query, keys, None, grad=False)
    print(f"kernel choice at B=1, K={keys.shape[0]:.0e}, D={DIM} (median of {repeats}):")
    for name, value in seconds.items():
        size = nbytes // 2 if "bf16" in name else nbytes
        print(f"  {name:<40} {value * 1e3:8.2f} ms  {size / value / 1e9:6.1f} GB/s")
    reduction = seconds["plain reduction keys.sum()"]
    gemv = seconds["matrix-vector keys @ q (MKL)"]
    verdict = "slow" if gemv > reduction / 0.6 else "not slow"
    print(
        f"  -> the matrix-vector product reads at {reduction / gemv:.0%} of the reduction's "
        f"rate here ({verdict}); 'auto' uses the '{chosen}' kernel for B ≤ {native_max_queries()}: "
        + (
            "one pass, no per-chunk parallel regions, threads take tasks from a shared "
            "counter (a thread sharing its core with another process does less)"
            if chosen == "native"
            else "no C compiler, so PyTorch's fused attention kernel (one pass, one "
            "parallel region)"
        )
    )
    if own in seconds:
        print(
            f"  -> several threads: the native workers run as a team of PyTorch's OpenMP "
            f"threads while no more threads are runnable than cores "
            f"({seconds['lse native (one pass, C)'] * 1e3:.2f} ms here, against "
            f"{seconds[own] * 1e3:.2f} ms on the kernel's own threads): after a parallel "
            "PyTorch operation those keep spinning, and would share a core with a helper"
        )
    if native_simd():
        print(
            "  -> low-precision keys: the AVX-512 build widens them in registers (bf16: a "
            "shift and a mask per 32 keys), the portable loops widen each block through "
            "memory; the build uses the intrinsics wherever the CPU has AVX-512. At one "
            "query the step is bound by memory, not arithmetic: its block prefetches the "
            "keys ahead in address order during both passes (scores, weighted sum) so "
            "that reads never pause"
        )
    return {"B": 1, "K": keys.shape[0], "auto": chosen, "seconds": seconds}


# --------------------------------------------------------------------------- cases


def _contenders(
    name: str,
    keys: torch.Tensor,
    queries: torch.Tensor,
    sq_norms: torch.Tensor,
    ref_keys: torch.Tensor,
    memory_step: MemoryStep | None,
) -> tuple[Step, Step | None]:
    """(ours on the stored ``keys``, explicit fp32 reference on ``ref_keys`` (the same
    patterns, dequantised) or None when its temporaries exceed the limit)."""
    beta_lse, beta_lsr = 1.0 / math.sqrt(DIM), 1.5
    factor = {"lse": 2, "poly": 2, "lsr": 3}[name]
    fits = factor * queries.shape[0] * keys.shape[0] * 4 <= NAIVE_LIMIT_BYTES
    step = memory_step
    pairs: dict[str, tuple[Step, Step]] = {
        "lse": (
            (lambda: step(queries)) if step is not None
            else lambda: lse_retrieve(queries, keys, None, beta_lse),
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
    }  # fmt: skip
    ours, ref = pairs[name]
    return ours, (ref if fits else None)


def _check_result(
    name: str, ours: Step, ref_keys: torch.Tensor, queries: torch.Tensor
) -> float | None:
    """Relative max error of ours against the explicit reference on the same
    (dequantised) keys in float64 (lse only)."""
    if name != "lse" or queries.shape[0] * ref_keys.shape[0] > 2 * 10**7:
        return None
    want = naive_lse(queries.double(), ref_keys.double(), 1.0 / math.sqrt(DIM))
    result = ours()
    got = result[0] if isinstance(result, tuple) else result
    assert isinstance(got, torch.Tensor)
    return float((got.double() - want).abs().max() / want.abs().max())


def run_case(
    name: str,
    store: str,
    keys: torch.Tensor,
    queries: torch.Tensor,
    sq_norms: torch.Tensor,
    ref_keys: torch.Tensor,
    memory_step: MemoryStep | None,
    fp32_keys: torch.Tensor | None,
    repeats: int,
    contend_seconds: float | None,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """Time one case interleaved (ours, ref, floor, matmul; for low-precision lse rows
    also our fp32 step on the unrounded keys, ``fp32_keys``) idle and, if asked, loaded."""
    batch, num_memories = queries.shape[0], keys.shape[0]
    ours, ref = _contenders(name, keys, queries, sq_norms, ref_keys, memory_step)
    block = ref_keys[: min(num_memories, 4096)]
    square = torch.randn(128, DIM)  # a matrix product at full BLAS speed (not a gemv)
    flat = keys if keys.is_floating_point() else keys.view(torch.int64)
    steps: dict[str, Step] = {
        "ours": ours,
        "floor": lambda: flat.sum(),
        "matmul": lambda: square @ block.T,
    }
    if ref is not None:
        steps["ref"] = ref
    if fp32_keys is not None:
        steps["fp32"] = lambda: lse_retrieve(queries, fp32_keys, None, 1.0 / math.sqrt(DIM))
    idle = machine.interleaved_medians(steps, repeats, clock)
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
        "auto_kernel": "chunked"
        if name != "lse"
        else "native"
        if store != "fp32"  # only run where the codes are read directly
        else plan_kernel("auto", queries, keys, None, grad=False),
        "ours_s": idle["ours"],
        "ref_s": idle.get("ref"),
        "floor_s": idle["floor"],
        "flop_s": flop_s,
        "pct_of_floor": 100.0 * max(idle["floor"], flop_s) / idle["ours"],
        "read_gbps": keys.numel() * keys.element_size() / idle["ours"] / 1e9,
        "rel_error_vs_float64": _check_result(name, ours, ref_keys, queries),
        "speedup_vs_fp32": idle["fp32"] / idle["ours"] if "fp32" in idle else None,
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


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def print_header(contended: bool) -> None:
    header = (
        f"{'kern':>4} {'store':>5} {'K':>8} {'B':>5} {'auto':>7} {'ours ms':>9} {'ref ms':>9} "
        f"{'ref/ours':>8} {'floor ms':>9} {'flop ms':>8} {'%floor':>7} {'GB/s':>6} {'err':>8} "
        f"{'×fp32':>6} {'recall':>6} {'same':>5} {'ΔE/|E|':>8}"
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
        f"{row['read_gbps']:6.1f} {'-' if error is None else f'{error:.1e}':>8} "
        f"{_fmt(row.get('speedup_vs_fp32'), '.2f', 'x'):>6} {_fmt(row.get('recall'), '.3f'):>6} "
        f"{_fmt(row.get('same_as_fp32'), '.2f'):>5} "
        f"{_fmt(row.get('energy_rel_error_vs_fp32'), '.1e'):>8}"
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
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: this process's CPU time (needs --threads 1; not with --contended), "
        "for a machine loaded by others",
    )
    args = parser.parse_args(argv)
    if args.clock == "cpu" and (args.threads != 1 or args.contended):
        parser.error("--clock cpu needs --threads 1 and no --contended")
    return args


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
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"clock: {args.clock} ({'process CPU time' if args.clock == 'cpu' else 'wall time'})")
    choice = kernel_choice(
        torch.randn(sizes[-1], DIM) / math.sqrt(DIM), 0.0625, args.repeats, clock
    )
    print(
        "ours = library kernel, ref = explicit full-matrix reference, floor = keys.sum() "
        "(read the keys once), flop = 4·B·K·D at the (same-moment) matmul rate; %floor = "
        "max(floor, flop)/ours; err = max|ours − float64| / max|float64| on the same "
        "(dequantised) keys (lse); ×fp32 = our fp32 time / ours (same rounds); recall, "
        f"same, ΔE/|E|: exact recall, agreement with fp32 and energy error vs fp32 of "
        f"{ACCURACY_QUERIES} noisy stored patterns at β=1/√D (unit-variance patterns)"
    )
    print_header(args.contended)
    rows: list[dict[str, Any]] = []
    gen = torch.Generator().manual_seed(args.seed)
    contend = args.contend_seconds if args.contended else None
    for num_memories in sizes:
        base = torch.randn(num_memories, DIM) / math.sqrt(DIM)
        accuracy = store_accuracy(base, gen) if "lse" in kernels else {}
        for store in STORES:
            keys, ref_keys, memory_step = make_store(store, base)
            sq_norms = ref_keys.square().sum(dim=1)
            for batch in batches:
                noise = 0.3 * torch.randn(batch, DIM) / math.sqrt(DIM)
                queries = ref_keys[:batch] + noise
                if store != "fp32" and not (native_available() and batch <= native_max_queries()):
                    continue  # only the native kernel reads low-precision keys directly
                repeats = 3 if batch * num_memories >= 10**8 else args.repeats
                for name in kernels if store == "fp32" else ["lse"]:
                    row = run_case(
                        name, store, keys, queries, sq_norms, ref_keys, memory_step,
                        None if store == "fp32" else base, repeats, contend, clock,
                    )  # fmt: skip
                    if name == "lse":
                        row.update(accuracy.get(store, {}))
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
        "clock": args.clock,
        "rows": rows,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    raise SystemExit(main())
