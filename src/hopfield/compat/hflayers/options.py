"""Validation of hopfield-layers' constructor arguments and their resolution into widths.

Every argument is either honoured or rejected with an error naming it; nothing is
silently ignored (hopfield-layers itself ignores, for example, an unknown
``association_activation`` name).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hopfield._validation import check_bool, check_int, check_positive
from hopfield.compat.hflayers.core import CoreShape

__all__ = [
    "check_activation",
    "check_norm_flags",
    "check_optional_size",
    "check_scaling",
    "check_steps",
    "resolve_shape",
]


def check_optional_size(value: object, name: str) -> int | None:
    """``None`` or an int ≥ 1."""
    return None if value is None else check_int(value, name)


def check_norm_flags(normalize: object, affine: object, eps: object, name: str) -> None:
    """hopfield-layers asserts that an affine norm comes with the norm itself."""
    check_bool(normalize, name)
    check_bool(affine, f"{name}_affine")
    check_positive(eps, f"{name}_eps")  # type: ignore[arg-type]
    if affine and not normalize:
        raise ValueError(
            f"{name}_affine=True needs {name}=True (an affine map without the normalisation "
            f"has no effect; hopfield-layers rejects it too): set {name}_affine=False"
        )


def check_scaling(value: object, num_heads: int) -> float | torch.Tensor | None:
    """β: ``None`` (default), a positive number, or a tensor with one positive β per head."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        if value.shape != (num_heads,) or not value.is_floating_point():
            raise ValueError(
                f"scaling as a tensor must be floating with one entry per head ({num_heads},), "
                f"got {value.dtype} of shape {tuple(value.shape)}"
            )
        if not bool(torch.isfinite(value).all() & (value > 0).all()):
            raise ValueError(f"scaling must be finite and > 0 for every head, got {value.tolist()}")
        return value.detach().clone()
    return check_positive(value, "scaling")  # type: ignore[arg-type]


def check_steps(
    max_steps: object, eps: object, num_heads: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-head ``update_steps_max`` (−1 = no limit) and ``update_steps_eps`` tensors."""
    if max_steps is None:
        steps = torch.full((num_heads,), -1, dtype=torch.long)
    elif isinstance(max_steps, torch.Tensor):
        if max_steps.shape != (num_heads,) or max_steps.is_floating_point():
            raise ValueError(
                f"update_steps_max as a tensor must be integer with one entry per head "
                f"({num_heads},), got {max_steps.dtype} of shape {tuple(max_steps.shape)}"
            )
        steps = max_steps.detach().to(torch.long).clone()
    else:
        steps = torch.full((num_heads,), check_int(max_steps, "update_steps_max", 0))
    if isinstance(eps, torch.Tensor):
        if eps.shape != (num_heads,) or not bool((eps > 0).all()):
            raise ValueError(
                f"update_steps_eps as a tensor needs one entry > 0 per head ({num_heads},), "
                f"got {eps.tolist()}"
            )
        thresholds = eps.detach().double().clone()
    else:
        thresholds = torch.full((num_heads,), check_positive(eps, "update_steps_eps"))  # type: ignore[arg-type]
    return steps, thresholds.double()


def check_activation(name: object) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``association_activation``: ``None`` or the name of a torch function (``"relu"``)."""
    if name is None:
        return None
    function = getattr(torch, name, None) if isinstance(name, str) else None
    if not callable(function):
        raise ValueError(
            "association_activation must be None or the name of a torch function such as "
            f"'relu', 'tanh' or 'sigmoid', got {name!r}"
        )
    return function


def resolve_shape(
    *,
    input_size: int | None,
    hidden_size: int | None,
    output_size: int | None,
    pattern_size: int | None,
    num_heads: int,
    stored_pattern_size: int | None,
    pattern_projection_size: int | None,
    static: tuple[bool, bool, bool],
    connected: bool,
    static_execution: bool,
) -> CoreShape:
    """Widths as hopfield-layers resolves them (head width ``hidden_size`` or
    ``input_size / num_heads``, pattern width ``pattern_size`` or the head width, output
    ``output_size`` or ``input_size``); in static execution they come from the data."""
    if static_execution:
        return CoreShape(num_heads, hidden_size, pattern_size, None, None, None, None,
                         static, connected)  # fmt: skip
    if input_size is None:
        raise ValueError(
            "input_size is required unless all three patterns are static "
            "(stored/state_pattern_as_static, pattern_projection_as_static), not connected, "
            "without Hopfield-space normalisation and with disable_out_projection=True"
        )
    if hidden_size is None:
        if input_size % num_heads:
            raise ValueError(
                f"input_size ({input_size}) must be divisible by num_heads ({num_heads}) "
                "unless hidden_size is given"
            )
        hidden_size = input_size // num_heads
    stored_width = input_size if stored_pattern_size is None else stored_pattern_size
    projection_width = input_size if pattern_projection_size is None else pattern_projection_size
    if connected and not static[1] and stored_width != projection_width:
        raise ValueError(
            "pattern_projection_as_connected needs stored_pattern_size == "
            f"pattern_projection_size, got {stored_width} and {projection_width}"
        )
    pattern = hidden_size if pattern_size is None else pattern_size
    if connected and pattern != hidden_size:
        raise ValueError(
            f"pattern_projection_as_connected needs pattern_size == hidden_size, got "
            f"{pattern} and {hidden_size}"
        )
    return CoreShape(
        num_heads=num_heads,
        head_dim=hidden_size,
        pattern_dim=pattern,
        state_width=hidden_size if static[0] else input_size,
        stored_width=hidden_size if static[1] else stored_width,
        projection_width=pattern
        if static[2] and not (connected and not static[1])
        else projection_width,
        output_width=input_size if output_size is None else output_size,
        static=static,
        connected=connected,
    )
