"""ET vs ViT masked autoencoders: masked-patch in-painting on MNIST and Fashion-MNIST.

``hopfield study et-vs-mae [--quick] [--datasets mnist,fashion-mnist] [--data-root DIR]
[--steps N] [--seeds 3] [--out DIR]``

The seed slide's claim for the Energy Transformer (Hoover et al. 2023) is parameter
efficiency against transformers. This study measures it on real 28×28 images: 4×4
patches (49 tokens), half of them masked, and four kinds of predictor of the hidden
patches, all fed the same tokens
(:class:`~hopfield.models.energy_transformer_patches.ImageTokenizer`):

* the Energy Transformer — one shared energy block unrolled ``T`` steps;
* a ViT masked autoencoder with about the ET's parameter count (``vit-same``);
* a ViT masked autoencoder with about 10× the ET's parameters (``vit-10x``);
* non-learned baselines: mean of the visible pixels, mean training image, and the
  ``k``-nearest-neighbour in-painting from the training set on the visible pixels.

The learned models train on identical batches and masks with the same optimiser and
number of updates; the table gives the masked-patch MSE (pixel units, mean ± std
over seeds), the MSE each model had reached within the ET's training cost (equal
compute budget, in CPU seconds of the process so that other load on a shared
machine is not charged to a model), parameters (counted on the instances) and CPU
milliseconds per update. Figures: in-painted test images (original / masked / each model) and the
MSE curves against updates and against CPU seconds. MNIST and Fashion-MNIST are read
from local files (``--data-root`` or ``$HOPFIELD_DATA``), never downloaded.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from hopfield.experiments.et_vs_mae.compare import CompareConfig, baseline_patches, predictor
from hopfield.experiments.et_vs_mae.study import DatasetResult, compare_on_dataset
from hopfield.models.energy_transformer_patches import patchify, unpatchify

__all__ = ["QUICK", "add_arguments", "config_for", "run"]

QUICK = CompareConfig(
    steps=30,
    eval_every=10,
    train_images=2000,
    eval_images=200,
    num_memories=128,
    et_steps=4,
    warmup=5,
)
"""The ``--quick`` comparison: the same protocol, a tiny budget (a smoke run)."""

COLUMNS = (
    "dataset",
    "model",
    "params",
    "masked_mse",
    "masked_mse_std",
    "mse_at_et_time",
    "mse_at_et_time_std",
    "cpu_ms_per_step",
    "seeds",
)


def config_for(args: argparse.Namespace) -> CompareConfig:
    """The comparison configuration for the command-line options."""
    config = QUICK if args.quick else CompareConfig()
    if args.steps is not None:
        config = replace(config, steps=args.steps, eval_every=max(1, args.steps // 6))
    return config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--datasets``, ``--data-root``, ``--steps``, ``--seeds``."""
    parser.add_argument(
        "--datasets",
        default="mnist,fashion-mnist",
        help="comma-separated datasets among mnist, fashion-mnist (default: both)",
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help="folder holding mnist/ and fashion-mnist/ (default: $HOPFIELD_DATA)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training updates per model (default: 500; 30 quick)",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help="number of seeds (default: 3; 1 with --quick)"
    )


def _datasets(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in ("mnist", "fashion-mnist")]
    if not names or bad:
        raise ValueError(f"--datasets must list mnist and/or fashion-mnist, got {text!r}")
    return names


def inpainting_figure(path: Path, result: DatasetResult, config: CompareConfig) -> None:
    """Original / masked / each model's in-painting of 8 held-out images."""
    from hopfield.report import save_image_grid

    images, mask = result.eval_images[:8], result.eval_mask[:8]
    p, shape = config.patch_size, tuple(images.shape[-2:])
    target = patchify(images, p)
    hidden = torch.where(mask.unsqueeze(-1), torch.full_like(target, 0.5), target)
    rows, labels = [images, unpatchify(hidden, p, shape, 1)], ["original", "masked"]
    with torch.no_grad():
        for name, run in result.runs.items():
            run.model.eval()
            patches = predictor(run.model)(images, mask)
            filled = torch.where(mask.unsqueeze(-1), patches, target)
            rows.append(unpatchify(filled, p, shape, 1).clamp(0, 1))
            labels.append(f"{name} ({run.params:,})")
    for name, patches in baseline_patches(result.train_images, images, mask, config).items():
        if name != "mean-of-visible":
            rows.append(unpatchify(patches, p, shape, 1).clamp(0, 1))
            labels.append(name)
    save_image_grid(
        path,
        rows,
        labels,
        value_range=(0.0, 1.0),
        title=f"{result.dataset}: 50 % of patches masked",
    )


def curves_figure(path: Path, results: list[DatasetResult]) -> None:
    """Held-out masked MSE against updates (left) and training CPU seconds (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(10, 3.6 * len(results)), squeeze=False)
    for (left, right), result in zip(axes, results, strict=True):
        for name, run in result.runs.items():
            steps, seconds, mse = zip(*run.curve, strict=True)
            left.plot(steps, mse, marker=".", label=f"{name} ({run.params:,} params)")
            right.plot(seconds, mse, marker=".", label=name)
        for row in result.rows:
            if row["params"] == 0:
                left.axhline(row["masked_mse"], ls="--", lw=0.8, color="grey")
                left.annotate(row["model"], (0, row["masked_mse"]), fontsize=7, color="grey")
        left.set(xlabel="update", ylabel="held-out masked MSE", title=result.dataset)
        right.set(xlabel="training CPU seconds (seed 0)", ylabel="held-out masked MSE")
        left.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="et-vs-mae", disable=not enabled, dynamic_ncols=True)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hopfield study et-vs-mae``."""
    from hopfield.report import (
        ReportSection,
        metrics_markdown,
        write_index_html,
        write_metrics_csv,
        write_metrics_json,
    )

    config = config_for(args)
    datasets = _datasets(args.datasets)
    seeds = [int(args.seed) + i for i in range(args.seeds or (1 if args.quick else 3))]
    root = args.data_root or os.environ.get("HOPFIELD_DATA")
    out = Path(args.out)
    bar = _progress(len(datasets) * len(seeds) * 3 * config.steps, enabled=True)
    results = [
        compare_on_dataset(d, config, seeds, root, tick=lambda: bar.update()) for d in datasets
    ]
    bar.close()
    rows = [row for result in results for row in result.rows]
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for result in results:
        name = f"inpainting_{result.dataset}.png"
        inpainting_figure(out / name, result, config)
        figures.append(name)
    curves_figure(out / "curves.png", results)
    figures.append("curves.png")
    table = metrics_markdown(rows, COLUMNS, digits=4)
    write_metrics_csv(out / "results.csv", rows, COLUMNS)
    write_metrics_json(
        out / "results.json", rows, metadata={"config": asdict(config), "seeds": seeds}
    )
    (out / "summary.md").write_text(f"# ET vs ViT masked autoencoders\n\n{table}\n")
    write_index_html(
        out,
        "ET vs ViT masked autoencoders",
        [
            ReportSection(
                "Masked-patch in-painting", __doc__.split("\n\n")[1], figures, rows, columns=COLUMNS
            )
        ],
        digits=4,
    )
    print(table)
    print(f"\nwrote {out}/results.json, results.csv, summary.md, index.html, {', '.join(figures)}")
    return 0
