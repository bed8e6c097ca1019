"""Train the Energy Transformer and ViT masked autoencoders under one protocol.

Every learned model of a comparison sees the same training images in the same order,
the same patch masks, the same optimiser (AdamW, linear warm-up then cosine decay,
gradient clipping) and the same number of updates; all are scored on the same
held-out images and masks by the masked-patch mean squared error in pixel units.
Each model's evaluation curve records its cumulative training cost in CPU seconds of
the process (``time.process_time``: all threads, evaluation excluded), so the table
can also compare the models at an equal compute budget (the ET's training cost).
CPU time rather than wall-clock time keeps that comparison fair on a shared machine,
where another process's load would otherwise be charged to whichever model was
training at the time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hopfield.experiments.et_vs_mae.baselines import (
    knn_inpaint,
    mean_of_visible,
    mean_training_image,
)
from hopfield.experiments.et_vs_mae.vit_mae import vit_matching_parameters
from hopfield.experiments.params import count_parameters
from hopfield.experiments.train_et import masked_mse
from hopfield.models.energy_transformer import EnergyTransformer
from hopfield.models.energy_transformer_patches import patchify, random_patch_mask

__all__ = [
    "CompareConfig",
    "ModelRun",
    "baseline_patches",
    "batch_plan",
    "build_models",
    "evaluate_baselines",
    "masked_score",
    "summarise",
    "train_model",
]

Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class CompareConfig:
    """One comparison: data, masking, ET size, optimisation and evaluation.

    ``vit_ratio`` is the parameter ratio of the large ViT to the ET (the seed slide's
    ViT-Base vs ET ratio is about 18; 10 keeps the CPU budget).
    """

    patch_size: int = 4
    mask_fraction: float = 0.5
    num_features: int = 64
    num_heads: int = 4
    head_dim: int = 16
    num_memories: int = 256
    et_steps: int = 6
    alpha: float = 0.5
    vit_depth: int = 2
    vit_large_depth: int = 4
    vit_ratio: float = 10.0
    steps: int = 500
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 50
    grad_clip: float = 1.0
    train_images: int = 60_000
    eval_images: int = 1000
    eval_every: int = 100
    knn_k: int = 5


@dataclass
class ModelRun:
    """A trained model's record: name, parameters, final masked MSE, per-step time and
    the evaluation curve ``[(step, CPU seconds of training so far, masked MSE)]``."""

    name: str
    params: int
    mse: float
    seconds_per_step: float
    curve: list[tuple[int, float, float]]
    model: nn.Module

    def mse_within(self, seconds: float) -> float:
        """Masked MSE at the last evaluation reached within ``seconds`` (CPU) of training."""
        reached = [mse for _, t, mse in self.curve if t <= seconds * (1 + 1e-9)]
        return reached[-1] if reached else self.curve[0][2]


def build_models(
    config: CompareConfig, image_shape: tuple[int, int, int], train: torch.Tensor, seed: int
) -> dict[str, nn.Module]:
    """``{"et", "vit-same", "vit-10x"}``: the ET and two ViTs sized against it, all with
    pixel normalisation from ``train``; parameter counts come from the instances."""
    channels, height, width = image_shape
    torch.manual_seed(seed)
    et = EnergyTransformer(
        (height, width),
        config.patch_size,
        channels,
        config.num_features,
        config.num_heads,
        config.head_dim,
        config.num_memories,
        steps=config.et_steps,
        alpha=config.alpha,
        attention_init_std=0.125,
    )
    target = count_parameters(et)
    torch.manual_seed(seed)
    same = vit_matching_parameters(
        target, (height, width), config.patch_size, channels, depth=config.vit_depth
    )
    torch.manual_seed(seed)
    large = vit_matching_parameters(
        round(config.vit_ratio * target),
        (height, width),
        config.patch_size,
        channels,
        depth=config.vit_large_depth,
    )
    mean = train.mean(dim=(0, 2, 3)).tolist()
    std = train.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    models: dict[str, nn.Module] = {"et": et, "vit-same": same, "vit-10x": large}
    for model in models.values():
        model.tokenizer.set_normalization(mean, std)  # type: ignore[union-attr,operator]
    return models


def predictor(model: nn.Module) -> Predictor:
    """``(images, mask) -> patches`` in pixel units for the ET or a :class:`MaskedViT`."""
    if isinstance(model, EnergyTransformer):
        return lambda images, mask: model(images, mask).patches
    return model


@torch.no_grad()
def masked_score(model: nn.Module, images: torch.Tensor, mask: torch.Tensor, p: int) -> float:
    """Masked-patch MSE of ``model`` on ``images`` with ``mask`` (pixel units)."""
    was_training = model.training
    model.eval()
    total, weight = 0.0, 0.0
    predict = predictor(model)
    for start in range(0, images.shape[0], 250):
        batch, m = images[start : start + 250], mask[start : start + 250]
        w = float(m.sum())
        total += float(masked_mse(predict(batch, m).float(), patchify(batch, p), m)) * w
        weight += w
    model.train(was_training)
    return total / weight


def _optimizer(model: nn.Module, config: CompareConfig) -> torch.optim.AdamW:
    decay: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        is_plain = param.ndim < 2 or "position" in name or "token" in name
        (plain if is_plain else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


def _lr_factor(config: CompareConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def batch_plan(
    config: CompareConfig, num_train: int, num_patches: int, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The ``(image indices, patch mask)`` of every update, drawn once from ``seed`` so
    that every model trains on identical batches and masks."""
    generator = torch.Generator().manual_seed(seed)
    plan = []
    for _ in range(config.steps):
        index = torch.randint(0, num_train, (config.batch_size,), generator=generator)
        mask = random_patch_mask(
            config.batch_size, num_patches, config.mask_fraction, generator=generator
        )
        plan.append((index, mask))
    return plan


def train_model(
    name: str,
    model: nn.Module,
    train: torch.Tensor,
    plan: Iterable[tuple[torch.Tensor, torch.Tensor]],
    evaluation: tuple[torch.Tensor, torch.Tensor],
    config: CompareConfig,
    tick: Callable[[], None] = lambda: None,
) -> ModelRun:
    """Train ``model`` on the updates of ``plan``; evaluate every ``eval_every`` updates."""
    optimizer = _optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config))
    predict, p = predictor(model), config.patch_size
    eval_images, eval_mask = evaluation
    curve = [(0, 0.0, masked_score(model, eval_images, eval_mask, p))]
    elapsed = 0.0
    model.train()
    for step, (index, mask) in enumerate(plan, start=1):
        images = train[index]
        start = time.process_time()
        loss = masked_mse(predict(images, mask), patchify(images, p), mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        elapsed += time.process_time() - start
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"{name}: training loss became {value} at step {step}")
        if step % config.eval_every == 0 or step == config.steps:
            curve.append((step, elapsed, masked_score(model, eval_images, eval_mask, p)))
        tick()
    return ModelRun(
        name=name,
        params=count_parameters(model),
        mse=curve[-1][2],
        seconds_per_step=elapsed / max(config.steps, 1),
        curve=curve,
        model=model,
    )


@torch.no_grad()
def baseline_patches(
    train: torch.Tensor, images: torch.Tensor, mask: torch.Tensor, config: CompareConfig
) -> dict[str, torch.Tensor]:
    """Predicted patches of the three non-learned baselines on ``images`` with ``mask``."""
    p, channels = config.patch_size, images.shape[1]
    target = patchify(images, p)
    memory = patchify(train, p)
    return {
        "mean-of-visible": mean_of_visible(target, mask, channels),
        "mean-train-image": mean_training_image(target, mask, memory.mean(dim=0)),
        f"knn-{config.knn_k}": knn_inpaint(target, mask, memory, k=config.knn_k),
    }


def evaluate_baselines(
    train: torch.Tensor, images: torch.Tensor, mask: torch.Tensor, config: CompareConfig
) -> dict[str, float]:
    """Masked-patch MSE of each non-learned baseline (pixel units)."""
    target = patchify(images, config.patch_size)
    return {
        name: float(masked_mse(patches, target, mask))
        for name, patches in baseline_patches(train, images, mask, config).items()
    }


def summarise(values: list[float]) -> dict[str, Any]:
    """``{"mean", "std", "n"}`` of per-seed values (sample std; 0 for one seed)."""
    t = torch.tensor(values, dtype=torch.float64)
    std = float(t.std()) if len(values) > 1 else 0.0
    return {"mean": float(t.mean()), "std": std, "n": len(values)}
