"""Validation of the explorer's JSON requests: every bad input becomes a clear 4xx.

:class:`RequestError` carries the HTTP status and a one-line message naming the field;
the server turns it into ``{"error": message}``. Numbers must be finite (JSON has no
NaN, and the non-standard ``NaN``/``Infinity`` literals are refused), sizes are
bounded (:data:`MAX_BODY_BYTES`, :data:`MAX_SIDE`, :data:`MAX_PATTERNS`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import torch

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PATTERNS",
    "MAX_SIDE",
    "RequestError",
    "get_choice",
    "get_float",
    "get_int",
    "get_vector",
    "parse_body",
]

MAX_BODY_BYTES = 1 << 20
"""Largest request body (1 MiB)."""
MAX_SIDE = 32
"""Largest grid side (32×32 = 1024 pixels)."""
MIN_SIDE = 8
MAX_PATTERNS = 64
"""Most patterns stored at once."""
MAX_VALUE = 100.0
"""Largest magnitude of a state entry or a coordinate."""


class RequestError(Exception):
    """A request the server refuses: HTTP ``status`` and a one-line ``message``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _refuse_constant(name: str) -> float:
    raise RequestError(f"{name} is not a valid JSON number (numbers must be finite)")


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body`` (413 when too large, 400 when malformed or not an object)."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"request body too large: {len(body)} bytes > {MAX_BODY_BYTES}", 413)
    if not body.strip():
        return {}
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(f"malformed JSON: {error}") from None
    if not isinstance(data, dict):
        raise RequestError(f"the request body must be a JSON object, got {type(data).__name__}")
    return data


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{name} must be a number, got {json.dumps(value)[:40]}")
    if not math.isfinite(value):
        raise RequestError(f"{name} must be finite, got {value}")
    return float(value)


def get_float(
    data: dict[str, Any],
    name: str,
    *,
    low: float,
    high: float,
    default: float | None = None,
    open_low: bool = False,
) -> float | None:
    """``data[name]`` as a float in ``[low, high]`` (``(low, high]`` with ``open_low``);
    ``default`` when missing or null."""
    value = data.get(name)
    if value is None:
        return default
    number = _number(value, name)
    below = number <= low if open_low else number < low
    if below or number > high:
        bracket = "(" if open_low else "["
        raise RequestError(f"{name} must be in {bracket}{low:g}, {high:g}], got {number:g}")
    return number


def get_int(data: dict[str, Any], name: str, *, low: int, high: int, default: int) -> int:
    """``data[name]`` as an int in ``[low, high]`` (``default`` when missing)."""
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{name} must be an integer, got {json.dumps(value)[:40]}")
    if not low <= value <= high:
        raise RequestError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def get_choice(
    data: dict[str, Any], name: str, choices: Sequence[str], default: str | None = None
) -> str:
    """``data[name]``, one of ``choices`` (``default`` when missing; required if None)."""
    value = data.get(name, default)
    if value is None:
        raise RequestError(f"{name} is required (one of {', '.join(choices)})")
    if not isinstance(value, str) or value not in choices:
        raise RequestError(
            f"unknown {name} {json.dumps(value)[:60]}; choose one of {', '.join(choices)}"
        )
    return value


def get_vector(data: dict[str, Any], name: str, length: int) -> torch.Tensor:
    """``data[name]``: a list of ``length`` finite numbers, ``|v| ≤ 100``, as float32."""
    value = data.get(name)
    if not isinstance(value, list):
        raise RequestError(f"{name} must be a list of {length} numbers")
    if len(value) != length:
        raise RequestError(f"{name} must have {length} entries, got {len(value)}")
    numbers = [_number(v, f"{name}[{i}]") for i, v in enumerate(value)]
    tensor = torch.tensor(numbers, dtype=torch.float32)
    if numbers and float(tensor.abs().max()) > MAX_VALUE:
        raise RequestError(f"{name} entries must be within ±{MAX_VALUE:g}")
    return tensor


def get_matrix(
    data: dict[str, Any], name: str, *, columns: int, max_rows: int, min_rows: int = 1
) -> torch.Tensor:
    """``data[name]``: ``min_rows``–``max_rows`` lists of ``columns`` numbers, float32."""
    value = data.get(name)
    if not isinstance(value, list) or not min_rows <= len(value) <= max_rows:
        raise RequestError(f"{name} must be a list of {min_rows} to {max_rows} rows")
    rows = []
    for index, row in enumerate(value):
        label = f"{name}[{index}]"
        rows.append(get_vector({label: row}, label, columns))
    return torch.stack(rows)


def get_session_id(data: dict[str, Any]) -> str:
    """``data["session"]``, a non-empty string."""
    value = data.get("session")
    if not isinstance(value, str) or not value or len(value) > 64:
        raise RequestError("session must be the id returned by POST /api/session")
    return value
