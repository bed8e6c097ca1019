"""Benchmark: one guarded HAM descent step against a hamux-torch-style step and the matmul floor.

HAM (issue 14, item 5): one layer ``v`` of 784 neurons (``SphericalNorm``) and a
``DenseMemorySynapse`` of 900 memories (log-sum-exp, β = 10); batch 128 queries
(stored memories plus noise), fp32, step η = 0.1, inference (no parameter gradients).
One step is

    ĝ = γx/‖x‖ + δ,   ∂E/∂ĝ = x − Ξᵀ softmax(β Ξ ĝ),   x ← x − η ∂E/∂ĝ,   E(x_new)

where ``E(x_new)`` is what the guard compares (and what the next step reuses).
Implementations, timed in the same run and interleaved:

* ``ours_guarded`` / ``ours_unguarded``: :func:`hopfield.core.descend` with and without
  the energy guard. For this HAM (one spherical layer, one dense memory, M < 2D) it
  descends in the span of the memories (:mod:`hopfield.core.memory_span`):
  ``x = c x₀ + aΞ``, one product ``aG`` with the cached Gram matrix ``G = ΞΞᵀ`` per step
  (``2·B·M²`` FLOP instead of ``4·B·M·D``), and the guard's halvings are interpolated
  without any product;
* ``ours_direct``: the guarded step on ``x`` itself (the path every other HAM takes):
  one fused evaluation per step, energy and gradient from the same two products
  ``Ξĝ`` and ``wΞ``, the accepted trial's gradient reused by the next step;
* ``hamux_style``: a reference written here in the style of hamux-torch (it is not a
  dependency): per-sample functions batched with ``torch.func.vmap``; activations
  ``ĝ = grad(L)(x)`` by autograd of the Lagrangian (the norm recomputed every step);
  the neuron energy ``⟨ĝ, x⟩ − L(x)`` as a Legendre-transform autograd function;
  ``E`` and ``∂E/∂ĝ`` by ``grad_and_value`` of the total energy at every step; the
  same acceptance test on ``E`` as the guard (it has ``E`` anyway);
* ``matmul_floor``: the two products ``Ξĝ`` and ``wᵀΞ``, ``4·B·M·D`` FLOP, at this
  machine's fp32 matmul rate measured in the same run (``machine.measure_ceilings``).

``%matmul`` is the nominal ``4·B·M·D`` FLOP of a step at the measured matmul rate
(above 100 % means faster than the direct step can be); ``%work`` counts the FLOP
the implementation really does (``2·B·M²`` in the span). Why the span: measured here,
the direct step already spends ~70 % of its time in the two products (the elementwise
work and the guard cost the rest), so the only way past the products was fewer FLOP;
the Gram matrix (``2·M²·D`` FLOP, printed as ``gram_ms``) is computed once per synapse
and reused while the memories are unchanged.

A second scenario (η = 2, ``--large-step``) has rejections: ours retries only the
failing samples with half the step (in the span without a product); the reference
applies the same per-sample rule with whole-batch re-evaluations.

The time of one step is the marginal cost ``(t(S steps) − t(0 steps)) / S`` (median of
interleaved repeats), so set-up and the initial evaluation are excluded. The
machine's load average is recorded: on a shared machine only the ratios measured
in the same run mean something.

Usage: ``python benchmarks/bench_core.py [--quick] [--device cpu|cuda] [--out PATH]``
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
from torch.func import grad, grad_and_value, vmap

import machine
from hopfield.core import (
    HAM,
    DenseMemorySynapse,
    Neurons,
    SphericalNorm,
    descend,
    dynamics,
    memory_span,
)
from hopfield.core.dynamics import ROUNDING_ULPS

MAX_HALVINGS = 20
Descent = Callable[[torch.Tensor, int, float, bool], tuple[torch.Tensor, torch.Tensor]]


def build_ham(dim: int, memories: int, beta: float, seed: int, device: str) -> HAM:
    gen = torch.Generator().manual_seed(seed)
    ham = HAM(
        neurons={"v": Neurons(dim, SphericalNorm(dim))},
        synapses={"memory": DenseMemorySynapse(memories, dim, beta=beta, generator=gen)},
        connections=[(("v",), "memory")],
    )
    return ham.requires_grad_(False).to(device)


def initial_states(ham: HAM, batch: int, seed: int) -> torch.Tensor:
    """Queries: stored memories plus Gaussian noise of the same norm (a recall task)."""
    gen = torch.Generator().manual_seed(seed)
    synapse = ham.synapse("memory")
    assert isinstance(synapse, DenseMemorySynapse)
    memories = synapse.memories.detach().cpu()
    index = torch.randint(0, memories.shape[0], (batch,), generator=gen)
    noise = torch.randn(batch, memories.shape[1], generator=gen) / memories.shape[1] ** 0.5
    return (memories[index] + noise).to(synapse.memories.device)


# ------------------------------------------------------- hamux-torch-style reference


class _Legendre(torch.autograd.Function):
    """``⟨ĝ, x⟩ − L`` with the Legendre-transform gradients ``∂/∂ĝ = x``, ``∂/∂x = ĝ``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(g: torch.Tensor, x: torch.Tensor, lagrangian: torch.Tensor) -> torch.Tensor:
        return (g * x).sum() - lagrangian

    @staticmethod
    def setup_context(ctx: object, inputs: tuple[torch.Tensor, ...], output: object) -> None:
        g, x, _ = inputs
        ctx.save_for_backward(g, x)  # type: ignore[attr-defined]

    @staticmethod
    def backward(ctx: object, grad_out: torch.Tensor) -> tuple[torch.Tensor, ...]:
        g, x = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad_out * x, grad_out * g, -grad_out


class HamuxStyle:
    """The reference step, functions of ONE sample batched with ``vmap`` (hamux-torch's way)."""

    def __init__(self, ham: HAM) -> None:
        norm, synapse = ham.layer("v").lagrangian, ham.synapse("memory")
        assert isinstance(norm, SphericalNorm) and isinstance(synapse, DenseMemorySynapse)
        gamma, eps, delta = norm.gamma.detach(), norm.eps, norm.delta
        memories, beta = synapse.memories.detach(), synapse.beta.detach()
        bias = torch.zeros_like(memories[0]) if delta is None else delta.detach()

        def lagrangian(x: torch.Tensor) -> torch.Tensor:
            return gamma * torch.sqrt((x**2).sum() + eps) + (bias * x).sum()

        def energy(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            neurons = _Legendre.apply(g, x, lagrangian(x))
            return neurons - torch.logsumexp(beta * (memories @ g), dim=0) / beta

        self.activations = vmap(grad(lagrangian))
        self.grad_and_energy = vmap(grad_and_value(energy))

    def evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E (B,), ∂E/∂ĝ (B, D))`` at ``x``."""
        with torch.enable_grad():
            dE, energy = self.grad_and_energy(self.activations(x), x)
        return energy.detach(), dE.detach()

    def descend(
        self, x: torch.Tensor, steps: int, step_size: float, guard: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Euler steps; with ``guard`` a sample whose energy rises is retried with half its
        step (whole batch re-evaluated), the rule of :func:`hopfield.core.descend`."""
        energy, dE = self.evaluate(x)
        trace, eps = [energy], torch.finfo(x.dtype).eps
        for _ in range(steps):
            scale = torch.ones_like(energy)
            trial = x - step_size * dE
            trial_energy, trial_dE = self.evaluate(trial)
            for attempt in range(MAX_HALVINGS if guard else 0):
                failed = ~(torch.isfinite(trial_energy) & (trial_energy <= energy)) & (scale > 0)
                if not bool(failed.any()):
                    break
                noise = ROUNDING_ULPS * eps * (energy.abs() + trial_energy.abs())
                stay = failed & ((trial_energy - energy <= noise) | (attempt == MAX_HALVINGS - 1))
                scale = torch.where(stay, 0.0, torch.where(failed, scale * 0.5, scale))
                trial = x - (scale * step_size)[:, None] * dE
                trial_energy, trial_dE = self.evaluate(trial)
            x, energy, dE = trial, trial_energy, trial_dE
            trace.append(energy)
        return x, torch.stack(trace)


def ours(ham: HAM, guard: bool, span: bool = True) -> Descent:
    """:func:`descend` (``span=False``: its direct path, the one every other HAM takes)."""

    def run(x: torch.Tensor, steps: int, step_size: float, _: bool) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            if span:
                result = descend(ham, {"v": x}, steps=steps, step_size=step_size, guard=guard)
            else:
                result = dynamics._iterate(
                    ham, {"v": x}, {}, steps, step_size, None, guard, MAX_HALVINGS, span=False
                )
        return result.states["v"], result.energies

    return run  # type: ignore[return-value]


def gram_seconds(ham: HAM, repeats: int, clock: Callable[[], float]) -> float:
    """Time of the Gram matrix ``ΞΞᵀ`` the span path computes once per synapse."""
    memories = ham.synapse("memory").memories.detach()  # type: ignore[union-attr]
    times = []
    for _ in range(repeats):
        _synchronize(str(memories.device))
        start = clock()
        memories @ memories.T
        _synchronize(str(memories.device))
        times.append(clock() - start)
    return statistics.median(times)


# --------------------------------------------------------------------- timing


def _synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def step_seconds(
    impls: dict[str, Descent],
    x: torch.Tensor,
    steps: int,
    step_size: float,
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Marginal time of one step per implementation, ``(t(S) − t(0)) / S`` from the
    medians of ``repeats`` interleaved runs (load changes affect all alike)."""
    device = str(x.device)
    samples: dict[tuple[str, int], list[float]] = {(n, s): [] for n in impls for s in (0, steps)}
    for impl in impls.values():  # warm-up
        impl(x, steps, step_size, True)
    for _ in range(repeats):
        for name, impl in impls.items():
            for n in (0, steps):
                _synchronize(device)
                start = clock()
                impl(x, n, step_size, True)
                _synchronize(device)
                samples[name, n].append(clock() - start)
    median = {key: statistics.median(values) for key, values in samples.items()}
    return {name: max(median[name, steps] - median[name, 0], 1e-9) / steps for name in impls}


def cpu_matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The fp32 matmul rate in this process's CPU time (best of ``repeats``), the ceiling
    that goes with ``--clock cpu``."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = math.inf
    for _ in range(repeats):
        start = time.process_time()
        a @ b
        best = min(best, time.process_time() - start)
    return 2 * size**3 / best / 1e9


def _row(scenario: str, name: str, seconds: float, flops: int, work: int, ceiling: float) -> dict:
    gflops = flops / seconds / 1e9
    return {
        "scenario": scenario,
        "impl": name,
        "ms_per_step": 1e3 * seconds,
        "gflops": gflops,
        "pct_matmul_rate": 100 * gflops / ceiling,
        "flop_done": work,
        "pct_work_rate": 100 * work / seconds / 1e9 / ceiling,
    }


def run_scenario(
    ham: HAM, x: torch.Tensor, step_size: float, args: argparse.Namespace, ceiling: float
) -> tuple[list[dict], dict[str, float]]:
    """Time one step size: ours (guarded, unguarded), the reference, the matmul floor."""
    reference = HamuxStyle(ham)
    impls: dict[str, Descent] = {
        "ours_guarded": ours(ham, guard=True),
        "ours_unguarded": ours(ham, guard=False),
        "ours_direct": ours(ham, guard=True, span=False),
        "hamux_style": reference.descend,
    }
    with torch.no_grad():
        run = descend(ham, {"v": x}, steps=args.steps, step_size=step_size)
    ref_x, ref_trace = reference.descend(x, args.steps, step_size, True)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    seconds = step_seconds(impls, x, args.steps, step_size, args.repeats, clock)
    b, d = x.shape
    m = ham.synapse("memory").num_memories  # type: ignore[union-attr]
    flops = 4 * b * m * d
    seconds["matmul_floor"] = flops / (ceiling * 1e9)
    scenario = f"step {step_size:g}"
    in_span = memory_span.plan(ham, x, args.steps, step_size) is not None
    span_work = 2 * b * m * m if in_span else flops
    work = {"ours_guarded": span_work, "ours_unguarded": span_work}
    rows = [
        _row(scenario, name, s, flops, work.get(name, flops), ceiling)
        for name, s in seconds.items()
    ]
    checks = {
        "span_path": in_span,
        "rejections": run.rejections,
        "final_states_max_abs_diff": float((run.states["v"] - ref_x).abs().max()),
        "energy_trace_max_abs_diff": float((run.energies - ref_trace).abs().max()),
    }
    for row in rows:
        row.update(checks)
        row["hamux_style_over_this"] = seconds["hamux_style"] / (row["ms_per_step"] / 1e3)
    return rows, seconds


def print_rows(rows: list[dict]) -> None:
    print(
        f"{'scenario':>10} {'impl':>15} {'ms/step':>8} {'GFLOP/s':>8} {'%matmul':>8} "
        f"{'%work':>6} {'hamux/this':>10}"
    )
    for row in rows:
        print(
            f"{row['scenario']:>10} {row['impl']:>15} {row['ms_per_step']:8.3f} "
            f"{row['gflops']:8.1f} {row['pct_matmul_rate']:8.1f} {row['pct_work_rate']:6.1f} "
            f"{row['hamux_style_over_this']:10.2f}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/bench_core.json"), help="JSON path"
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, …)")
    parser.add_argument("--batch", type=int, default=128, help="queries B")
    parser.add_argument("--dim", type=int, default=784, help="neurons D")
    parser.add_argument("--memories", type=int, default=900, help="memories M")
    parser.add_argument("--beta", type=float, default=10.0, help="inverse temperature β")
    parser.add_argument("--step-size", type=float, default=0.1, help="step η")
    parser.add_argument(
        "--large-step", type=float, default=2.0, help="η of the scenario with rejections"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU intra-op threads")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time (with --threads 1 on a "
        "loaded machine it leaves out the time other processes hold the core)",
    )
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: this torch build has no CUDA device")
    if args.clock == "cpu" and not args.device.startswith("cpu"):
        parser.error("--clock cpu times CPU work; use it with --device cpu")
    args.steps, args.repeats = (4, 3) if args.quick else (10, 9)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    ham = build_ham(args.dim, args.memories, args.beta, seed=0, device=args.device)
    x = initial_states(ham, args.batch, seed=1)
    load_before = os.getloadavg()
    ceilings = machine.measure_ceilings(
        matmul_size=2048, copy_mib=128, repeats=5, device=args.device
    )
    if args.clock == "cpu":
        ceilings["matmul_gflops_wall"] = ceilings["matmul_gflops"]
        ceilings["matmul_gflops"] = cpu_matmul_gflops()
    print(
        f"torch {torch.__version__}, device {args.device}, {args.threads} threads, "
        f"{args.clock} clock, "
        f"B={args.batch}, D={args.dim}, M={args.memories}, β={args.beta:g}, fp32; "
        f"matmul {ceilings['matmul_gflops']:.1f} GFLOP/s; load average {load_before[0]:.1f}"
    )
    rows: list[dict] = []
    ratios = {}
    for step_size in (args.step_size, args.large_step):
        scenario_rows, seconds = run_scenario(ham, x, step_size, args, ceilings["matmul_gflops"])
        rows += scenario_rows
        ratios[f"step {step_size:g}"] = {
            f"hamux_style_over_{name}": seconds["hamux_style"] / seconds[name]
            for name in ("ours_guarded", "ours_unguarded", "ours_direct")
        } | {"ours_guarded_over_matmul_floor": seconds["ours_guarded"] / seconds["matmul_floor"]}
    print_rows(rows)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    gram_ms = 1e3 * gram_seconds(ham, args.repeats, clock)
    print(f"gram_ms {gram_ms:.2f}: ΞΞᵀ, computed once per synapse and cached (not in ms/step)")
    for scenario, ratio in ratios.items():
        print(
            f"{scenario}: guarded {ratio['hamux_style_over_ours_guarded']:.2f}x, unguarded "
            f"{ratio['hamux_style_over_ours_unguarded']:.2f}x, direct guarded "
            f"{ratio['hamux_style_over_ours_direct']:.2f}x the speed of the hamux-torch-style "
            "step (aim ≥ 3.5x guarded)"
        )
    main_ratio = ratios[f"step {args.step_size:g}"]["hamux_style_over_ours_guarded"]
    report = {
        "benchmark": "bench_core",
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            **ceilings,
        },
        "ratios": ratios,
        "gram_ms": gram_ms,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0 if math.isfinite(main_ratio) else 1


if __name__ == "__main__":
    raise SystemExit(main())
