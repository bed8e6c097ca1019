"""ViT masked autoencoders sized against an Energy Transformer.

The baseline is :class:`hopfield.experiments.params.TransformerMIM`: the ET's exact
front end (:class:`~hopfield.models.energy_transformer_patches.ImageTokenizer`: pixel normalisation,
linear patch embedding, learned position embeddings, the MASK token in place of
every hidden patch, CLS token) and its linear patch read-out, with ``depth``
ordinary pre-LayerNorm transformer blocks in between instead of one energy block
unrolled ``T`` times. The mask token sits in the encoder's input (the SimMIM / BEiT
arrangement rather than He et al. 2022's encoder-on-visible-patches MAE), so the
ET and the ViT read identical token sequences and differ only in the computation
between tokenizer and read-out.
"""

from __future__ import annotations

from collections.abc import Sequence

from hopfield.experiments.params import TransformerMIM, count_parameters

__all__ = ["vit_matching_parameters"]


def vit_matching_parameters(
    target: int,
    image_size: int | Sequence[int],
    patch_size: int,
    in_channels: int,
    *,
    depth: int,
    num_heads: int = 4,
    mlp_ratio: int = 4,
) -> TransformerMIM:
    """The :class:`TransformerMIM` of ``depth`` blocks (MLP width ``mlp_ratio·d``) whose
    parameter count, counted on the instantiated module, is closest to ``target``;
    widths ``d`` are multiples of ``num_heads``."""
    if target < 1 or depth < 1:
        raise ValueError(f"target and depth must be ≥ 1, got {target} and {depth}")
    best: tuple[int, TransformerMIM] | None = None
    width = num_heads
    while True:
        model = TransformerMIM(
            image_size,  # type: ignore[arg-type]  # ImageTokenizer takes H or (H, W)
            patch_size,
            in_channels,
            width,
            num_heads,
            mlp_ratio * width,
            depth,
        )
        gap = abs(count_parameters(model) - target)
        if best is not None and gap > best[0]:
            return best[1]
        best = (gap, model)
        width += num_heads
