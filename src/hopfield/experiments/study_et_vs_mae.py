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
MSE curves against updates and against CPU seconds (the runner's standard files
besides: :mod:`hopfield.experiments.runner`). MNIST and Fashion-MNIST are read
from local files (``--data-root`` or ``$HOPFIELD_DATA``), never downloaded.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, replace
from typing import Any

import torch

from hopfield.experiments.et_vs_mae.compare import CompareConfig, baseline_patches, predictor
from hopfield.experiments.et_vs_mae.study import DatasetResult, compare_on_dataset
from hopfield.experiments.report import image_grid_figure, new_figure
from hopfield.experiments.runner import Study, StudyContext, StudyResult, Table
from hopfield.models.energy_transformer_patches import patchify, unpatchify

__all__ = ["QUICK", "STUDY", "add_arguments", "config_for", "curves_figure", "inpainting_figure"]

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


def _datasets(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in ("mnist", "fashion-mnist")]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"must list mnist and/or fashion-mnist, got {text!r}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--datasets``, ``--data-root``, ``--steps``, ``--seeds``."""
    from hopfield.experiments import cli_types as types

    parser.add_argument(
        "--datasets",
        type=_datasets,
        default="mnist,fashion-mnist",
        help="comma-separated datasets among mnist, fashion-mnist",
    )
    parser.add_argument(
        "--data-root",
        type=lambda text: str(types.existing_dir(text)),
        default=None,
        help="folder holding mnist/ and fashion-mnist/ (default: $HOPFIELD_DATA)",
    )
    parser.add_argument(
        "--steps",
        type=types.positive_int,
        default=None,
        help="training updates per model (default: 500; 30 quick)",
    )
    parser.add_argument(
        "--seeds",
        type=types.positive_int,
        default=None,
        help="number of seeds (default: 3; 1 with --quick)",
    )


def inpainting_figure(result: DatasetResult, config: CompareConfig) -> Any:
    """Original / masked / each model's in-painting of 8 held-out images."""
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
    return image_grid_figure(
        rows,
        labels,
        value_range=(0.0, 1.0),
        title=f"{result.dataset}: 50 % of patches masked",
    )


def curves_figure(results: list[DatasetResult]) -> Any:
    """Held-out masked MSE against updates (left) and training CPU seconds (right)."""
    fig = new_figure((10, 3.6 * len(results)))
    axes = fig.subplots(len(results), 2, squeeze=False)
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
    return fig


def _compute(context: StudyContext) -> StudyResult:
    args = context.args
    config = config_for(args)
    datasets = list(args.datasets)
    seeds = [context.seed + i for i in range(args.seeds or (1 if context.quick else 3))]
    root = args.data_root or os.environ.get("HOPFIELD_DATA")
    total = len(datasets) * len(seeds) * 3 * config.steps
    ticks = iter(context.progress(range(total), desc="et-vs-mae", total=total))

    def tick() -> None:
        next(ticks, None)

    try:
        results = [compare_on_dataset(d, config, seeds, root, tick=tick) for d in datasets]
    except FileNotFoundError as error:  # MNIST / Fashion-MNIST files
        raise FileNotFoundError(f"argument --data-root: {error}") from error
    for _ in ticks:  # close the bar
        pass
    figures = {f"inpainting_{r.dataset}.png": inpainting_figure(r, config) for r in results}
    figures["curves.png"] = curves_figure(results)
    rows = [row for result in results for row in result.rows]
    return StudyResult(
        tables=[Table("et_vs_mae", "Masked-patch in-painting", rows, COLUMNS, digits=4)],
        figures=figures,
        metadata={"config": asdict(config), "seeds": seeds},
        notes=[" ".join((__doc__ or "").split("\n\n")[1].split())],
    )


STUDY = Study("et-vs-mae", "ET vs ViT masked autoencoders", _compute, add_arguments)
