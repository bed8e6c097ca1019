"""``Hopfield`` with hopfield-layers' constructor, inputs, masks and defaults.

The layer of Ramsauer et al. (2020), "Hopfield Networks is All You Need": per head the
LSE energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` and its CCCP update
``ξ ← softmax(β ξ Kᵀ) K`` (see :mod:`hopfield.compat.hflayers.core` for the projections
and the stopping rule), with hopfield-layers' defaults: the stored patterns, state
patterns and pattern projections are layer-normalised (with affine parameters)
before anything else, ``β = 1/√hidden_size``, one association (``update_steps_max=0``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hopfield._validation import check_bool, check_int, check_probability, check_rank
from hopfield.compat.hflayers.core import (
    AssociationCore,
    CoreShape,
    default_scaling,
    iterate_association,
)
from hopfield.compat.hflayers.options import (
    check_activation,
    check_norm_flags,
    check_optional_size,
    check_scaling,
    check_steps,
    resolve_shape,
)
from hopfield.nn.inputs import layer_input, module_dtype

__all__ = ["Hopfield", "HopfieldInput"]

HopfieldInput = torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""One tensor (stored = state = projection) or ``(stored, state, projection)``."""

_ROLES = ("stored_pattern", "state_pattern", "pattern_projection")


def json_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` as JSON values; a per-head tensor (``scaling``, ``update_steps_*``)
    has no JSON form and raises ``ValueError`` naming the argument."""
    for name, value in arguments.items():
        if isinstance(value, torch.Tensor):
            raise ValueError(
                f"{name} is a per-head tensor, which a JSON config cannot hold; "
                "save the layer's state_dict instead"
            )
    return dict(arguments)


class Hopfield(nn.Module):
    """hopfield-layers' ``Hopfield`` on this library's retrieval step.

    Energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` per head, update
    ``ξ ← softmax(β ξ Kᵀ) K`` (Ramsauer et al. 2020). Arguments, defaults, inputs
    (a tensor, or the tuple ``(stored_pattern, state_pattern, pattern_projection)``),
    masks (``stored_pattern_padding_mask`` ``(B, S)`` bool True = ignore,
    ``association_mask`` ``(L, S)`` or ``(B·heads, L, S)``) and
    :meth:`get_association_matrix` are hopfield-layers'; see
    ``docs/migration-hopfield-layers.md`` for each argument and the few places where
    this implementation follows hopfield-layers' documentation rather than its code.
    """

    def __init__(
        self,
        input_size: int | None = None,
        hidden_size: int | None = None,
        output_size: int | None = None,
        pattern_size: int | None = None,
        num_heads: int = 1,
        scaling: float | torch.Tensor | None = None,
        update_steps_max: int | torch.Tensor | None = 0,
        update_steps_eps: float | torch.Tensor = 1e-4,
        normalize_stored_pattern: bool = True,
        normalize_stored_pattern_affine: bool = True,
        normalize_stored_pattern_eps: float = 1e-5,
        normalize_state_pattern: bool = True,
        normalize_state_pattern_affine: bool = True,
        normalize_state_pattern_eps: float = 1e-5,
        normalize_pattern_projection: bool = True,
        normalize_pattern_projection_affine: bool = True,
        normalize_pattern_projection_eps: float = 1e-5,
        normalize_hopfield_space: bool = False,
        normalize_hopfield_space_affine: bool = False,
        normalize_hopfield_space_eps: float = 1e-5,
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
    ) -> None:
        super().__init__()
        arguments = dict(locals())
        del arguments["self"], arguments["__class__"]
        self._arguments = arguments
        shape = self._resolve(arguments)
        self.shape = shape
        self.num_heads = shape.num_heads
        self.batch_first = check_bool(batch_first, "batch_first")
        self.dropout = check_probability(dropout, "dropout")
        self.activation = check_activation(association_activation)
        scaling_value = check_scaling(scaling, shape.num_heads)
        self._scaling = default_scaling(shape.head_dim) if scaling_value is None else scaling_value
        steps, eps = check_steps(update_steps_max, update_steps_eps, shape.num_heads)
        self.register_buffer("steps_max", steps, persistent=False)
        self.register_buffer("steps_eps", eps, persistent=False)
        self.norm_stored_pattern = self._input_norm("stored_pattern", shape.stored_width)
        self.norm_state_pattern = self._input_norm("state_pattern", shape.state_width)
        self.norm_pattern_projection = self._input_norm(
            "pattern_projection", shape.projection_width
        )
        self.association_core = AssociationCore(
            shape,
            bias=check_bool(input_bias, "input_bias"),
            space_norm=(normalize_hopfield_space, normalize_hopfield_space_affine,
                        normalize_hopfield_space_eps),
            concat_bias_pattern=concat_bias_pattern,
            add_zero_association=check_bool(add_zero_association, "add_zero_association"),
            project_output=not disable_out_projection,
        )  # fmt: skip

    # ------------------------------------------------------------------ construction

    @staticmethod
    def _resolve(a: dict[str, Any]) -> CoreShape:
        """Check every argument and resolve the widths (hopfield-layers' rules)."""
        heads = check_int(a["num_heads"], "num_heads")
        sizes = {name: check_optional_size(a[name], name) for name in (
            "input_size", "hidden_size", "output_size", "pattern_size",
            "stored_pattern_size", "pattern_projection_size")}  # fmt: skip
        for role in (*_ROLES, "hopfield_space"):
            name = f"normalize_{role}"
            check_norm_flags(a[name], a[f"{name}_affine"], a[f"{name}_eps"], name)
        static = tuple(check_bool(a[f"{role}_as_static"], f"{role}_as_static") for role in (
            "state_pattern", "stored_pattern", "pattern_projection"))  # fmt: skip
        connected = check_bool(a["pattern_projection_as_connected"],
                               "pattern_projection_as_connected")  # fmt: skip
        disable = check_bool(a["disable_out_projection"], "disable_out_projection")
        if check_bool(a["concat_bias_pattern"], "concat_bias_pattern") and (static[1] or static[2]):
            raise ValueError(
                "concat_bias_pattern needs projected stored patterns and pattern projections "
                "(a learned pattern cannot join static ones; hopfield-layers asserts this too)"
            )
        static_execution = all(static) and not connected and disable and not (
            a["normalize_hopfield_space"])  # fmt: skip
        return resolve_shape(
            **sizes, num_heads=heads, static=(static[0], static[1], static[2]),
            connected=connected, static_execution=static_execution,
        )  # fmt: skip

    def _input_norm(self, role: str, width: int | None) -> nn.LayerNorm | None:
        name = f"normalize_{role}"
        if not self._arguments[name]:
            return None
        size_name = {"stored_pattern": "stored_pattern_size",
                     "pattern_projection": "pattern_projection_size"}.get(role)  # fmt: skip
        width = width or (size_name and self._arguments[size_name]) or self._arguments["input_size"]
        if width is None:
            raise ValueError(f"{name}=True needs input_size (the width to normalise)")
        return nn.LayerNorm(
            width,
            eps=self._arguments[f"{name}_eps"],
            elementwise_affine=self._arguments[f"{name}_affine"],
        )

    # ------------------------------------------------------------------ properties

    @property
    def scaling(self) -> float | torch.Tensor:
        """β (one float, or one entry per head)."""
        return self._scaling.clone() if isinstance(self._scaling, torch.Tensor) else self._scaling

    @property
    def input_size(self) -> int | None:
        return self.shape.state_width if not self.shape.static[0] else self._arguments["input_size"]

    @property
    def state_pattern_dim(self) -> int | None:
        return self.shape.state_width

    @property
    def stored_pattern_dim(self) -> int | None:
        return self.shape.stored_width

    @property
    def pattern_projection_dim(self) -> int | None:
        return self.shape.projection_width

    @property
    def hidden_size(self) -> int | None:
        return self.shape.head_dim

    @property
    def pattern_size(self) -> int | None:
        return self.shape.pattern_dim

    @property
    def output_size(self) -> int | None:
        """Width of the output (``num_heads · pattern_size`` without output projection)."""
        if self.association_core.out_proj is not None:
            return self.shape.output_width
        pattern = self.shape.pattern_dim or self.shape.projection_width
        return None if pattern is None else self.num_heads * pattern

    @property
    def update_steps_max(self) -> int | torch.Tensor | None:
        return self._arguments["update_steps_max"]

    @property
    def update_steps_eps(self) -> float | torch.Tensor:
        return self._arguments["update_steps_eps"]

    def __getattr__(self, name: str) -> Any:
        """hopfield-layers' flag properties (``stored_pattern_as_static``, ``normalize_*``)."""
        arguments = self.__dict__.get("_arguments", {})
        if name in arguments and (name.startswith("normalize_") or name.endswith("_as_static")):
            return arguments[name]
        return super().__getattr__(name)

    # ------------------------------------------------------------------ inputs

    def _inputs(self, data: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batch-first ``(stored, state, projection)`` in the layer's dtype, checked."""
        if isinstance(data, tuple):
            if len(data) != 3:
                raise ValueError(
                    "input must be one tensor or a tuple (stored_pattern, state_pattern, "
                    f"pattern_projection), got a tuple of {len(data)}"
                )
            parts = data
        else:
            parts = (data, data, data)
        dtype = module_dtype(self) or (
            parts[1].dtype if isinstance(parts[1], torch.Tensor) else None
        )
        layout = "(B, L, width)" if self.batch_first else "(L, B, width)"
        tensors = []
        for role, part, width in zip(_ROLES, parts, self._widths(), strict=True):
            tensor = layer_input(part, role, dtype)
            check_rank(tensor, role, 3, layout)
            if width is not None and tensor.shape[-1] != width:
                raise ValueError(f"{role} must have last dim {width}, got {tuple(tensor.shape)}")
            tensors.append(tensor if self.batch_first else tensor.transpose(0, 1))
        stored, state, projection = tensors
        self._check_lengths(stored, state, projection)
        return stored, state, projection

    def _widths(self) -> tuple[int | None, int | None, int | None]:
        shape = self.shape
        return shape.stored_width, shape.state_width, shape.projection_width

    def _check_lengths(
        self, stored: torch.Tensor, state: torch.Tensor, projection: torch.Tensor
    ) -> None:
        if not stored.shape[0] == state.shape[0] == projection.shape[0]:
            raise ValueError(
                "stored_pattern, state_pattern and pattern_projection must share the batch "
                f"size, got {tuple(stored.shape)}, {tuple(state.shape)}, {tuple(projection.shape)}"
            )
        if stored.shape[1] != projection.shape[1]:
            raise ValueError(
                "stored_pattern and pattern_projection must have the same length, got "
                f"{tuple(stored.shape)} and {tuple(projection.shape)} (batch-first)"
            )
        if self.shape.state_width is None and state.shape[-1] != stored.shape[-1]:
            raise ValueError(
                "static state and stored patterns must have the same width, got "
                f"{state.shape[-1]} and {stored.shape[-1]}"
            )
        empty_memory = stored.shape[1] == 0 and not self.association_core.extra_patterns
        if empty_memory and state.shape[0] and state.shape[1]:
            raise ValueError(
                f"stored_pattern must hold at least one pattern, got {tuple(stored.shape)}"
            )

    # ------------------------------------------------------------------ association

    def _beta(self, like: torch.Tensor) -> float | torch.Tensor:
        if isinstance(self._scaling, torch.Tensor):
            return self._scaling.to(device=like.device, dtype=like.dtype).view(-1, 1, 1)
        return self._scaling

    def _associate(
        self, data: object, padding: torch.Tensor | None, association: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(weights (B, H, L, S'), values (B, H, S', p), state)`` after the updates."""
        stored, state, projection = self._inputs(data)
        if self.norm_stored_pattern is not None:
            stored = self.norm_stored_pattern(stored)
        if self.norm_state_pattern is not None:
            state = self.norm_state_pattern(state)
        if self.norm_pattern_projection is not None:
            projection = self.norm_pattern_projection(projection)
        q, k, v = self.association_core.patterns(state, stored, projection)
        shape = (q.shape[0], self.num_heads, q.shape[2], k.shape[2])
        mask = self.association_core.mask(padding, association, shape, q.dtype)
        weights = iterate_association(
            q, k, mask, self._beta(q), self.steps_max, self.steps_eps.to(q.dtype)
        )
        return weights, v, state

    def forward(
        self,
        input: HopfieldInput,
        stored_pattern_padding_mask: torch.Tensor | None = None,
        association_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Associate ``input``: ``(B, L, output_size)`` (``(L, B, ·)`` if not batch_first)."""
        weights, values, _ = self._associate(input, stored_pattern_padding_mask, association_mask)
        dropout = self.dropout if self.training else 0.0
        output = self.association_core.read_out(weights, values, dropout)
        if self.activation is not None:
            output = self.activation(output)
        return output if self.batch_first else output.transpose(0, 1)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        return json_arguments(self._arguments)

    def get_association_matrix(
        self,
        input: HopfieldInput,
        stored_pattern_padding_mask: torch.Tensor | None = None,
        association_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The final association weights ``(B, heads, L, S)`` (no dropout, no gradient)."""
        with torch.no_grad():
            weights, _, _ = self._associate(input, stored_pattern_padding_mask, association_mask)
        return weights

    def get_projected_pattern_matrix(
        self,
        input: HopfieldInput,
        stored_pattern_padding_mask: torch.Tensor | None = None,
        association_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The pattern projections per head ``(B, heads, S, pattern_size)`` (no gradient)."""
        with torch.no_grad():
            _, values, _ = self._associate(input, stored_pattern_padding_mask, association_mask)
        return values
