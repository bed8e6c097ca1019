"""Benchmark: one energy-descent step of a HAM, closed-form fast path vs plain autograd.

HAM: one layer ``v`` of 784 neurons (``SphericalNorm``) and a ``DenseMemorySynapse``
with 900 memories (log-sum-exp, β = 8); batch 128 queries (noisy memories), fp32,
inference (no parameter gradients). One step is

    ∂E/∂ĝ = x − Ξᵀ softmax(β Ξ ĝ),    x ← x − η ∂E/∂ĝ,    E(x_new)  (trace / guard)

* ours: :func:`hopfield.core.descend` — the synapse's fused closed form
  (``energy_and_grad``: one ``Ξĝ`` product shared by ``E`` and ``∂E/∂ĝ``), evaluated
  once per step at the new state, which the next step reuses;
* reference (written here): the plain way — ``ĝ`` as a leaf, ``E`` the total energy
  with ``x`` held fixed, ``∂E/∂ĝ = torch.autograd.grad(E, ĝ)`` at every step.

Three scenarios: no guard (η = 0.1), guard without rejections (η = 0.1), guard with
rejections (η = 2: per-sample halvings; ours re-evaluates only the failing samples, the
reference the whole batch, with the same acceptance rule). The time of one step is
the marginal cost ``(t(S steps) − t(0 steps)) / S`` (best of several interleaved
repeats), so set-up and the initial evaluation are excluded. FLOP/byte counts are
those of one step without rejection.

Kernel counts per step (no rejection): FLOPs ≈ 4·B·M·D (two matmuls ``Ξĝ`` and
``softmax·Ξ``) + 5·B·M (softmax, logsumexp) + 12·B·D (norm, update); bytes ≥
2·M·D·4 (``Ξ`` read twice) + 2·B·M·4 (scores written/read) + 6·B·D·4 (states,
activations, gradients). The % columns compare with an fp32 matmul (2048³) and a
128 MiB copy timed in the same run.

Usage: ``python benchmarks/bench_core.py [--quick] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

import machine
from hopfield.core import HAM, DenseMemorySynapse, Neurons, SphericalNorm, descend
from hopfield.core.dynamics import ROUNDING_ULPS

BYTES_F32 = 4
MAX_HALVINGS = 20


def build_ham(dim: int, memories: int, beta: float, seed: int) -> HAM:
    gen = torch.Generator().manual_seed(seed)
    ham = HAM(
        neurons={"v": Neurons(dim, SphericalNorm(dim))},
        synapses={"memory": DenseMemorySynapse(memories, dim, beta=beta, generator=gen)},
        connections=[(("v",), "memory")],
    )
    return ham.requires_grad_(False)


def initial_states(ham: HAM, batch: int, seed: int) -> torch.Tensor:
    """Queries: stored memories plus Gaussian noise of the same norm (a recall task)."""
    gen = torch.Generator().manual_seed(seed)
    synapse = ham.synapse("memory")
    assert isinstance(synapse, DenseMemorySynapse)
    memories = synapse.memories.detach()
    index = torch.randint(0, memories.shape[0], (batch,), generator=gen)
    noise = torch.randn(batch, memories.shape[1], generator=gen) / memories.shape[1] ** 0.5
    return memories[index] + noise


def _autograd_energy_and_grad(ham: HAM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain reference: total energy with ``x`` fixed and ``∂E/∂ĝ`` by autograd."""
    with torch.enable_grad():
        g = ham.layer("v").activation(x).detach().requires_grad_(True)
        energy = ham._energy({"v": x}, {"v": g})
        (grad,) = torch.autograd.grad(energy.sum(), [g])
    return energy.detach(), grad


def reference_descend(
    ham: HAM, x: torch.Tensor, steps: int, step_size: float, guard: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit Euler on ``∂E/∂ĝ`` from autograd, with the same per-sample guard rule
    (halve on a rise, stay put on a rise within ``ROUNDING_ULPS`` ulps or after
    ``MAX_HALVINGS``), every trial evaluated on the whole batch."""
    energy, grad = _autograd_energy_and_grad(ham, x)
    trace = [energy]
    eps = torch.finfo(x.dtype).eps
    for _ in range(steps):
        scale = torch.ones_like(energy)
        pending = torch.ones_like(energy, dtype=torch.bool)
        for attempt in range(MAX_HALVINGS + 1 if guard else 1):
            trial = x - (scale * step_size)[:, None] * grad
            trial_energy, trial_grad = _autograd_energy_and_grad(ham, trial)
            if not guard:
                break
            rise = trial_energy - energy
            failed = pending & ~(rise <= 0)
            if not bool(failed.any()):
                break
            stay = failed & (rise <= ROUNDING_ULPS * eps * (energy.abs() + trial_energy.abs()))
            if attempt == MAX_HALVINGS:
                stay = failed
            scale = torch.where(stay, 0.0, torch.where(failed, scale * 0.5, scale))
            pending = failed & ~stay
            if not bool(pending.any()):
                trial = x - (scale * step_size)[:, None] * grad
                trial_energy, trial_grad = _autograd_energy_and_grad(ham, trial)
                break
        x, energy, grad = trial, trial_energy, trial_grad
        trace.append(energy)
    return x, torch.stack(trace)


def ours_descend(
    ham: HAM, x: torch.Tensor, steps: int, step_size: float, guard: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        result = descend(ham, {"v": x}, steps=steps, step_size=step_size, guard=guard)
    return result.states["v"], result.energies


def step_seconds(
    impls: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]],
    ham: HAM,
    x: torch.Tensor,
    steps: int,
    step_size: float,
    guard: bool,
    repeats: int,
) -> dict[str, float]:
    """Marginal time of one step per implementation, ``(t(S) − t(0)) / S``, best of
    ``repeats``; the implementations are timed in turn (interleaved) so that a change
    of machine load affects them alike."""
    best = {(name, n): math.inf for name in impls for n in (0, steps)}
    for impl in impls.values():  # warm-up
        impl(ham, x, steps, step_size, guard)
    for _ in range(repeats):
        for name, impl in impls.items():
            for n in (0, steps):
                start = time.perf_counter()
                impl(ham, x, n, step_size, guard)
                best[name, n] = min(best[name, n], time.perf_counter() - start)
    return {name: max(best[name, steps] - best[name, 0], 1e-9) / steps for name in impls}


def measure_ceilings() -> dict[str, float]:
    """This machine's fp32 matmul GFLOP/s and copy GB/s (best of a few)."""
    return machine.measure_ceilings(matmul_size=2048, copy_mib=128, repeats=5)


def kernel_counts(batch: int, dim: int, memories: int) -> tuple[int, int]:
    """FLOPs and minimum bytes of one step (see the module docstring)."""
    flops = 4 * batch * memories * dim + 5 * batch * memories + 12 * batch * dim
    bytes_moved = (2 * memories * dim + 2 * batch * memories + 6 * batch * dim) * BYTES_F32
    return flops, bytes_moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_core.json"))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--memories", type=int, default=900)
    parser.add_argument("--beta", type=float, default=8.0)
    parser.add_argument("--step-size", type=float, default=0.1)
    parser.add_argument(
        "--large-step", type=float, default=2.0, help="step size of the guarded run with rejections"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    args.steps, args.repeats = (4, 3) if args.quick else (10, 7)
    torch.set_num_threads(args.threads)

    ham = build_ham(args.dim, args.memories, args.beta, seed=0)
    x = initial_states(ham, args.batch, seed=1)
    ceilings = measure_ceilings()
    flops, bytes_moved = kernel_counts(args.batch, args.dim, args.memories)
    print(
        f"torch {torch.__version__}, {args.threads} threads, B={args.batch}, D={args.dim}, "
        f"M={args.memories}, fp32; one step = {flops / 1e6:.0f} MFLOP, "
        f"≥ {bytes_moved / 1e6:.1f} MB; ceilings: matmul {ceilings['matmul_gflops']:.1f} "
        f"GFLOP/s, copy {ceilings['copy_gbps']:.1f} GB/s"
    )
    header = f"{'guard':>6} {'η':>5} {'rej':>5} {'impl':>10} {'ms/step':>8} {'GFLOP/s':>8} "
    header += f"{'%peak':>6} {'GB/s':>6} {'%bw':>5}"
    print(header)
    impls = {"ours": ours_descend, "reference": reference_descend}
    scenarios = [(False, args.step_size), (True, args.step_size), (True, args.large_step)]
    rows = []
    for guard, step_size in scenarios:
        with torch.no_grad():
            run = descend(ham, {"v": x}, steps=args.steps, step_size=step_size, guard=guard)
        ours_x, ours_trace = ours_descend(ham, x, args.steps, step_size, guard)
        ref_x, ref_trace = reference_descend(ham, x, args.steps, step_size, guard)
        timings = step_seconds(impls, ham, x, args.steps, step_size, guard, args.repeats)
        ratio = timings["reference"] / timings["ours"]
        for name, seconds in timings.items():
            gflops, gbps = flops / seconds / 1e9, bytes_moved / seconds / 1e9
            row = {
                "guard": guard,
                "step_size": step_size,
                "rejections": run.rejections,
                "impl": name,
                "seconds_per_step": seconds,
                "gflops": gflops,
                "gbps": gbps,
                "pct_matmul_ceiling": 100 * gflops / ceilings["matmul_gflops"],
                "pct_copy_ceiling": 100 * gbps / ceilings["copy_gbps"],
                "speedup_ours_vs_reference": ratio,
                "final_states_max_abs_diff": float((ours_x - ref_x).abs().max()),
                "energy_trace_max_abs_diff": float((ours_trace - ref_trace).abs().max()),
            }
            rows.append(row)
            print(
                f"{guard!s:>6} {step_size:5.2g} {run.rejections:5d} {name:>10} "
                f"{1e3 * seconds:8.3f} {gflops:8.1f} {row['pct_matmul_ceiling']:6.1f} "
                f"{gbps:6.1f} {row['pct_copy_ceiling']:5.1f}"
            )
        print(
            f"{'':>29} ratio reference / ours = {ratio:.2f}x; final states max |Δ| = "
            f"{rows[-1]['final_states_max_abs_diff']:.1e}"
        )

    report = {
        "benchmark": "bench_core",
        "config": {k: v for k, v in vars(args).items() if k != "out"},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, **ceilings},
        "kernel": {"flops_per_step": flops, "bytes_per_step": bytes_moved},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
