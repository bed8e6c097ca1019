"""GAM study: a small Gated Associative Memory LM against a same-size Transformer.

``hopfield study gam [--quick] [--out DIR] [--seed S]`` (Acharya 2025, "Gated
Associative Memory (GAM): A Parallel O(N) Architecture for Sequence Modeling",
arXiv 2509.00605).

Both models (:mod:`hopfield.nn.gam`) are byte-level language models on the offline
corpus :func:`hopfield.data.text.load_corpus` (``"pydoc"``: the Python Language
Reference bundled with the interpreter; last 10 % held out). They share embeddings,
final LayerNorm and tied head, width and depth; GAM uses ``num_slots = 2 d`` so that
its block (``10 d² + S d``) matches a Transformer block (``12 d²``) in size. Both train
with the same batches, AdamW (lr 3e-3, betas (0.9, 0.95), weight decay 0.1), cosine
decay, gradient clipping 1.0, in one run; the table reports parameters, training
tokens per second, and validation perplexity ``exp(mean NLL per byte)`` on fixed
held-out windows.
Writes the runner's standard files (:mod:`hopfield.experiments.runner`: ``results.*``,
``summary.md``, ``index.html``) and the figure ``gam_curves.png``.

Reading the result: GAM's only token mixing is its causal convolutions (receptive
field ``L(k−1)+1`` bytes, the slot memory is static), whereas the Transformer attends
over the whole context, so at equal size the Transformer is expected to reach a lower
perplexity once trained long enough; GAM's advantage is cost linear in ``T``
(``benchmarks/bench_gam.py``).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from hopfield.data.text import ByteTokenizer, load_corpus, random_windows, train_val_split
from hopfield.experiments.cli_types import positive_int
from hopfield.experiments.report import new_figure
from hopfield.experiments.runner import (
    Progress,
    Study,
    StudyContext,
    StudyResult,
    Table,
    no_progress,
)
from hopfield.nn.gam import GAMLanguageModel, TransformerLanguageModel, count_parameters

__all__ = [
    "STUDY",
    "GAMStudyConfig",
    "build_models",
    "evaluate_perplexity",
    "train_models",
]


@dataclass(frozen=True)
class GAMStudyConfig:
    """Sizes of the comparison."""

    d_model: int = 64
    num_layers: int = 2
    num_heads: int = 4
    kernel_size: int = 3
    context: int = 64
    batch_size: int = 16
    steps: int = 300
    lr: float = 3e-3
    eval_windows: int = 64
    eval_every: int = 50
    corpus: str = "pydoc"


def build_models(config: GAMStudyConfig, vocab_size: int, seed: int) -> dict[str, nn.Module]:
    """``{"gam": GAMLanguageModel, "transformer": TransformerLanguageModel}`` (dropout 0)."""
    torch.manual_seed(seed)
    gam = GAMLanguageModel(
        vocab_size,
        config.d_model,
        config.num_layers,
        num_slots=2 * config.d_model,
        kernel_size=config.kernel_size,
        context_length=config.context,
        dropout=0.0,
    )
    torch.manual_seed(seed)
    transformer = TransformerLanguageModel(
        vocab_size,
        config.d_model,
        config.num_layers,
        config.num_heads,
        context_length=config.context,
        dropout=0.0,
    )
    return {"gam": gam, "transformer": transformer}


@torch.no_grad()
def evaluate_perplexity(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """``exp`` of the mean next-token NLL over the windows ``(N, T)``."""
    model.eval()
    total = 0.0
    for start in range(0, inputs.shape[0], 16):
        loss = model.loss(inputs[start : start + 16], targets[start : start + 16])  # type: ignore[operator]
        total += float(loss) * inputs[start : start + 16].shape[0]
    model.train()
    return math.exp(total / inputs.shape[0])


def _schedule(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def train_models(
    config: GAMStudyConfig, seed: int, *, progress: Progress = no_progress
) -> list[dict[str, Any]]:
    """Train both models on identical batches; returns one row per model with
    ``params``, ``tokens_per_s``, ``val_ppl`` and the curve of (step, val_ppl)."""
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode(load_corpus(config.corpus))
    train_ids, val_ids = train_val_split(ids, 0.1)
    val_inputs, val_targets = random_windows(
        val_ids, config.eval_windows, config.context, torch.Generator().manual_seed(seed + 1)
    )
    models = build_models(config, tokenizer.vocab_size, seed)
    rows = []
    for name, model in models.items():
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=0.1
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: _schedule(s, config.steps, max(config.steps // 10, 1))
        )
        generator = torch.Generator().manual_seed(seed)
        curve = [(0, evaluate_perplexity(model, val_inputs, val_targets))]
        train_time = 0.0
        for step in progress(range(1, config.steps + 1), desc=f"gam {name}"):
            inputs, targets = random_windows(
                train_ids, config.batch_size, config.context, generator
            )
            start = time.perf_counter()
            loss = model.loss(inputs, targets)  # type: ignore[operator]
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            train_time += time.perf_counter() - start
            if step % config.eval_every == 0 or step == config.steps:
                curve.append((step, evaluate_perplexity(model, val_inputs, val_targets)))
        rows.append(
            {
                "model": name,
                "params": count_parameters(model),
                "steps": config.steps,
                "tokens_per_s": config.steps * config.batch_size * config.context / train_time,
                "val_ppl_initial": curve[0][1],
                "val_ppl": curve[-1][1],
                "curve": curve,
            }
        )
    return rows


COLUMNS = ("model", "params", "steps", "tokens_per_s", "val_ppl_initial", "val_ppl")


def _plot(rows: list[dict[str, Any]]) -> Any:
    fig = new_figure((6, 4))
    ax = fig.subplots()
    for row in rows:
        steps, ppl = zip(*row["curve"], strict=True)
        ax.plot(steps, ppl, marker="o", label=f"{row['model']} ({row['params']:,} params)")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation perplexity (bytes)")
    ax.legend()
    fig.tight_layout()
    return fig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--steps`` (training steps per model; 300, or 40 with ``--quick``)."""
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help="training steps per model (default: 300, 40 with --quick)",
    )


def _compute(context: StudyContext) -> StudyResult:
    steps = getattr(context.args, "steps", None)
    if steps is None:
        steps = 40 if context.quick else 300
    config = GAMStudyConfig(
        steps=steps, eval_every=max(steps // 6, 1), eval_windows=32 if context.quick else 64
    )
    rows = train_models(config, context.seed, progress=context.progress)
    title = "Byte-level LM on the Python Language Reference (pydoc_data): GAM vs Transformer"
    return StudyResult(
        tables=[Table("gam", title, rows, columns=COLUMNS, digits=2)],
        figures={"gam_curves.png": _plot(rows)},
        metadata={"config": asdict(config)},
    )


STUDY = Study("gam", "GAM vs Transformer: byte-level language model", _compute, add_arguments)
