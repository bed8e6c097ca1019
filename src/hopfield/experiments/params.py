"""``hopfield params``: the parameter-efficiency table of the Energy Transformer.

Hoover et al. (2023), "Energy Transformer": one recurrent ET block (energy
attention without value/output weights, a Hopfield module ``Ξ`` tied between its
"up" and "down" maps) replaces a stack of transformer blocks. The table counts
parameters of *instantiated* modules (on PyTorch's ``meta`` device by default, so
nothing is allocated) for the ViT-Base geometry: 224×224×3 images, patch 16
(196 patches), ``D = 768``, 12 heads of 64, MLP 3072 / 3072 Hopfield memories.

All three models share one masked-image-modelling front end (the one
:class:`~hopfield.models.energy_transformer.EnergyTransformer` uses): a bias-free
linear patch embedding ``768 → 768``, learned position embeddings for the 196
patches, a CLS and a MASK token, a bias-free linear patch decoder ``768 → 768``
(1,331,712 parameters). The blocks are

* ViT-Base: 12 pre-norm ``nn.TransformerEncoderLayer(768, 12, 3072, bias=False)``
  (Q/K/V/output and MLP weights, LayerNorm scales: 7,079,424 each);
* ALBERT-style ViT-Base: one such block shared by all 12 layers;
* ET: one :class:`EnergyTransformerBlock` (``W_Q``, ``W_K``: 12×64×768 each,
  ``Ξ``: 3072×768, energy LayerNorm γ and δ: 3,539,713).

This configuration reproduces the slide's 86.28M / 7.08M, 8.41M / 7.08M and
4.87M / 3.54M (total / per block).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hopfield.models.energy_transformer import EnergyTransformer
from hopfield.models.energy_transformer_patches import ImageTokenizer, PatchDecoder

__all__ = [
    "ParamRow",
    "TransformerMIM",
    "build_models",
    "count_parameters",
    "format_millions",
    "parameter_table",
    "register",
    "table_markdown",
]

VIT_BASE: dict[str, int] = {
    "image_size": 224,
    "patch_size": 16,
    "in_channels": 3,
    "num_features": 768,
    "num_heads": 12,
    "head_dim": 64,
    "mlp_dim": 3072,
    "num_memories": 3072,
    "num_blocks": 12,
}


class TransformerMIM(nn.Module):
    """A ViT for masked-image modelling with the ET's front end (reference model).

    ``x_0`` from :class:`~hopfield.models.energy_transformer_patches.ImageTokenizer`, then
    ``num_blocks`` pre-norm transformer blocks
    ``x ← x + MHA(LN x); x ← x + MLP(LN x)`` (``nn.TransformerEncoderLayer``,
    bias-free), then the linear patch decoder. ``shared=True`` uses one block
    for every layer (ALBERT, Lan et al. 2020).
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        in_channels: int,
        num_features: int,
        num_heads: int,
        mlp_dim: int,
        num_blocks: int,
        *,
        shared: bool = False,
    ) -> None:
        super().__init__()
        self.tokenizer = ImageTokenizer(image_size, patch_size, in_channels, num_features)
        count = 1 if shared else num_blocks
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                num_features,
                num_heads,
                mlp_dim,
                dropout=0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
                bias=False,
            )
            for _ in range(count)
        )
        self.num_blocks = num_blocks
        self.decoder = PatchDecoder(num_features, self.tokenizer.patch_dim)

    def forward(self, images: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Decoded patches ``(B, N, P)`` (pixel units)."""
        x = self.tokenizer(images, mask)
        for layer in range(self.num_blocks):
            x = self.blocks[layer % len(self.blocks)](x)
        return self.tokenizer.denormalize(self.decoder(x[:, self.tokenizer.num_prefix_tokens :]))


def count_parameters(module: nn.Module) -> int:
    """Number of distinct parameter entries (shared parameters counted once)."""
    return sum(p.numel() for p in module.parameters())


@dataclass
class ParamRow:
    """One row of the table: model name, total parameters and parameters per block."""

    name: str
    total: int
    per_block: int


def build_models(device: str | torch.device = "meta") -> dict[str, tuple[nn.Module, nn.Module]]:
    """``{name: (model, one block)}`` for ViT-Base, ALBERT ViT-Base and ET (ViT-Base sizes)."""
    c = VIT_BASE
    common = (c["image_size"], c["patch_size"], c["in_channels"], c["num_features"])
    with torch.device(device):
        vit = TransformerMIM(*common, c["num_heads"], c["mlp_dim"], c["num_blocks"])
        albert = TransformerMIM(*common, c["num_heads"], c["mlp_dim"], c["num_blocks"], shared=True)
        et = EnergyTransformer(*common, c["num_heads"], c["head_dim"], c["num_memories"])
    return {
        "ViT-Base": (vit, vit.blocks[0]),
        "ALBERT ViT-Base": (albert, albert.blocks[0]),
        "Energy Transformer": (et, et.block),
    }


def parameter_table(device: str | torch.device = "meta") -> list[ParamRow]:
    """Parameter counts of the instantiated models (see the module docstring)."""
    return [
        ParamRow(name, count_parameters(model), count_parameters(block))
        for name, (model, block) in build_models(device).items()
    ]


def format_millions(count: int) -> str:
    """``86287104 -> "86.29M"`` style (two decimals, millions)."""
    return f"{count / 1e6:.2f}M"


def table_markdown(rows: Sequence[ParamRow]) -> str:
    """Markdown table: model, total and per-block parameters (rounded and exact)."""
    lines = [
        "| model | parameters | per block | exact total | exact per block |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {format_millions(row.total)} | {format_millions(row.per_block)} "
            f"| {row.total:,} | {row.per_block:,} |"
        )
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    rows = parameter_table(args.device)
    print("ViT-Base geometry: 224x224x3, patch 16, D=768, 12 heads of 64, MLP/memories 3072")
    print(table_markdown(rows))
    vit, et = rows[0], rows[-1]
    print(f"\nViT-Base / ET: {vit.total / et.total:.1f}x fewer parameters")
    return 0


def _params_device(text: str) -> str:
    from hopfield.experiments.cli_types import device_name

    return text if text == "meta" else device_name(text)


def register(subparsers: Any) -> None:
    """Add ``params`` to the ``hopfield`` CLI."""
    parser = subparsers.add_parser("params", help="parameter table: ViT-Base vs ALBERT vs ET")
    parser.add_argument(
        "--device",
        type=_params_device,
        default="meta",
        help="where to instantiate the modules (meta: no memory)",
    )
    parser.set_defaults(func=_run)
