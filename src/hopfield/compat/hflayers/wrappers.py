"""hopfield-layers' ``HopfieldPooling`` and ``HopfieldLayer`` on the compat ``Hopfield``.

* ``HopfieldPooling``: ``quantity`` learnable state patterns (``pooling_weights``)
  retrieve from the input set (stored patterns and pattern projections), pooling it
  (Ramsauer et al. 2020, §3; attention-based multiple-instance pooling).
* ``HopfieldLayer``: the input is the state pattern; ``quantity`` learnable stored
  patterns (``lookup_weights``) and, with ``lookup_weights_as_separated``, separate
  learnable or fixed pattern projections (``target_weights``) form a lookup table.

Both inherit the energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` and update
``ξ ← softmax(β ξ Kᵀ) K`` of :class:`~hopfield.compat.hflayers.Hopfield`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hopfield._validation import check_bool, check_int, check_tensor
from hopfield.compat.hflayers.hopfield import Hopfield, json_arguments

__all__ = ["HopfieldLayer", "HopfieldPooling"]


def _hopfield_arguments(arguments: dict[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k not in ("self", "__class__", *drop)}


def _learned(quantity: int, width: int, batch_first: bool, trainable: bool) -> nn.Parameter:
    """``(1, quantity, width)`` (``(quantity, 1, width)`` sequence-first), N(0, 0.02²)."""
    size = (1, quantity, width) if batch_first else (quantity, 1, width)
    return nn.Parameter(torch.randn(size) * 0.02, requires_grad=trainable)


class _Wrapper(nn.Module):
    hopfield: Hopfield
    _arguments: dict[str, Any]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        return json_arguments(self._arguments)

    def _expand(self, weights: torch.Tensor, batch: int) -> torch.Tensor:
        shape = (batch, -1, -1) if self.hopfield.batch_first else (-1, batch, -1)
        return weights.expand(*shape)

    def _batch(self, tensor: object, name: str) -> int:
        """Batch size of a rank-3 input (0 otherwise: ``Hopfield`` then names the bad rank)."""
        checked = check_tensor(tensor, name)
        if checked.ndim != 3:
            return 0
        return checked.shape[0 if self.hopfield.batch_first else 1]

    def __getattr__(self, name: str) -> Any:
        """hopfield-layers' read-only properties are those of the inner ``Hopfield``."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("hopfield"), name)


class HopfieldPooling(_Wrapper):
    """hopfield-layers' ``HopfieldPooling``: learnable state patterns pool the input.

    Energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` of the ``quantity`` learned
    state patterns against the input set (Ramsauer et al. 2020). Arguments are those of
    :class:`~hopfield.compat.hflayers.Hopfield` plus ``quantity`` (number of state
    patterns) and ``trainable``. Input: a tensor (stored patterns = pattern projections)
    or ``(stored_pattern, pattern_projection)``; output ``(B, quantity·output_size)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int | None = None,
        output_size: int | None = None,
        pattern_size: int | None = None,
        num_heads: int = 1,
        scaling: float | torch.Tensor | None = None,
        update_steps_max: int | torch.Tensor | None = 0,
        update_steps_eps: float | torch.Tensor = 1e-4,
        normalize_stored_pattern: bool = True,
        normalize_stored_pattern_affine: bool = True,
        normalize_state_pattern: bool = True,
        normalize_state_pattern_affine: bool = True,
        normalize_pattern_projection: bool = True,
        normalize_pattern_projection_affine: bool = True,
        normalize_hopfield_space: bool = False,
        normalize_hopfield_space_affine: bool = False,
        stored_pattern_as_static: bool = False,
        state_pattern_as_static: bool = False,
        pattern_projection_as_static: bool = False,
        pattern_projection_as_connected: bool = False,
        stored_pattern_size: int | None = None,
        pattern_projection_size: int | None = None,
        batch_first: bool = True,
        association_activation: str | None = None,
        dropout: float = 0.0,
        input_bias: bool = True,
        concat_bias_pattern: bool = False,
        add_zero_association: bool = False,
        disable_out_projection: bool = False,
        quantity: int = 1,
        trainable: bool = True,
    ) -> None:
        arguments = _hopfield_arguments(dict(locals()), ("quantity", "trainable"))
        super().__init__()
        self._arguments = {**arguments, "quantity": quantity, "trainable": trainable}
        self.hopfield = Hopfield(**arguments)
        self.quantity = check_int(quantity, "quantity")
        width = self.hopfield.shape.state_width or input_size
        self.pooling_weights = _learned(
            self.quantity, width, self.hopfield.batch_first, check_bool(trainable, "trainable")
        )

    def _prepare_input(
        self, input: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if isinstance(input, tuple):
            if len(input) != 2:
                raise ValueError(
                    "input must be one tensor or a tuple (stored_pattern, pattern_projection), "
                    f"got a tuple of {len(input)}"
                )
            stored, projection = input
        else:
            stored = projection = input
        batch = self._batch(stored, "stored_pattern")
        return stored, self._expand(self.pooling_weights, batch), projection

    def forward(
        self,
        input: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
        stored_pattern_padding_mask: torch.Tensor | None = None,
        association_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pool ``input`` into ``(B, quantity·output_size)``."""
        pooled = self.hopfield(
            self._prepare_input(input), stored_pattern_padding_mask, association_mask
        )
        if not self.hopfield.batch_first:
            pooled = pooled.transpose(0, 1)
        return pooled.flatten(start_dim=1)

    def get_association_matrix(
        self,
        input: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
        stored_pattern_padding_mask: torch.Tensor | None = None,
        association_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pooling weights ``(B, heads, quantity, L)``."""
        return self.hopfield.get_association_matrix(
            self._prepare_input(input), stored_pattern_padding_mask, association_mask
        )


class HopfieldLayer(_Wrapper):
    """hopfield-layers' ``HopfieldLayer``: the input looks up learned stored patterns.

    Energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` of the input against the
    ``quantity`` learned stored patterns ``lookup_weights`` (Ramsauer et al. 2020).
    Arguments are those of :class:`~hopfield.compat.hflayers.Hopfield` plus
    ``quantity``, ``trainable`` (lookup weights), ``lookup_weights_as_separated``
    (separate pattern projections ``target_weights``) and ``lookup_targets_as_trainable``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int | None = None,
        output_size: int | None = None,
        pattern_size: int | None = None,
        num_heads: int = 1,
        scaling: float | torch.Tensor | None = None,
        update_steps_max: int | torch.Tensor | None = 0,
        update_steps_eps: float | torch.Tensor = 1e-4,
        lookup_weights_as_separated: bool = False,
        lookup_targets_as_trainable: bool = True,
        normalize_stored_pattern: bool = True,
        normalize_stored_pattern_affine: bool = True,
        normalize_state_pattern: bool = True,
        normalize_state_pattern_affine: bool = True,
        normalize_pattern_projection: bool = True,
        normalize_pattern_projection_affine: bool = True,
        normalize_hopfield_space: bool = False,
        normalize_hopfield_space_affine: bool = False,
        stored_pattern_as_static: bool = False,
        state_pattern_as_static: bool = False,
        pattern_projection_as_static: bool = False,
        pattern_projection_as_connected: bool = False,
        stored_pattern_size: int | None = None,
        pattern_projection_size: int | None = None,
        batch_first: bool = True,
        association_activation: str | None = None,
        dropout: float = 0.0,
        input_bias: bool = True,
        concat_bias_pattern: bool = False,
        add_zero_association: bool = False,
        disable_out_projection: bool = False,
        quantity: int = 1,
        trainable: bool = True,
    ) -> None:
        arguments = dict(locals())
        super().__init__()
        self._arguments = _hopfield_arguments(arguments, ())
        own = ("quantity", "trainable", "lookup_weights_as_separated",
               "lookup_targets_as_trainable")  # fmt: skip
        self.hopfield = Hopfield(**_hopfield_arguments(arguments, own))
        self.quantity = check_int(quantity, "quantity")
        separated = check_bool(lookup_weights_as_separated, "lookup_weights_as_separated")
        targets_trainable = check_bool(lookup_targets_as_trainable, "lookup_targets_as_trainable")
        if not separated and not targets_trainable:
            raise ValueError(
                "lookup_targets_as_trainable=False needs lookup_weights_as_separated=True "
                "(without separate targets the lookup weights are the pattern projections)"
            )
        batch_first = self.hopfield.batch_first
        width = self.hopfield.shape.stored_width or input_size
        trainable = check_bool(trainable, "trainable")
        self.lookup_weights = _learned(self.quantity, width, batch_first, trainable)
        self.target_weights: nn.Parameter | None = None
        if separated:
            target_width = pattern_projection_size if pattern_projection_size else width
            self.target_weights = _learned(
                self.quantity, target_width, batch_first, targets_trainable
            )

    def _prepare_input(
        self, input: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = self._batch(input, "input")
        stored = self._expand(self.lookup_weights, batch)
        targets = (
            stored if self.target_weights is None else self._expand(self.target_weights, batch)
        )
        return stored, input, targets

    def forward(
        self,
        input: torch.Tensor,
        stored_pattern_padding_mask: torch.Tensor | None = None,
        association_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Look ``input`` ``(B, L, input_size)`` up: ``(B, L, output_size)``."""
        return self.hopfield(
            self._prepare_input(input), stored_pattern_padding_mask, association_mask
        )

    def get_association_matrix(
        self,
        input: torch.Tensor,
        stored_pattern_padding_mask: torch.Tensor | None = None,
        association_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Lookup weights ``(B, heads, L, quantity)``."""
        return self.hopfield.get_association_matrix(
            self._prepare_input(input), stored_pattern_padding_mask, association_mask
        )
