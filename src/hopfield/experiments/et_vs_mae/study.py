"""Run the ET-vs-MAE comparison over datasets and seeds and collect its table.

For each dataset and seed: one batch plan (indices and masks), the ET and the two
ViTs trained on it (:mod:`hopfield.experiments.et_vs_mae.compare`), the non-learned
baselines scored on the same held-out images and masks. Rows report the mean ± std
over seeds of the masked-patch MSE at the end of training and at the ET's
compute budget (CPU seconds), parameters and CPU milliseconds per update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from hopfield.data.datasets import load_dataset
from hopfield.experiments.et_vs_mae.compare import (
    CompareConfig,
    ModelRun,
    batch_plan,
    build_models,
    evaluate_baselines,
    summarise,
    train_model,
)
from hopfield.models.energy_transformer_patches import random_patch_mask

__all__ = ["DatasetResult", "compare_on_dataset", "load_split"]


@dataclass
class DatasetResult:
    """Everything one dataset produced: table rows, the seed-0 runs (for figures) and
    the evaluation images and masks."""

    dataset: str
    rows: list[dict[str, Any]]
    runs: dict[str, ModelRun]
    eval_images: torch.Tensor
    eval_mask: torch.Tensor
    train_images: torch.Tensor
    per_seed: dict[str, list[float]] = field(default_factory=dict)


def load_split(
    dataset: str, root: str | None, train_count: int, eval_count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``train_count`` training and ``eval_count`` test images in [0, 1]."""
    train, _ = load_dataset(dataset, split="train", root=root)
    test, _ = load_dataset(dataset, split="test", root=root)
    return train[:train_count].contiguous(), test[:eval_count].contiguous()


def compare_on_dataset(
    dataset: str,
    config: CompareConfig,
    seeds: Sequence[int],
    root: str | None,
    tick: Callable[[], None] = lambda: None,
) -> DatasetResult:
    """Train and score every model on ``dataset`` for every seed in ``seeds``."""
    train, test = load_split(dataset, root, config.train_images, config.eval_images)
    num_patches = (train.shape[-2] // config.patch_size) * (train.shape[-1] // config.patch_size)
    eval_mask = random_patch_mask(
        test.shape[0],
        num_patches,
        config.mask_fraction,
        generator=torch.Generator().manual_seed(10_007),
    )
    final: dict[str, list[float]] = {}
    at_budget: dict[str, list[float]] = {}
    meta: dict[str, dict[str, float]] = {}
    first_runs: dict[str, ModelRun] = {}
    for seed in seeds:
        models = build_models(config, tuple(train.shape[1:]), train, seed)  # type: ignore[arg-type]
        plan = batch_plan(config, train.shape[0], num_patches, seed)
        runs = {
            name: train_model(name, model, train, plan, (test, eval_mask), config, tick)
            for name, model in models.items()
        }
        budget = runs["et"].curve[-1][1]
        for name, run in runs.items():
            final.setdefault(name, []).append(run.mse)
            at_budget.setdefault(name, []).append(run.mse_within(budget))
            info = meta.setdefault(name, {"params": run.params, "seconds_per_step": 0.0})
            info["seconds_per_step"] += run.seconds_per_step / len(seeds)
        if not first_runs:
            first_runs = runs
    rows = [_learned_row(n, final[n], at_budget[n], meta[n]) for n in final]
    baselines = evaluate_baselines(train, test, eval_mask, config)
    rows += [_baseline_row(name, value) for name, value in baselines.items()]
    for row in rows:
        row["dataset"] = dataset
    return DatasetResult(dataset, rows, first_runs, test, eval_mask, train, final)


def _learned_row(
    name: str, final: list[float], budget: list[float], meta: dict[str, float]
) -> dict[str, Any]:
    end, equal_time = summarise(final), summarise(budget)
    return {
        "model": name,
        "params": int(meta["params"]),
        "masked_mse": end["mean"],
        "masked_mse_std": end["std"],
        "mse_at_et_time": equal_time["mean"],
        "mse_at_et_time_std": equal_time["std"],
        "cpu_ms_per_step": 1000.0 * meta["seconds_per_step"],
        "seeds": end["n"],
    }


def _baseline_row(name: str, value: float) -> dict[str, Any]:
    return {
        "model": name,
        "params": 0,
        "masked_mse": value,
        "masked_mse_std": 0.0,
        "mse_at_et_time": value,
        "mse_at_et_time_std": 0.0,
        "cpu_ms_per_step": 0.0,
        "seeds": 1,
    }
