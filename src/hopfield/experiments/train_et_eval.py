"""Evaluation of ``hopfield train et``: masked-patch MSE of the ET and of two baselines.

The ET is scored against "mean of the visible pixels" (each masked patch predicted by
the mean of the image's visible pixels) and "per-pixel training mean"; across ranks,
each rank scores a contiguous slice of the held-out images and the sums are all-reduced.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from hopfield.distributed.launch import world_info
from hopfield.models.energy_transformer import EnergyTransformer
from hopfield.models.energy_transformer_patches import patchify, random_patch_mask

__all__ = [
    "eval_masks",
    "evaluate",
    "evaluate_across_ranks",
    "masked_mse",
    "mean_of_visible_baseline",
    "mean_over_ranks",
]


def mean_of_visible_baseline(
    patches: torch.Tensor, mask: torch.Tensor, channels: int
) -> torch.Tensor:
    """Fill every masked patch with the mean of the visible pixels (per image and channel).

    ``patches (B, N, C·p·p)``, ``mask (B, N)`` → filled patches, same shape.
    """
    b, n, p_dim = patches.shape
    per_channel = patches.reshape(b, n, channels, p_dim // channels)
    visible = (~mask).to(patches.dtype).view(b, n, 1, 1)
    total = (per_channel * visible).sum(dim=(1, 3))
    count = visible.sum(dim=(1, 3)) * (p_dim // channels)
    mean = (total / count).view(b, 1, channels, 1).expand_as(per_channel)
    return torch.where(mask.view(b, n, 1, 1), mean, per_channel).reshape(b, n, p_dim)


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
    batch_size: int = 256,
) -> dict[str, float]:
    """Masked-patch MSE (pixel units) of the ET and of the baselines on ``images``.

    Returns ``{"et": …, "mean_of_visible": …, "ratio": baseline / et}`` plus
    ``"train_mean_image"`` when ``train_mean`` (the mean training image) is given.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    p, channels = model.tokenizer.patch_size, model.tokenizer.in_channels
    sums = {"et": 0.0, "mean_of_visible": 0.0, "train_mean_image": 0.0}
    masked = 0.0
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device)
        m = mask[start : start + batch_size].to(device)
        target = patchify(batch, p)
        weight = float(m.sum())
        sums["et"] += float(masked_mse(model(batch, m).patches.float(), target, m)) * weight
        baseline = mean_of_visible_baseline(target, m, channels)
        sums["mean_of_visible"] += float(masked_mse(baseline, target, m)) * weight
        if train_mean is not None:
            mean_patches = patchify(train_mean.to(device).expand_as(batch), p)
            sums["train_mean_image"] += float(masked_mse(mean_patches, target, m)) * weight
        masked += weight
    model.train(was_training)
    result = {k: v / masked for k, v in sums.items()}
    if train_mean is None:
        result.pop("train_mean_image")
    result["ratio"] = result["mean_of_visible"] / max(result["et"], 1e-12)
    return result


def evaluate_across_ranks(
    model: EnergyTransformer,
    images: torch.Tensor,
    mask: torch.Tensor,
    train_mean: torch.Tensor,
) -> dict[str, float]:
    """:func:`evaluate` with the images split over the ranks of the process group.

    Rank ``r`` scores the ``r``-th contiguous slice; the masked-patch-weighted sums
    ``Σ MSE·|masked|`` and ``Σ |masked|`` are all-reduced, so every rank returns the
    metrics of the whole set (single process: plain :func:`evaluate`).
    """
    rank, world_size = world_info()
    if world_size == 1:
        return evaluate(model, images, mask, train_mean=train_mean)
    keys = ("et", "mean_of_visible", "train_mean_image")
    part_images = images.tensor_split(world_size)[rank]
    part_mask = mask.tensor_split(world_size)[rank]
    device = next(model.parameters()).device
    totals = torch.zeros(len(keys) + 1, dtype=torch.float64, device=device)
    if part_images.shape[0] > 0:
        scores = evaluate(model, part_images, part_mask, train_mean=train_mean)
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
