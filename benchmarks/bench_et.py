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

Training step (second table, ``"training"`` in the JSON): one AdamW update of
masked-image modelling (Hoover et al. 2023, §4) on 32×32 images in 4×4 patches
(64 patch tokens + CLS, half of them masked): tokenize, ``T`` unrolled ET steps,
decode, MSE on the masked patches, backward, ``AdamW.step``. Sizes: D = 256,
4 heads of 64, M = 1024, batch 16, T = 4 with ``--quick``; D = 512, 8 heads of 64,
M = 2048, batch 32, T = 8 otherwise. Cases:

* ``train_et_fast``: the default closed-form energy gradient, backpropagated through;
* ``train_et_autograd``: ``use_autograd=True`` (the force by ``torch.autograd.grad``
  with ``create_graph``, so the backward is a double backward);
* ``train_vit``: the same tokenizer and decoder around ONE pre-norm
  ``nn.TransformerEncoderLayer(D, H, 4D, norm_first=True, batch_first=True)``
  applied ``T`` times (weights shared, like the ET's single block) and a LayerNorm.

Training FLOPs are an estimate, 3× the forward (backward ≈ 2× forward), and are
reported against the measured matmul ceiling. Before timing, the parameter
gradients of the fast and autograd paths are compared.

``--device cuda`` runs everything on a GPU (synchronised timings, ceilings measured
on the device); ``--smoke`` shrinks every size to a seconds-long run that checks the
benchmark itself (used by ``benchmarks/gpu_check.sh --dry-run``).

Usage: ``python benchmarks/bench_et.py [--quick] [--smoke] [--device DEV] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import platform
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import machine
from hopfield.models.energy_transformer import EnergyTransformer, EnergyTransformerBlock
from hopfield.models.energy_transformer_patches import (
    ImageTokenizer,
    PatchDecoder,
    patchify,
    random_patch_mask,
)

D, HEADS, HEAD_DIM, MEMORIES, TOKENS, MLP = 768, 12, 64, 3072, 196, 3072


def _time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Best-of-``repeats`` wall time of ``fn`` in seconds (robust to a shared machine;
    CUDA-synchronised on a GPU)."""
    for _ in range(warmup):
        fn()
    return machine.best_seconds(fn, repeats, torch.get_default_device())


def measure_ceilings(smoke: bool = False) -> dict[str, float]:
    """Achieved fp32 matmul GFLOP/s (2048², 512² with ``smoke``) and copy GB/s (256 MB,
    16 MB with ``smoke``; read + write)."""
    return machine.measure_ceilings(
        matmul_size=512 if smoke else 2048,
        copy_mib=16 if smoke else 256,
        repeats=3,
        device=torch.get_default_device(),
    )


def _et_step_flops(
    batch: int, tokens: int, d: int, heads: int, head_dim: int, memories: int
) -> float:
    bt, hy = batch * tokens, heads * head_dim
    projections = 2 * bt * d * 2 * hy * 2  # Q, K in; both paths back through W_Q, W_K
    attention = 2 * batch * heads * tokens * tokens * head_dim * 3  # QKᵀ, A K, Aᵀ Q
    hopfield = 2 * bt * d * memories * 2  # Ξ ĝ and Ξᵀ ReLU(·)
    return float(projections + attention + hopfield)


def _vit_block_flops(batch: int, tokens: int, d: int, heads: int, head_dim: int, mlp: int) -> float:
    bt = batch * tokens
    linear = 2 * bt * d * (3 * d + d + 2 * mlp)
    attention = 2 * batch * heads * tokens * tokens * head_dim * 2
    return float(linear + attention)


def et_step_flops(batch: int) -> float:
    """FLOPs of one closed-form ET step (projections, scores, both attention paths, Hopfield)."""
    return _et_step_flops(batch, TOKENS, D, HEADS, HEAD_DIM, MEMORIES)


def vit_block_flops(batch: int) -> float:
    """FLOPs of one pre-norm transformer block forward."""
    return _vit_block_flops(batch, TOKENS, D, HEADS, HEAD_DIM, MLP)


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
        off_diag = ~torch.eye(tokens, dtype=torch.bool, device=g.device)
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


def run(batch: int, repeats: int, train_sizes: dict[str, int]) -> dict[str, object]:
    torch.manual_seed(0)
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
    ceilings = measure_ceilings(smoke=batch == 1)
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
            "pct_copy_ceiling": 100 * gbs / ceilings["copy_gbps"],
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
        "training": run_training(train_sizes, repeats, ceilings["matmul_gflops"]),
    }


# ---------------------------------------------------------------- training step
#: Training-step sizes: 32×32 single-channel images in 4×4 patches → 64 patch tokens
#: (+ CLS). Quick: D = 256, 4 heads of 64, M = 1024, batch 16, T = 4; full: D = 512,
#: 8 heads of 64, M = 2048, batch 32, T = 8. The ViT MLP width is 4·D (= M).
TRAIN_QUICK = {"D": 256, "heads": 4, "head_dim": 64, "memories": 1024, "batch": 16, "steps": 4}
TRAIN_FULL = {"D": 512, "heads": 8, "head_dim": 64, "memories": 2048, "batch": 32, "steps": 8}
TRAIN_SMOKE = {"D": 32, "heads": 2, "head_dim": 8, "memories": 64, "batch": 2, "steps": 2}
TRAIN_IMAGE, TRAIN_PATCH, TRAIN_MASK_FRACTION = 32, 4, 0.5


class ViTMaskedPredictor(nn.Module):
    """Pre-norm ViT-style baseline on the ET's tokens: ``(images, mask) → patches``.

    Same front end and read-out as :class:`EnergyTransformer` (an
    :class:`ImageTokenizer` giving ``[CLS; MASK or W_E·patch + e]`` and a linear
    :class:`PatchDecoder` of the patch tokens), with the energy descent replaced by
    ONE ``nn.TransformerEncoderLayer(D, H, 4D, norm_first=True, batch_first=True)``
    applied ``T`` times (weights shared across the ``T`` applications, like the ET's
    single block unrolled ``T`` times) and a final LayerNorm.
    """

    def __init__(self, d: int, heads: int, mlp: int, steps: int) -> None:
        super().__init__()
        self.tokenizer = ImageTokenizer(TRAIN_IMAGE, TRAIN_PATCH, 1, d)
        self.layer = nn.TransformerEncoderLayer(
            d, heads, mlp, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.norm = nn.LayerNorm(d)
        self.decoder = PatchDecoder(d, self.tokenizer.patch_dim)
        self.steps = steps

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.tokenizer(images, mask)
        for _ in range(self.steps):
            x = self.layer(x)
        g = self.norm(x)[:, self.tokenizer.num_prefix_tokens :]
        patches: torch.Tensor = self.tokenizer.denormalize(self.decoder(g))
        return patches


def masked_patch_mse(
    prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Mean squared error over the masked patches (``mask (B, N)`` True = masked)."""
    per_patch = (prediction - target).square().mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum().clamp_min(1)


def train_step(
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """One AdamW update on the masked-patch MSE (forward, loss, backward, step)."""
    target = patchify(images, TRAIN_PATCH)
    loss = masked_patch_mse(predict(images, mask), target, mask)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _et_predictor(
    model: EnergyTransformer, use_autograd: bool
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return lambda images, mask: model(images, mask, use_autograd=use_autograd).patches


def et_train_flops(sizes: dict[str, int], tokens: int) -> float:
    """Estimated FLOPs of one ET training step: forward = ``T + 1`` closed-form energy
    gradients (``descend`` also evaluates the final state); backward ≈ 2× forward."""
    forward = (sizes["steps"] + 1) * _et_step_flops(
        sizes["batch"], tokens, sizes["D"], sizes["heads"], sizes["head_dim"], sizes["memories"]
    )
    return 3.0 * forward


def vit_train_flops(sizes: dict[str, int], tokens: int) -> float:
    """Estimated FLOPs of one ViT training step: ``T`` block forwards, backward ≈ 2×."""
    forward = sizes["steps"] * _vit_block_flops(
        sizes["batch"],
        tokens,
        sizes["D"],
        sizes["heads"],
        sizes["D"] // sizes["heads"],
        sizes["memories"],
    )
    return 3.0 * forward


def _max_grad_diff(a: nn.Module, b: nn.Module) -> float:
    """Largest absolute difference between the ``.grad`` of matching parameters."""
    diffs = [
        float((pa.grad - pb.grad).abs().max())
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True)
        if pa.grad is not None and pb.grad is not None
    ]
    return max(diffs)


def run_training(
    sizes: dict[str, int], repeats: int, matmul_gflops: float
) -> dict[str, object]:
    """Time one masked-image training step: ET fast, ET autograd, ViT baseline."""
    torch.manual_seed(0)
    generator = torch.Generator(torch.get_default_device()).manual_seed(1)
    et = EnergyTransformer(
        TRAIN_IMAGE,
        TRAIN_PATCH,
        1,
        sizes["D"],
        sizes["heads"],
        sizes["head_dim"],
        sizes["memories"],
        steps=sizes["steps"],
        alpha=0.1,
        attention_init_std=0.02,
    )
    et_autograd = copy.deepcopy(et)
    vit = ViTMaskedPredictor(sizes["D"], sizes["heads"], sizes["memories"], sizes["steps"])
    images = torch.rand(sizes["batch"], 1, TRAIN_IMAGE, TRAIN_IMAGE, generator=generator)
    mask = random_patch_mask(
        sizes["batch"], et.num_patches, TRAIN_MASK_FRACTION, generator=generator
    )
    tokens = et.num_patches + et.tokenizer.num_prefix_tokens

    # Sanity check before timing: both ET paths give the same parameter gradients.
    target = patchify(images, TRAIN_PATCH)
    for model, use_autograd in ((et, False), (et_autograd, True)):
        model.zero_grad(set_to_none=True)
        masked_patch_mse(
            model(images, mask, use_autograd=use_autograd).patches, target, mask
        ).backward()
    grad_diff = _max_grad_diff(et, et_autograd)

    cases: dict[str, tuple[Callable[[], object], float]] = {}
    for name, predict, params, flops in (
        ("train_et_fast", _et_predictor(et, False), et.parameters(), et_train_flops(sizes, tokens)),
        (
            "train_et_autograd",
            _et_predictor(et_autograd, True),
            et_autograd.parameters(),
            et_train_flops(sizes, tokens),
        ),
        ("train_vit", vit, vit.parameters(), vit_train_flops(sizes, tokens)),
    ):
        optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
        cases[name] = (
            functools.partial(train_step, predict, optimizer, images, mask),
            flops,
        )
    rows: dict[str, dict[str, float]] = {}
    for name, (fn, flops) in cases.items():
        seconds = _time(fn, repeats)
        gflops = flops / seconds / 1e9
        rows[name] = {
            "seconds": seconds,
            "gflop_estimate": flops / 1e9,
            "gflops": gflops,
            "pct_matmul_ceiling": 100 * gflops / matmul_gflops,
        }
    fast = rows["train_et_fast"]["seconds"]
    return {
        "config": {
            **sizes,
            "tokens": tokens,
            "image_size": TRAIN_IMAGE,
            "patch_size": TRAIN_PATCH,
            "mask_fraction": TRAIN_MASK_FRACTION,
            "vit": "1 shared nn.TransformerEncoderLayer(D, H, 4D, norm_first, batch_first) "
            "applied T times + LayerNorm",
            "optimizer": "AdamW(lr=1e-3, weight_decay=0.01)",
            "flops": "estimate: 3 x forward (backward ~ 2 x forward); tokenizer, decoder "
            "and optimizer ignored",
        },
        "results": rows,
        "ratios": {
            "autograd_over_fast": rows["train_et_autograd"]["seconds"] / fast,
            "fast_over_vit": fast / rows["train_vit"]["seconds"],
        },
        "fast_vs_autograd_grad_max_abs_diff": grad_diff,
    }


def print_training_table(report: dict[str, object]) -> None:
    config, results, ratios = report["config"], report["results"], report["ratios"]
    assert isinstance(config, dict) and isinstance(results, dict) and isinstance(ratios, dict)
    print(
        f"\ntraining step (masked-image MSE + backward + AdamW): batch {config['batch']}, "
        f"{config['tokens']} tokens, D {config['D']}, H {config['heads']}, "
        f"M {config['memories']}, T {config['steps']}; ViT = 1 shared block applied T times"
    )
    print(f"{'case':<18} {'ms':>9} {'GFLOP~':>8} {'GFLOP/s':>8} {'%mm':>6}")
    for name, r in results.items():
        print(
            f"{name:<18} {1e3 * r['seconds']:>9.2f} {r['gflop_estimate']:>8.2f} "
            f"{r['gflops']:>8.1f} {r['pct_matmul_ceiling']:>6.1f}"
        )
    print(
        f"autograd/fast = {ratios['autograd_over_fast']:.2f}x, ET fast / ViT = "
        f"{ratios['fast_over_vit']:.2f}x; max |grad fast - grad autograd| = "
        f"{report['fast_vs_autograd_grad_max_abs_diff']:.2e}"
    )


def print_table(report: dict[str, object]) -> None:
    ceilings = report["ceilings"]
    assert isinstance(ceilings, dict)
    print(
        f"ceilings: matmul {ceilings['matmul_gflops']:.1f} GFLOP/s, "
        f"copy {ceilings['copy_gbps']:.1f} GB/s"
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
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, …)")
    parser.add_argument("--out", default="benchmarks/results/bench_et.json")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: this torch build has no CUDA device")
    torch.set_default_device(args.device)
    repeats = args.repeats or (1 if args.smoke else 3 if args.quick else 5)
    batch = 1 if args.smoke else 4 if args.quick else 32
    train_sizes = TRAIN_SMOKE if args.smoke else TRAIN_QUICK if args.quick else TRAIN_FULL
    report = run(batch, repeats, train_sizes)
    print_table(report)
    training = report["training"]
    assert isinstance(training, dict)
    print_training_table(training)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
