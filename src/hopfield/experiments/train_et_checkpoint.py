"""Checkpoints of ``hopfield train et``: weights, AdamW moments, step, generator, config.

One safetensors file (:func:`hopfield.io.save_checkpoint`; no pickle) with the JSON
metadata ``{"kind", "step", "train" (the :class:`~.train_et.TrainConfig`), "model",
"history"}``, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hopfield.experiments.train_et_config import TrainConfig
from hopfield.io import load_checkpoint, save_checkpoint
from hopfield.models.energy_transformer import EnergyTransformer

__all__ = [
    "CHECKPOINT_KIND",
    "MODEL_KEYS",
    "load_training_checkpoint",
    "read_training_meta",
    "save_training_checkpoint",
]

CHECKPOINT_KIND = "hopfield.energy_transformer.training"
MODEL_KEYS = (
    "patch_size",
    "num_features",
    "num_heads",
    "head_dim",
    "num_memories",
    "et_steps",
    "alpha",
    "attention_init_std",
)
"""Configuration keys that define the architecture (a resumed run must keep them)."""


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
    keys = ("dataset", "image_size", *MODEL_KEYS)
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


def read_training_meta(path: str | Path) -> dict[str, Any]:
    """The JSON metadata of a training checkpoint (``ValueError`` naming the file if it
    is not one; ``FileNotFoundError`` if it does not exist)."""
    path = Path(path)
    _, meta = load_checkpoint(path)
    _check_meta(meta, path, None)
    return meta
