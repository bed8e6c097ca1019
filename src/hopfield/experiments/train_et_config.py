"""The configuration of ``hopfield train et``: :class:`TrainConfig` (saved in checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DATASETS", "TrainConfig"]

DATASETS = ("digits", "glyphs", "mnist", "cifar10")


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
