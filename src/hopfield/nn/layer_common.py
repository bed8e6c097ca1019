"""Helpers shared by the encoder and decoder layers of :mod:`hopfield.nn` (torch conventions).

Activation names (``"relu"``, ``"gelu"``) and torch's code for them, the checked
``(B, T, d_model)`` source tensor in the layer's dtype, and torch's causal mask.
Used by :class:`~hopfield.nn.transformer.HopfieldEncoderLayer`,
:class:`~hopfield.nn.transformer.HopfieldDecoderLayer` and
:class:`~hopfield.nn.energy_transformer_layer.EnergyTransformerEncoderLayer`, whose
energies are documented there.
"""

from __future__ import annotations

import torch
from torch import nn

from hopfield._validation import check_rank
from hopfield.nn.inputs import layer_input, module_dtype

__all__ = ["ACTIVATIONS", "causal_mask", "check_activation", "check_sequence", "relu_or_gelu_code"]

ACTIVATIONS = ("relu", "gelu")


def check_activation(value: object) -> str:
    """``"relu"`` or ``"gelu"``."""
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {value!r}")
    return value


def relu_or_gelu_code(activation: str) -> int:
    """torch's convention: 1 = relu, 2 = gelu."""
    return 1 if activation == "relu" else 2


def check_sequence(
    value: object, name: str, d_model: int, batch_first: bool, module: nn.Module
) -> torch.Tensor:
    """``value`` of rank 3 and width ``d_model``, in the layer's dtype (hopfield.nn.inputs)."""
    tensor = layer_input(value, name, module_dtype(module))
    layout = "(B, T, d_model)" if batch_first else "(T, B, d_model)"
    check_rank(tensor, name, 3, layout)
    if tensor.shape[-1] != d_model:
        raise ValueError(
            f"{name} must have shape {layout} with d_model={d_model}, got {tuple(tensor.shape)}"
        )
    return tensor


def causal_mask(length: int, device: torch.device) -> torch.Tensor:
    """``(T, T)`` bool, True above the diagonal (= not allowed), torch's convention."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)
