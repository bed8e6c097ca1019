"""Convolutional hypersynapse between two image layers.

``E = −Σ ĝ₂ ⊙ conv2d(ĝ₁, W)``: a dense synapse whose weight matrix is a
convolution (tutorial "Modern Methods in Associative Memory", ch. HAMUX,
"convolutional synapse"; Krotov & Hopfield 2021 two-body energy with a
weight-shared, local ``ξ``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hopfield.core.lagrangian_base import sum_non_batch
from hopfield.core.synapses.base import Synapse
from hopfield.core.synapses.dense import check_count, unpack_pair

__all__ = ["Conv2dSynapse"]


def _pair(value: int | Sequence[int], name: str, *, minimum: int) -> tuple[int, int]:
    items = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, Sequence) or len(items) != 2:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    a, b = items
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
        if v < minimum:
            raise ValueError(f"{name} must be ≥ {minimum}, got {value!r}")
    return a, b


class Conv2dSynapse(Synapse):
    """Convolutional synapse ``E(ĝ₁, ĝ₂) = −Σ_{c,h,w} ĝ₂ ⊙ conv2d(ĝ₁, W)``.

    ``ĝ₁`` has shape ``(B, in_channels, H, W)`` and ``ĝ₂`` the conv output shape
    ``(B, out_channels, H', W')`` with ``H' = ⌊(H + 2p − k)/s⌋ + 1``. Since the
    energy is bilinear, the closed-form gradients are the convolution and its
    adjoint, the transposed convolution::

        ∂E/∂ĝ₂ = −conv2d(ĝ₁, W),
        ∂E/∂ĝ₁ = −conv_transpose2d(ĝ₂, W, output_padding = H − ((H'−1)s − 2p + k)),

    the output padding restoring the rows/columns that a strided convolution drops.
    :meth:`energy_and_grad` shares ``conv2d(ĝ₁, W)`` between ``E`` and ``∂E/∂ĝ₂``.

    Args:
        in_channels, out_channels: channel counts of ``ĝ₁`` and ``ĝ₂``.
        kernel_size, stride, padding: as in :func:`torch.nn.functional.conv2d`
            (an int or a pair).
        std: initial weights ``N(0, std²)``; default ``1/√(in_channels·k_h·k_w)``.
        generator: random generator for the initial weights.

    Attributes:
        weight: ``W``, shape ``(out_channels, in_channels, k_h, k_w)``.
    """

    arity = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        *,
        std: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_count(in_channels, "in_channels")
        self.out_channels = check_count(out_channels, "out_channels")
        self.kernel_size = _pair(kernel_size, "kernel_size", minimum=1)
        self.stride = _pair(stride, "stride", minimum=1)
        self.padding = _pair(padding, "padding", minimum=0)
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        scale = 1.0 / math.sqrt(fan_in) if std is None else float(std)
        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight = nn.Parameter(torch.randn(shape, generator=generator) * scale)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size ``(H', W')`` of ``ĝ₂`` for an input of size ``(H, W)``."""
        size = []
        for n, k, s, p in zip(
            (height, width), self.kernel_size, self.stride, self.padding, strict=True
        ):
            size.append((n + 2 * p - k) // s + 1)
        return size[0], size[1]

    def _check(self, g1: torch.Tensor, g2: torch.Tensor) -> None:
        dtype = self.weight.dtype
        for name, g, channels in (("g1", g1, self.in_channels), ("g2", g2, self.out_channels)):
            if not isinstance(g, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(g).__name__}")
            if g.dtype != dtype:
                raise TypeError(f"{name} must have dtype {dtype} (the weight's), got {g.dtype}")
            if g.ndim != 4 or g.shape[1] != channels:
                raise ValueError(
                    f"{name} must have shape (B, {channels}, H, W), got shape {tuple(g.shape)}"
                )
        out_h, out_w = self.output_size(g1.shape[2], g1.shape[3])
        expected = (g1.shape[0], self.out_channels, out_h, out_w)
        if out_h < 1 or out_w < 1 or tuple(g2.shape) != expected:
            raise ValueError(
                f"g2 must have the conv output shape {expected} for g1 of shape "
                f"{tuple(g1.shape)}, got shape {tuple(g2.shape)}"
            )

    def _conv(self, g1: torch.Tensor) -> torch.Tensor:
        return F.conv2d(g1, self.weight, stride=self.stride, padding=self.padding)

    def _conv_transpose(self, g2: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The adjoint of :meth:`_conv`, producing a ``(B, C_in, height, width)`` tensor."""
        output_padding = tuple(
            n - ((m - 1) * s - 2 * p + k)
            for n, m, k, s, p in zip(
                (height, width),
                g2.shape[2:],
                self.kernel_size,
                self.stride,
                self.padding,
                strict=True,
            )
        )
        return F.conv_transpose2d(
            g2, self.weight, stride=self.stride, padding=self.padding, output_padding=output_padding
        )

    def energy(self, *activations: torch.Tensor) -> torch.Tensor:
        """``E = −Σ ĝ₂ ⊙ conv2d(ĝ₁, W)``, shape ``(B,)``."""
        g1, g2 = unpack_pair(activations)
        self._check(g1, g2)
        return -sum_non_batch(g2 * self._conv(g1))

    def grad(self, *activations: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(−conv_transpose2d(ĝ₂, W), −conv2d(ĝ₁, W))``."""
        g1, g2 = unpack_pair(activations)
        self._check(g1, g2)
        return -self._conv_transpose(g2, g1.shape[2], g1.shape[3]), -self._conv(g1)

    def energy_and_grad(
        self, *activations: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """``(E, (∂E/∂ĝ₁, ∂E/∂ĝ₂))`` sharing the convolution ``conv2d(ĝ₁, W)``."""
        g1, g2 = unpack_pair(activations)
        self._check(g1, g2)
        h = self._conv(g1)
        grad1 = -self._conv_transpose(g2, g1.shape[2], g1.shape[3])
        return -sum_non_batch(g2 * h), (grad1, -h)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        )
