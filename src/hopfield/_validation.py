"""Input checks shared by every public entry point.

Each check raises ``TypeError`` (wrong kind of object or dtype) or ``ValueError``
(wrong shape or value) with a message that names the argument, what was expected
and what was given. Internal code trusts its inputs; only public boundaries call
these.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "EmptyMemoryError",
    "cast_finite",
    "check_bool",
    "check_choice",
    "check_finite",
    "check_floating",
    "check_indices",
    "check_int",
    "check_positive",
    "check_probability",
    "check_rank",
    "check_tensor",
    "check_trailing_shape",
    "floating_in_dtype",
    "resolve_dtype",
]


class EmptyMemoryError(ValueError, RuntimeError):
    """A call that needs stored patterns, made on an empty memory.

    An input error like every other (``ValueError``); also a ``RuntimeError``, the
    type some memories raised for it before, so existing handlers keep working.
    """


def check_tensor(value: object, name: str) -> torch.Tensor:
    """Return ``value`` if it is a tensor, else raise ``TypeError`` naming ``name``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(value: object, name: str) -> torch.Tensor:
    """A floating-point tensor (float16/bfloat16/float32/float64)."""
    tensor = check_tensor(value, name)
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {tensor.dtype}")
    return tensor


def floating_in_dtype(value: object, name: str, dtype: torch.dtype | None) -> torch.Tensor:
    """A real floating tensor cast to ``dtype`` (a module's dtype), unless ``dtype`` is
    ``None`` or autocast is on for its device (then autocast decides)."""
    tensor = check_floating(value, name)
    if dtype is None or tensor.dtype == dtype:
        return tensor
    if torch.is_autocast_enabled(tensor.device.type):
        return tensor
    return tensor.to(dtype)


def check_finite(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """Reject NaN and ±inf entries."""
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    return tensor


def check_rank(tensor: torch.Tensor, name: str, rank: int | Sequence[int], shape: str) -> None:
    """Require ``tensor.ndim`` in ``rank``; ``shape`` describes the expected layout."""
    ranks = (rank,) if isinstance(rank, int) else tuple(rank)
    if tensor.ndim not in ranks:
        raise ValueError(
            f"{name} must have shape {shape} ({' or '.join(map(str, ranks))} dims), "
            f"got shape {tuple(tensor.shape)}"
        )


def check_trailing_shape(
    tensor: torch.Tensor, name: str, expected: Sequence[int], shape: str
) -> None:
    """Require the non-batch dims of ``tensor`` to equal ``expected``."""
    expected = tuple(expected)
    if tensor.ndim != len(expected) + 1 or tuple(tensor.shape[1:]) != expected:
        raise ValueError(f"{name} must have shape {shape}, got shape {tuple(tensor.shape)}")


def check_indices(value: object, name: str, stop: int, what: str = "indices") -> torch.Tensor:
    """An ``int32``/``int64`` tensor (what an embedding lookup takes) with every entry
    in ``[0, stop)``; ``what`` says what the entries are in the message."""
    tensor = check_tensor(value, name)
    if tensor.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{name} must be an int64 or int32 tensor of {what}, got {tensor.dtype}")
    if tensor.numel() and not bool(((tensor >= 0) & (tensor < stop)).all()):
        raise ValueError(
            f"{name} must hold {what} in [0, {stop}), got values from "
            f"{int(tensor.min())} to {int(tensor.max())}"
        )
    return tensor


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (or ≥ 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not ok or value != value or value == float("inf"):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def check_probability(value: float, name: str) -> float:
    """A real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value


def resolve_dtype(value: object, name: str = "dtype") -> torch.dtype:
    """A floating ``torch.dtype`` from a dtype or its name (``"float32"``, ``"torch.float64"``).

    Names let configs saved as JSON rebuild models with the same precision.
    """
    dtype = value
    if isinstance(value, str):
        dtype = getattr(torch, value.removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating torch.dtype or its name, got {value!r}")
    return dtype


def check_int(value: object, name: str, minimum: int = 1) -> int:
    """An ``int`` (not a bool) that is ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value}")
    return value


def check_bool(value: object, name: str) -> bool:
    """A real ``bool`` (not 0/1 or a tensor)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """One of the strings in ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def cast_finite(
    value: object, name: str, dtype: torch.dtype, device: torch.device | None = None
) -> torch.Tensor:
    """A real tensor cast to a memory's ``dtype`` (and ``device``), then checked finite.

    The check runs after the cast, so a float64 entry that overflows the memory's
    dtype (1e39 into float32) is rejected rather than turned into inf. ``TypeError``
    for non-tensors and complex dtypes, ``ValueError`` for NaN/inf; both name ``name``.
    """
    tensor = check_tensor(value, name)
    if tensor.is_complex():
        raise TypeError(f"{name} must be real, got complex dtype {tensor.dtype}")
    return check_finite(tensor.to(device=device or tensor.device, dtype=dtype), name)
