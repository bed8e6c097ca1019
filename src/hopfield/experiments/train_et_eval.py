"""Evaluation of ``hopfield train et``: masked-patch MSE of the ET and of non-learned baselines.

The ET is scored against "mean of the visible pixels" (each masked patch predicted by
the mean of the image's visible pixels), "per-pixel training mean" and the
``k``-nearest-neighbour in-painting from the training images on the visible pixels
(:mod:`hopfield.experiments.et_vs_mae.baselines`); the summary compares the ET with
the strongest of them. Across ranks, each rank scores a contiguous slice of the
held-out images and the sums are all-reduced.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from hopfield.distributed.launch import world_info
from hopfield.experiments.et_vs_mae.baselines import knn_inpaint, mean_of_visible
from hopfield.models.energy_transformer import EnergyTransformer
from hopfield.models.energy_transformer_patches import patchify, random_patch_mask

__all__ = [
    "eval_masks",
    "evaluate",
    "evaluate_across_ranks",
    "masked_mse",
    "mean_of_visible_baseline",
    "mean_over_ranks",
    "strongest_baseline",
]

BASELINES = ("mean_of_visible", "train_mean_image", "knn")
"""Keys of the non-learned baselines in :func:`evaluate`'s result."""
KNN_NEIGHBOURS = 5
KNN_MEMORY = 10_000
"""kNN in-painting averages 5 neighbours among the first 10,000 training images."""


def mean_of_visible_baseline(
    patches: torch.Tensor, mask: torch.Tensor, channels: int
) -> torch.Tensor:
    """Fill every masked patch with the mean of the visible pixels (per image and channel).

    ``patches (B, N, C·p·p)``, ``mask (B, N)`` → filled patches, same shape.
    """
    return mean_of_visible(patches, mask, channels)


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked patches only (``mask (B, N)`` True = masked)."""
    diff = (prediction - target).square().mean(dim=-1)
    return (diff * mask).sum() / mask.sum().clamp_min(1)


def eval_masks(count: int, num_patches: int, fraction: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed + 10_007)
    return random_patch_mask(count, num_patches, fraction, generator=generator)


@torch.no_grad()
def evaluate(
    model: EnergyTransformer,
    images: torch.Tensor,
    mask: torch.Tensor,
    *,
    train_mean: torch.Tensor | None = None,
    train_images: torch.Tensor | None = None,
    batch_size: int = 256,
) -> dict[str, float]:
    """Masked-patch MSE (pixel units) of the ET and of the baselines on ``images``.

    Returns ``{"et": …, "mean_of_visible": …, "ratio": mean_of_visible / et}`` plus
    ``"train_mean_image"`` when ``train_mean`` (the mean training image) is given and
    ``"knn"`` (``k``-NN in-painting with ``train_images`` as the memory) when
    ``train_images`` is given; :func:`strongest_baseline` adds the comparison with the
    best of the baselines present.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    p, channels = model.tokenizer.patch_size, model.tokenizer.in_channels
    memory = None if train_images is None else patchify(train_images.to(device), p)
    sums = dict.fromkeys(("et", *BASELINES), 0.0)
    masked = 0.0
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device)
        m = mask[start : start + batch_size].to(device)
        target = patchify(batch, p)
        weight = float(m.sum())
        predictions = {
            "et": model(batch, m).patches.float(),
            "mean_of_visible": mean_of_visible(target, m, channels),
        }
        if train_mean is not None:
            predictions["train_mean_image"] = patchify(train_mean.to(device).expand_as(batch), p)
        if memory is not None:
            predictions["knn"] = knn_inpaint(target, m, memory, k=KNN_NEIGHBOURS)
        for key, prediction in predictions.items():
            sums[key] += float(masked_mse(prediction, target, m)) * weight
        masked += weight
    model.train(was_training)
    present = {"et", "mean_of_visible"} | {
        k for k, v in (("train_mean_image", train_mean), ("knn", memory)) if v is not None
    }
    result = {k: v / masked for k, v in sums.items() if k in present}
    result["ratio"] = result["mean_of_visible"] / max(result["et"], 1e-12)
    return result


def strongest_baseline(metrics: dict[str, float]) -> tuple[str, float]:
    """The non-learned baseline with the lowest masked MSE in ``metrics`` and the ratio
    ``its MSE / ET's MSE`` (above 1: the ET beats it)."""
    name = min((k for k in BASELINES if k in metrics), key=lambda k: metrics[k])
    return name, metrics[name] / max(metrics["et"], 1e-12)


def evaluate_across_ranks(
    model: EnergyTransformer,
    images: torch.Tensor,
    mask: torch.Tensor,
    train_mean: torch.Tensor,
    train_images: torch.Tensor | None = None,
) -> dict[str, float]:
    """:func:`evaluate` with the images split over the ranks of the process group.

    Rank ``r`` scores the ``r``-th contiguous slice; the masked-patch-weighted sums
    ``Σ MSE·|masked|`` and ``Σ |masked|`` are all-reduced, so every rank returns the
    metrics of the whole set (single process: plain :func:`evaluate`).
    """
    rank, world_size = world_info()
    if world_size == 1:
        return evaluate(model, images, mask, train_mean=train_mean, train_images=train_images)
    keys: tuple[str, ...] = ("et", "mean_of_visible", "train_mean_image")
    keys += ("knn",) if train_images is not None else ()
    part_images = images.tensor_split(world_size)[rank]
    part_mask = mask.tensor_split(world_size)[rank]
    device = next(model.parameters()).device
    totals = torch.zeros(len(keys) + 1, dtype=torch.float64, device=device)
    if part_images.shape[0] > 0:
        scores = evaluate(
            model, part_images, part_mask, train_mean=train_mean, train_images=train_images
        )
        weight = float(part_mask.sum())
        values = [scores[k] * weight for k in keys] + [weight]
        totals = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    result = {k: float(totals[i] / totals[-1]) for i, k in enumerate(keys)}
    result["ratio"] = result["mean_of_visible"] / max(result["et"], 1e-12)
    return result


def mean_over_ranks(value: float, device: torch.device) -> float:
    """The mean of ``value`` over the ranks (``value`` itself when not distributed)."""
    world_size = world_info()[1]
    if world_size == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total) / world_size
