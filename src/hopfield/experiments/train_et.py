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

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hopfield.distributed.launch import (
    world_info,
    wrap_ddp,
)
from hopfield.experiments.train_et_checkpoint import (
    load_training_checkpoint,
    save_training_checkpoint,
)
from hopfield.experiments.train_et_config import DATASETS, TrainConfig
from hopfield.experiments.train_et_eval import (
    KNN_MEMORY,
    eval_masks,
    evaluate,
    evaluate_across_ranks,
    masked_mse,
    mean_of_visible_baseline,
    mean_over_ranks,
)
from hopfield.models.energy_transformer import EnergyTransformer
from hopfield.models.energy_transformer_patches import patchify, random_patch_mask

__all__ = [
    "DATASETS",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_training_checkpoint",
    "mean_of_visible_baseline",
    "save_training_checkpoint",
    "train",
]


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


@dataclass
class _Session:
    """Everything :func:`train` sets up before its loop (one rank's view of the run)."""

    model: EnergyTransformer
    network: nn.Module
    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR
    generator: torch.Generator
    device: torch.device
    use_amp: bool
    train_images: torch.Tensor
    test_images: torch.Tensor
    local: slice
    main: bool
    start: int
    history: list[dict[str, float]]


def _start_session(config: TrainConfig, resume: str | Path | None) -> _Session:
    """Data, model, optimiser, generator and schedule (restored from ``resume``)."""
    rank, world_size = world_info()
    per_rank = _check_world(config, world_size)
    torch.manual_seed(config.seed)
    device = _resolve_device(config.device)
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
    return _Session(
        model=model,
        network=network,
        optimizer=optimizer,
        scheduler=scheduler,
        generator=generator,
        device=device,
        use_amp=config.amp and device.type == "cuda",
        train_images=train_images,
        test_images=test_images,
        local=slice(rank * per_rank, (rank + 1) * per_rank),
        main=rank == 0,
        start=start,
        history=history,
    )


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
    run = _start_session(config, resume)
    model = run.model
    out = None if out_dir is None or not run.main else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    eval_images = run.test_images[: config.eval_images]
    eval_mask = eval_masks(
        eval_images.shape[0], model.num_patches, config.mask_fraction, config.seed
    )
    train_mean = run.train_images.mean(dim=0, keepdim=True)
    batches = _batches(run.train_images, config, run.generator)
    end = config.steps if stop_after is None else min(config.steps, stop_after)
    bar = _progress(range(run.start, end), progress and run.main, run.start, config.steps)
    t0 = time.perf_counter()
    run.network.train()
    for step in bar:
        # Every rank draws the whole global batch (keeps the generators in step) and
        # trains on its own rows.
        idx = next(batches)
        mask = random_patch_mask(
            config.batch_size,
            model.num_patches,
            config.mask_fraction,
            generator=run.generator,
            device=run.device,
        )
        images = run.train_images[idx[run.local]].to(run.device)
        loss = _train_step(run.network, run.optimizer, images, mask[run.local], config, run.use_amp)
        run.scheduler.step()
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss:.4f}")
        done = step + 1
        if done % config.eval_every == 0 or done == config.steps:
            loss = mean_over_ranks(loss, run.device)
            scores = evaluate_across_ranks(model, eval_images, eval_mask, train_mean)
            run.history.append({"step": done, "loss": loss, **scores})
            if run.main:
                log(_progress_line(done, loss, scores))
        if out is not None and (done % config.checkpoint_every == 0 or done == end):
            save_training_checkpoint(
                out / "checkpoint.safetensors",
                model,
                run.optimizer,
                step=done,
                config=config,
                generator=run.generator,
                history=run.history,
            )
    wall = time.perf_counter() - t0
    memory = run.train_images[:KNN_MEMORY]  # kNN is constant in training: scored at the end
    metrics = evaluate_across_ranks(model, eval_images, eval_mask, train_mean, memory)
    metrics["train_seconds"] = wall
    if out is not None and report:
        from hopfield.experiments.et_viz import write_report

        write_report(out, model, eval_images, eval_mask, metrics, run.history, asdict(config))
    return TrainResult(model=model, metrics=metrics, history=run.history, out_dir=out)


def _progress_line(step: int, loss: float, scores: dict[str, float]) -> str:
    return (
        f"step {step}: loss {loss:.5f}  masked MSE et {scores['et']:.5f}  "
        f"mean-of-visible {scores['mean_of_visible']:.5f}  ratio {scores['ratio']:.2f}"
    )


def _print(message: str) -> None:
    print(message, flush=True)


def _progress(steps: range, enabled: bool, start: int, total: int) -> Any:
    if not enabled:
        return steps
    from tqdm import tqdm

    return tqdm(steps, initial=start, total=total, desc="train et", dynamic_ncols=True)
