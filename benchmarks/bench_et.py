"""Benchmark one Energy Transformer step against references.

One ET step ``x ← x − α ∂(E_ATT + E_HN)/∂ĝ`` (Hoover et al. 2023) at ViT-Base
width (D = 768, 12 heads of 64, 3072 Hopfield memories, 196 tokens; batch 32, or
4 with ``--quick``), forward only, no parameter gradients:

* ``et_fast``: the library's closed-form path (:meth:`EnergyTransformerBlock.energy_and_grad`);
* ``et_autograd``: the library's autograd path (``use_autograd=True``);
* ``et_plain``: a plain reference written here (per-head loop, energy by
  ``logsumexp``, force by ``torch.autograd.grad``);
* ``vit_block``: a standard pre-norm transformer block of the same width,
  ``nn.TransformerEncoderLayer(768, 12, 3072, norm_first=True, batch_first=True)``.

FLOPs count multiply-adds as 2; bytes are the compulsory traffic (weights,
input and output tokens, and the ``B·H·T²`` attention matrix written and read
once). Ceilings are measured here: a 2048² fp32 matmul and a 256 MB tensor copy.

Usage: ``python benchmarks/bench_et.py [--quick] [--out PATH]``.
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
from torch import nn

from hopfield.models.energy_transformer import EnergyTransformerBlock

D, HEADS, HEAD_DIM, MEMORIES, TOKENS, MLP = 768, 12, 64, 3072, 196, 3072


def _time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Best-of-``repeats`` wall time of ``fn`` in seconds (robust to a shared machine)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples)


def measure_ceilings() -> dict[str, float]:
    """Achieved fp32 matmul GFLOP/s (2048²) and copy GB/s (256 MB read + write)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    t = _time(lambda: a @ b, repeats=3)
    src = torch.empty(64 * 1024 * 1024)
    dst = torch.empty_like(src)
    c = _time(lambda: dst.copy_(src), repeats=3)
    return {"matmul_gflops": 2 * 2048**3 / t / 1e9, "copy_gbs": 2 * src.numel() * 4 / c / 1e9}


def et_step_flops(batch: int) -> float:
    """FLOPs of one closed-form ET step (projections, scores, both attention paths, Hopfield)."""
    bt, hy = batch * TOKENS, HEADS * HEAD_DIM
    projections = 2 * bt * D * 2 * hy * 2  # Q, K in; both paths back through W_Q, W_K
    attention = 2 * batch * HEADS * TOKENS * TOKENS * HEAD_DIM * 3  # QKᵀ, A K, Aᵀ Q
    hopfield = 2 * bt * D * MEMORIES * 2  # Ξ ĝ and Ξᵀ ReLU(·)
    return float(projections + attention + hopfield)


def vit_block_flops(batch: int) -> float:
    """FLOPs of one pre-norm transformer block forward."""
    bt = batch * TOKENS
    linear = 2 * bt * D * (3 * D + D + 2 * MLP)
    attention = 2 * batch * HEADS * TOKENS * TOKENS * HEAD_DIM * 2
    return float(linear + attention)


def et_step_bytes(batch: int) -> float:
    weights = (2 * HEADS * HEAD_DIM * D + MEMORIES * D) * 4
    tokens = 2 * batch * TOKENS * D * 4
    scores = 2 * batch * HEADS * TOKENS * TOKENS * 4
    return float(weights + tokens + scores)


def vit_block_bytes(batch: int) -> float:
    weights = (4 * D * D + 2 * D * MLP) * 4
    tokens = 2 * batch * TOKENS * D * 4
    scores = 2 * batch * HEADS * TOKENS * TOKENS * 4
    return float(weights + tokens + scores)


def plain_et_step(block: EnergyTransformerBlock, x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Reference: the ET energy written head by head, its force by autograd."""
    att = block.attention
    with torch.enable_grad():
        g = block.norm.activation(x).detach().requires_grad_(True)
        tokens = g.shape[1]
        off_diag = ~torch.eye(tokens, dtype=torch.bool)
        energy = g.new_zeros(())
        for h in range(att.num_heads):
            q = g @ att.query_weight[h].T
            k = g @ att.key_weight[h].T
            logits = (att.beta * q @ k.transpose(1, 2)).masked_fill(~off_diag, -math.inf)
            energy = energy - torch.logsumexp(logits, dim=-1).sum() / att.beta
        overlaps = g @ block.hopfield.memories.T
        energy = energy - 0.5 * torch.relu(overlaps).square().sum()
        (force,) = torch.autograd.grad(energy, [g])
    return x - alpha * force


def run(quick: bool, repeats: int) -> dict[str, object]:
    torch.manual_seed(0)
    batch = 4 if quick else 32
    block = EnergyTransformerBlock(D, HEADS, HEAD_DIM, MEMORIES, attention_init_std=0.02)
    vit = nn.TransformerEncoderLayer(
        D, HEADS, MLP, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    ).eval()
    x = torch.randn(batch, TOKENS, D)
    alpha = 0.1
    with torch.no_grad():
        fast = block.descend(x, steps=1, alpha=alpha).tokens
        ref = plain_et_step(block, x, alpha)
        max_diff = float((fast - ref).abs().max())
        cases: dict[str, tuple[Callable[[], object], float, float]] = {
            "et_fast": (lambda: block.step(x, alpha), et_step_flops(batch), et_step_bytes(batch)),
            "et_autograd": (
                lambda: block.step(x, alpha, use_autograd=True),
                et_step_flops(batch),
                et_step_bytes(batch),
            ),
            "et_plain": (
                lambda: plain_et_step(block, x, alpha),
                et_step_flops(batch),
                et_step_bytes(batch),
            ),
            "vit_block": (lambda: vit(x), vit_block_flops(batch), vit_block_bytes(batch)),
        }
        timings = {name: _time(fn, repeats) for name, (fn, _, _) in cases.items()}
    ceilings = measure_ceilings()
    rows = {}
    for name, (_, flops, nbytes) in cases.items():
        seconds = timings[name]
        gflops, gbs = flops / seconds / 1e9, nbytes / seconds / 1e9
        rows[name] = {
            "seconds": seconds,
            "gflop": flops / 1e9,
            "mbytes": nbytes / 1e6,
            "gflops": gflops,
            "gbs": gbs,
            "pct_matmul_ceiling": 100 * gflops / ceilings["matmul_gflops"],
            "pct_copy_ceiling": 100 * gbs / ceilings["copy_gbs"],
        }
    ratios = {
        "autograd_over_fast": timings["et_autograd"] / timings["et_fast"],
        "plain_over_fast": timings["et_plain"] / timings["et_fast"],
        "fast_over_vit_block": timings["et_fast"] / timings["vit_block"],
    }
    return {
        "config": {
            "batch": batch,
            "tokens": TOKENS,
            "D": D,
            "heads": HEADS,
            "head_dim": HEAD_DIM,
            "memories": MEMORIES,
            "repeats": repeats,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.machine(),
        },
        "ceilings": ceilings,
        "results": rows,
        "ratios": ratios,
        "fast_vs_plain_max_abs_diff": max_diff,
    }


def print_table(report: dict[str, object]) -> None:
    ceilings = report["ceilings"]
    assert isinstance(ceilings, dict)
    print(
        f"ceilings: matmul {ceilings['matmul_gflops']:.1f} GFLOP/s, "
        f"copy {ceilings['copy_gbs']:.1f} GB/s"
    )
    print(
        f"{'case':<12} {'ms':>9} {'GFLOP':>8} {'MB':>8} {'GFLOP/s':>8} {'%mm':>6} "
        f"{'GB/s':>7} {'%copy':>6}"
    )
    results = report["results"]
    assert isinstance(results, dict)
    for name, r in results.items():
        print(
            f"{name:<12} {1e3 * r['seconds']:>9.2f} {r['gflop']:>8.2f} {r['mbytes']:>8.1f} "
            f"{r['gflops']:>8.1f} {r['pct_matmul_ceiling']:>6.1f} {r['gbs']:>7.2f} "
            f"{r['pct_copy_ceiling']:>6.1f}"
        )
    ratios = report["ratios"]
    assert isinstance(ratios, dict)
    print(
        f"autograd/fast = {ratios['autograd_over_fast']:.2f}x, plain/fast = "
        f"{ratios['plain_over_fast']:.2f}x, ET fast step / ViT block = "
        f"{ratios['fast_over_vit_block']:.2f}x; |fast - plain| = "
        f"{report['fast_vs_plain_max_abs_diff']:.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 4 instead of 32")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    parser.add_argument("--out", default="benchmarks/results/bench_et.json")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    report = run(args.quick, repeats)
    print_table(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
