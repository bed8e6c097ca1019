"""Train the Energy Transformer on masked-image modelling: ``hopfield train et``.

Hoover et al. (2023), "Energy Transformer", §4. Objective: for images ``v`` with a
random fraction of their patches masked (replaced by the MASK token), run ``T``
energy-descent steps ``x ← x − α ∂E/∂ĝ`` and decode; the loss is the mean squared
error on the masked patches only,

    loss = mean_{b, A masked} ‖W_D ĝ_A(x_T) − v_A‖² / P,

backpropagated through the ``T`` unrolled steps. AdamW, linear warm-up then cosine
decay of the learning rate, gradient-norm clipping, bfloat16 autocast on CUDA (off
on CPU), every random draw from seeded generators.

Checkpoints (:func:`save_training_checkpoint`) hold the model weights, the AdamW
moments, the step counter, the data-sampling generator's state and the JSON config
in one safetensors file (``hopfield.io.save_checkpoint``; no pickle), so a resumed
run continues exactly where it stopped.

The final report in ``--out``: ``metrics.json`` / ``metrics.csv`` / ``metrics.md``
(masked-patch MSE of the ET and of the baselines "mean of the visible pixels" and
"per-pixel training mean"), ``reconstructions.png`` (grid at several ET steps),
``energy.png`` (energy per step), ``history.csv`` (loss and evaluations) and
``memories.png`` (the Hopfield memories decoded to patches).

Data-parallel training (torch.distributed)
------------------------------------------
Launch one process per device with ``torchrun``; ``--distributed`` joins the
``env://`` process group (:func:`hopfield.distributed.init_distributed`: gloo on
CPU, NCCL on CUDA with device ``LOCAL_RANK``) and leaves it at the end::

    torchrun --nproc-per-node 4 -m hopfield.cli train et --distributed --out runs/ddp

(on CPU also pass ``--threads`` so that the ranks do not oversubscribe the cores).
Calling :func:`train` inside an initialised group does the same from Python.

* **Batch.** ``batch_size`` is the *global* batch: with ``W`` ranks (``batch_size``
  divisible by ``W``) every rank draws the same global indices and masks from the
  same seeded generator and keeps rows ``[r·b, (r+1)·b)``, ``b = batch_size / W``.
  Since every image has the same number of masked patches, the mean of the
  per-rank losses is the global loss, and DDP's gradient average is the gradient
  of the single-process run on the same ``batch_size`` images: a ``W``-rank run
  reproduces the one-process run with the same config (up to float rounding) and
  a resumed run reproduces an uninterrupted one.
* **Gradients.** The ET runs under ``DistributedDataParallel``
  (:func:`hopfield.distributed.wrap_ddp`) inside a thin module that returns the
  decoded patches as a plain tensor, so DDP never has to look into
  :class:`~hopfield.models.energy_transformer.ETOutput`. With ``et_steps ≥ 1``
  every parameter gets a gradient (the CLS token is never decoded but enters the
  loss through attention from step 1), so DDP runs without
  ``find_unused_parameters``; only ``et_steps = 0`` leaves ``W_Q``, ``W_K`` and the
  memories ``Ξ`` out of the graph (the CLS token then gets a zero gradient), and
  only then is ``find_unused_parameters`` switched on.
* **Main process.** Rank 0 alone logs, shows the progress bar, writes the
  checkpoints (of the unwrapped model) and the report. Evaluation is shared: each
  rank scores a contiguous slice of the held-out images and the masked-patch sums
  are all-reduced, so every rank returns the same metrics. The logged loss is the
  all-reduced mean over ranks.
* **Resume.** ``--resume`` must name a file every rank can read; each rank
  restores weights, AdamW moments and the generator, so the ranks stay in step.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from hopfield.distributed.launch import (
    destroy_distributed,
    init_distributed,
    is_main_process,
    world_info,
    wrap_ddp,
)
from hopfield.io import load_checkpoint, save_checkpoint
from hopfield.models.energy_transformer import EnergyTransformer
from hopfield.models.energy_transformer_patches import patchify, random_patch_mask

__all__ = [
    "DATASETS",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_training_checkpoint",
    "mean_of_visible_baseline",
    "register",
    "save_training_checkpoint",
    "train",
]

DATASETS = ("digits", "glyphs", "mnist", "cifar10")
CHECKPOINT_KIND = "hopfield.energy_transformer.training"
_MODEL_KEYS = (
    "patch_size",
    "num_features",
    "num_heads",
    "head_dim",
    "num_memories",
    "et_steps",
    "alpha",
    "attention_init_std",
)


@dataclass
class TrainConfig:
    """Everything that defines a run (saved in every checkpoint).

    Model: ``patch_size``, ``num_features`` (D), ``num_heads`` (H), ``head_dim`` (Y),
    ``num_memories`` (M), ``et_steps`` (T), ``alpha`` (α). Optimisation: ``steps``
    optimiser updates of ``batch_size`` images, AdamW(``lr``, ``weight_decay``),
    ``warmup`` linear warm-up steps then cosine decay to 0, ``grad_clip`` (max
    global norm). ``mask_fraction`` of the patches is masked. Evaluation every
    ``eval_every`` steps on ``eval_images`` held-out images with fixed masks;
    checkpoint every ``checkpoint_every`` steps.
    """

    dataset: str = "digits"
    data_root: str | None = None
    image_size: int = 32
    patch_size: int = 2
    num_features: int = 64
    num_heads: int = 4
    head_dim: int = 16
    num_memories: int = 256
    et_steps: int = 8
    alpha: float = 0.5
    attention_init_std: float = 0.125
    mask_fraction: float = 0.5
    steps: int = 800
    batch_size: int = 64
    lr: float = 1e-2
    weight_decay: float = 0.01
    warmup: int = 50
    grad_clip: float = 1.0
    eval_every: int = 200
    eval_images: int = 512
    checkpoint_every: int = 200
    seed: int = 0
    device: str = "auto"
    amp: bool = True

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        for name in ("steps", "batch_size", "eval_every", "eval_images", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int ≥ 1, got {value!r}")
        if not 0.0 < self.mask_fraction < 1.0:
            raise ValueError(f"mask_fraction must lie in (0, 1), got {self.mask_fraction}")
        for name in ("lr", "alpha", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass
class TrainResult:
    """What :func:`train` returns: the model, final metrics and the training history."""

    model: EnergyTransformer
    metrics: dict[str, float]
    history: list[dict[str, float]]
    out_dir: Path | None


# ------------------------------------------------------------------------- data


def _load_images(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, test)`` images ``(N, C, H, W)`` in [0, 1]; glyphs have no test split."""
    from hopfield.data.datasets import load_dataset

    kwargs: dict[str, Any] = {"root": config.data_root, "image_size": config.image_size}
    train_images, _ = load_dataset(config.dataset, split="train", **kwargs)
    if config.dataset == "glyphs":
        return train_images, train_images
    test_images, _ = load_dataset(config.dataset, split="test", **kwargs)
    return train_images, test_images


def _resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA if available else CPU; in a process group an index-free
    ``cuda`` becomes the current device (``LOCAL_RANK``, set by ``init_distributed``)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None and world_info()[1] > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def build_model(config: TrainConfig, images: torch.Tensor) -> EnergyTransformer:
    """The ET for ``config`` with pixel normalisation from ``images`` ``(N, C, H, W)``."""
    model = EnergyTransformer(
        image_size=tuple(images.shape[-2:]),
        patch_size=config.patch_size,
        in_channels=images.shape[1],
        num_features=config.num_features,
        num_heads=config.num_heads,
        head_dim=config.head_dim,
        num_memories=config.num_memories,
        steps=config.et_steps,
        alpha=config.alpha,
        attention_init_std=config.attention_init_std,
    )
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3)).clamp_min(1e-3)
    model.tokenizer.set_normalization(mean.tolist(), std.tolist())
    return model


# -------------------------------------------------------------------- metrics


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


def _eval_masks(count: int, num_patches: int, fraction: float, seed: int) -> torch.Tensor:
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


def _evaluate_across_ranks(
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


def _mean_over_ranks(value: float, device: torch.device) -> float:
    """The mean of ``value`` over the ranks (``value`` itself when not distributed)."""
    world_size = world_info()[1]
    if world_size == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total) / world_size


# ----------------------------------------------------------------- checkpoints


def _optimizer_tensors(
    optimizer: torch.optim.Optimizer, model: nn.Module
) -> dict[str, torch.Tensor]:
    """AdamW state as ``optimizer.<parameter name>.<key>`` tensors."""
    tensors: dict[str, torch.Tensor] = {}
    for name, param in model.named_parameters():
        for key, value in optimizer.state.get(param, {}).items():
            tensors[f"optimizer.{name}.{key}"] = torch.as_tensor(value).detach()
    return tensors


def save_training_checkpoint(
    path: str | Path,
    model: EnergyTransformer,
    optimizer: torch.optim.Optimizer,
    *,
    step: int,
    config: TrainConfig,
    generator: torch.Generator,
    history: list[dict[str, float]],
) -> None:
    """Write weights, AdamW state, step, generator state and config (safetensors + JSON)."""
    tensors = {f"model.{k}": v.detach() for k, v in model.state_dict().items()}
    tensors.update(_optimizer_tensors(optimizer, model))
    tensors["generator_state"] = generator.get_state()
    meta = {
        "kind": CHECKPOINT_KIND,
        "step": step,
        "train": asdict(config),
        "model": model.get_config(),
        "history": history,
    }
    save_checkpoint(path, tensors, meta)


def _check_meta(meta: dict[str, Any], path: Path, config: TrainConfig | None) -> None:
    if meta.get("kind") != CHECKPOINT_KIND:
        raise ValueError(f"{path}: not an Energy Transformer training checkpoint")
    if config is None:
        return
    saved = meta["train"]
    keys = ("dataset", "image_size", *_MODEL_KEYS)
    diffs = [
        f"{k}: checkpoint {saved.get(k)!r} vs requested {getattr(config, k)!r}"
        for k in keys
        if saved.get(k) != getattr(config, k)
    ]
    if diffs:
        raise ValueError(
            f"{path}: checkpoint does not match the requested run ({'; '.join(diffs)})"
        )


def load_training_checkpoint(
    path: str | Path,
    model: EnergyTransformer,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    config: TrainConfig | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """Restore ``model`` (and ``optimizer``/``generator``) from ``path``; return the JSON meta.

    Raises ``ValueError`` naming the file when it is corrupted or truncated (from
    :func:`hopfield.io.load_checkpoint`), not a training checkpoint, for another
    model configuration than ``config``, or missing tensors.
    """
    path = Path(path)
    tensors, meta = load_checkpoint(path)
    _check_meta(meta, path, config)
    if meta["model"] != model.get_config():
        raise ValueError(
            f"{path}: checkpoint model config {meta['model']} does not match the model "
            f"{model.get_config()}"
        )
    state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"{path}: tensors missing {missing} / unexpected {extra}")
    for name, value in state.items():
        if value.shape != expected[name].shape:
            raise ValueError(
                f"{path}: tensor {name!r} has shape {tuple(value.shape)}, model expects "
                f"{tuple(expected[name].shape)}"
            )
    model.load_state_dict(state)
    if optimizer is not None:
        _restore_optimizer(optimizer, model, tensors)
    if generator is not None:
        generator.set_state(tensors["generator_state"])
    return meta


def _restore_optimizer(
    optimizer: torch.optim.Optimizer, model: nn.Module, tensors: dict[str, torch.Tensor]
) -> None:
    for name, param in model.named_parameters():
        prefix = f"optimizer.{name}."
        state = {
            k[len(prefix) :]: v.to(param.device) for k, v in tensors.items() if k.startswith(prefix)
        }
        if state:
            if "step" in state:
                state["step"] = state["step"].to("cpu", torch.float32)
            optimizer.state[param] = state


# ------------------------------------------------------------------- training


def _lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on norms, biases, tokens and position embeddings."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        plain = param.ndim < 2 or "position" in name or "token" in name
        (no_decay if plain else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


def _batches(
    images: torch.Tensor, config: TrainConfig, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    while True:
        yield torch.randint(0, images.shape[0], (config.batch_size,), generator=generator)


class _PatchPredictor(nn.Module):
    """``(images, mask) → model(images, mask).patches``: the ET with a plain-tensor output.

    DDP is wrapped around this module rather than the ET, so the output DDP inspects
    (for unused-parameter detection) is a tensor, not an :class:`ETOutput`.
    """

    def __init__(self, model: EnergyTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        patches: torch.Tensor = self.model(images, mask).patches
        return patches


def _may_leave_parameters_unused(config: TrainConfig) -> bool:
    """True when some parameter gets no gradient (DDP then needs
    ``find_unused_parameters``): only with ``et_steps = 0``, where ``W_Q``, ``W_K`` and
    ``Ξ`` never enter the graph. Every other parameter is in the graph whatever the
    mask (the CLS token at worst with a zero gradient), which DDP handles as is."""
    return config.et_steps == 0


def _check_world(config: TrainConfig, world_size: int) -> int:
    """The per-rank batch ``batch_size / world_size`` (``ValueError`` unless divisible)."""
    if config.batch_size % world_size:
        raise ValueError(
            f"batch_size must be divisible by the number of ranks ({world_size}) in "
            f"distributed training, got {config.batch_size}"
        )
    return config.batch_size // world_size


def _train_step(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    mask: torch.Tensor,
    config: TrainConfig,
    use_amp: bool,
) -> float:
    """One AdamW update on the masked-patch MSE; ``network(images, mask)`` → patches
    (:class:`_PatchPredictor`, possibly inside DDP, which averages the gradients)."""
    target = patchify(images, config.patch_size)
    with torch.autocast(device_type=images.device.type, dtype=torch.bfloat16, enabled=use_amp):
        prediction = network(images, mask)
    loss = masked_mse(prediction.float(), target, mask)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(network.parameters(), config.grad_clip)
    optimizer.step()
    return float(loss.detach())


def train(
    config: TrainConfig,
    *,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    report: bool = True,
    stop_after: int | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train an ET on ``config.dataset`` and (with ``out_dir``) write checkpoints and a report.

    ``resume``: a checkpoint written by an earlier run with the same model config;
    training continues from its step with its optimiser and generator state.
    ``stop_after``: stop after this optimiser step (a checkpoint is written there),
    e.g. to split a run in pieces; the schedule still spans ``config.steps``.

    Inside an initialised process group (see the module docstring) the model runs
    under DDP, each rank trains on its ``batch_size / world_size`` rows of the global
    batch, and only rank 0 logs and writes to ``out_dir`` (other ranks return
    ``out_dir=None``); every rank returns the same model and metrics.
    """
    log = log or _print
    rank, world_size = world_info()
    main = rank == 0
    per_rank = _check_world(config, world_size)
    local = slice(rank * per_rank, (rank + 1) * per_rank)
    torch.manual_seed(config.seed)
    device = _resolve_device(config.device)
    use_amp = config.amp and device.type == "cuda"
    train_images, test_images = _load_images(config)
    model = build_model(config, train_images).to(device)
    optimizer = _make_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    start = 0
    if resume is not None:
        meta = load_training_checkpoint(
            resume, model, optimizer, config=config, generator=generator
        )
        start, history = int(meta["step"]), list(meta["history"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config), last_epoch=-1)
    for group in optimizer.param_groups:
        group["lr"] = config.lr * _lr_lambda(config)(start)
    scheduler.last_epoch = start
    network = wrap_ddp(
        _PatchPredictor(model),
        find_unused_parameters=_may_leave_parameters_unused(config),
    )
    out = None if out_dir is None or not main else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    eval_images = test_images[: config.eval_images]
    eval_mask = _eval_masks(
        eval_images.shape[0], model.num_patches, config.mask_fraction, config.seed
    )
    train_mean = train_images.mean(dim=0, keepdim=True)
    batches = _batches(train_images, config, generator)
    end = config.steps if stop_after is None else min(config.steps, stop_after)
    bar = _progress(range(start, end), progress and main, start, config.steps)
    t0 = time.perf_counter()
    network.train()
    for step in bar:
        # Every rank draws the whole global batch (keeps the generators in step) and
        # trains on its own rows.
        idx = next(batches)
        mask = random_patch_mask(
            config.batch_size,
            model.num_patches,
            config.mask_fraction,
            generator=generator,
            device=device,
        )
        images = train_images[idx[local]].to(device)
        loss = _train_step(network, optimizer, images, mask[local], config, use_amp)
        scheduler.step()
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss:.4f}")
        done = step + 1
        if done % config.eval_every == 0 or done == config.steps:
            loss = _mean_over_ranks(loss, device)
            scores = _evaluate_across_ranks(model, eval_images, eval_mask, train_mean)
            history.append({"step": done, "loss": loss, **scores})
            if main:
                log(
                    f"step {done}: loss {loss:.5f}  masked MSE et {scores['et']:.5f}  "
                    f"mean-of-visible {scores['mean_of_visible']:.5f}  "
                    f"ratio {scores['ratio']:.2f}"
                )
        if out is not None and (done % config.checkpoint_every == 0 or done == end):
            save_training_checkpoint(
                out / "checkpoint.safetensors",
                model,
                optimizer,
                step=done,
                config=config,
                generator=generator,
                history=history,
            )
    wall = time.perf_counter() - t0
    metrics = _evaluate_across_ranks(model, eval_images, eval_mask, train_mean)
    metrics["train_seconds"] = wall
    if out is not None and report:
        from hopfield.experiments.et_viz import write_report

        write_report(out, model, eval_images, eval_mask, metrics, history, asdict(config))
    return TrainResult(model=model, metrics=metrics, history=history, out_dir=out)


def _print(message: str) -> None:
    print(message, flush=True)


def _progress(steps: range, enabled: bool, start: int, total: int) -> Any:
    if not enabled:
        return steps
    from tqdm import tqdm

    return tqdm(steps, initial=start, total=total, desc="train et", dynamic_ncols=True)


# ------------------------------------------------------------------------ CLI


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.add_argument("--dataset", choices=DATASETS, default=defaults.dataset)
    parser.add_argument("--out", default="runs/et", help="output directory (report, checkpoint)")
    parser.add_argument("--resume", default=None, help="checkpoint to resume from")
    parser.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    for item in fields(TrainConfig):
        if item.name in ("dataset", "amp"):
            continue
        flag = "--" + item.name.replace("_", "-")
        default = getattr(defaults, item.name)
        kind = type(default) if default is not None else str
        parser.add_argument(flag, type=kind, default=default, dest=item.name)
    parser.add_argument("--no-amp", action="store_true", help="disable CUDA mixed precision")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over the torch.distributed group set up by torchrun (env://)",
    )


def _run(args: argparse.Namespace) -> int:
    names = {f.name for f in fields(TrainConfig)} - {"amp"}
    config = TrainConfig(**{n: getattr(args, n) for n in names}, amp=not args.no_amp)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        if args.distributed:
            init_distributed()  # env:// from torchrun; no-op inside an existing group
        main = is_main_process()
        result = train(config, out_dir=args.out, resume=args.resume, progress=not args.no_progress)
        if args.distributed:
            destroy_distributed(barrier=True)  # all ranks done before any disconnects
    except (FileNotFoundError, ValueError) as error:  # missing data/env, bad checkpoint
        print(f"hopfield train et: error: {error}", file=sys.stderr)
        return 2
    finally:
        if args.distributed:
            destroy_distributed()
    if main:
        from hopfield.experiments.et_viz import metrics_markdown

        print(metrics_markdown(result.metrics))
        print(f"report written to {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``train`` with the sub-command ``et`` to the ``hopfield`` CLI."""
    parser = subparsers.add_parser("train", help="train a model (et: Energy Transformer)")
    models = parser.add_subparsers(dest="model", metavar="MODEL")
    et = models.add_parser("et", help="masked-image modelling with the Energy Transformer")
    _add_arguments(et)
    et.set_defaults(func=_run)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
