"""Bias hypersynapse on one layer: ``E = −⟨b, ĝ⟩``.

An external input / threshold term (the ``−Σ I_i g_i`` of Krotov & Hopfield 2021,
"Large Associative Memory Problem in Neurobiology and Machine Learning"; tutorial
ch. HAMUX, "bias synapse").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hopfield.core.lagrangian_base import sum_non_batch
from hopfield.core.synapses.base import Synapse

__all__ = ["BiasSynapse"]


def _check_shape(shape: object) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or isinstance(shape, str):
        raise TypeError(f"shape must be an int or a tuple of ints, got {type(shape).__name__}")
    dims = tuple(shape)
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"shape must be a non-empty tuple of ints ≥ 1, got {dims!r}")
    return dims


class BiasSynapse(Synapse):
    """Linear bias ``E(ĝ) = −Σ_i b_i ĝ_i`` over one layer of per-sample ``shape``.

    Closed-form gradient ``∂E/∂ĝ = −b`` (broadcast over the batch).

    Args:
        shape: per-sample shape of the layer (an int or a tuple of ints).

    Attributes:
        bias: ``b``, shape ``shape``, zeros at init.
    """

    arity = 1

    def __init__(self, shape: int | Sequence[int]) -> None:
        super().__init__()
        self.shape = _check_shape(shape)
        self.bias = nn.Parameter(torch.zeros(self.shape))

    def _check(self, activations: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if len(activations) != 1:
            raise ValueError(f"BiasSynapse joins 1 layer, got {len(activations)} activations")
        g = activations[0]
        expected = "(B, " + ", ".join(map(str, self.shape)) + ")"
        if not isinstance(g, torch.Tensor):
            raise TypeError(f"g must be a torch.Tensor of shape {expected}, got {type(g).__name__}")
        if g.dtype != self.bias.dtype:
            raise TypeError(
                f"g must have the dtype of the synapse parameters ({self.bias.dtype}), "
                f"got {g.dtype}"
            )
        if tuple(g.shape[1:]) != self.shape or g.ndim != len(self.shape) + 1:
            raise ValueError(f"g must have shape {expected}, got shape {tuple(g.shape)}")
        return g

    def energy(self, *activations: torch.Tensor) -> torch.Tensor:
        """``E = −⟨b, ĝ⟩``, shape ``(B,)``."""
        g = self._check(activations)
        return -sum_non_batch(g * self.bias)

    def grad(self, *activations: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``∂E/∂ĝ = −b``, expanded to the shape of ``ĝ``."""
        g = self._check(activations)
        return ((-self.bias).expand(g.shape),)

    def energy_and_grad(
        self, *activations: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """``(E, (∂E/∂ĝ,))`` in one call."""
        g = self._check(activations)
        return -sum_non_batch(g * self.bias), ((-self.bias).expand(g.shape),)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
