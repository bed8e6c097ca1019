"""Strategies and the outcome rule shared by the fuzz suite (issue 13).

Every public call under fuzz must end in one of two ways:

* a result: finite (for memories, tasks and estimators), of the documented shape, and
  close to a float64 reference where the test has one;
* a ``ValueError``/``TypeError`` whose message names the offending argument.

Inputs are drawn as a :class:`Draw` (shape, dtype, value kind); :func:`make_tensor`
builds the tensor. Value kinds: ``normal`` (N(0, 1)), ``sign`` (±1), ``nan``,
``inf``, ``-inf``, ``huge`` (1e39: finite in float64, inf once cast to float32) and
``denormal`` (subnormal magnitudes of the drawn dtype).

What each class of input gets, and how many cases the suite and the CLI table run
(``python tests/fuzz/count_cases.py``): ``docs/input-validation.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st

FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
NON_REAL = (torch.complex64, torch.int64, torch.bool)
DTYPES = FLOATS + NON_REAL
SPECIAL = ("nan", "inf", "-inf", "huge")
KINDS = ("normal", "normal", "normal", "sign", "denormal", *SPECIAL)
BETAS = (0.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e6, 1.0)
BAD_BETAS = (0.0, -1.0, float("inf"), float("-inf"), float("nan"))


@dataclass(frozen=True)
class Draw:
    """One fuzz input: the tensor's shape, dtype and value kind (see module docstring)."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    kind: str
    seed: int

    @property
    def special(self) -> bool:
        """True when the values are non-finite in float32 (NaN, ±inf, 1e39)."""
        return self.kind in SPECIAL and self.numel > 0

    @property
    def numel(self) -> int:
        size = 1
        for n in self.shape:
            size *= n
        return size

    @property
    def real_floating(self) -> bool:
        return self.dtype in FLOATS


def make_tensor(draw: Draw) -> torch.Tensor:
    """The tensor ``draw`` describes; special values go to one entry (the first)."""
    gen = torch.Generator().manual_seed(draw.seed)
    values = torch.randn(draw.shape, generator=gen, dtype=torch.float64)
    if draw.kind == "sign":
        values = torch.where(values >= 0, 1.0, -1.0).to(torch.float64)
    if draw.kind == "denormal":
        tiny = 1e-40 if draw.dtype != torch.float64 else 1e-310
        values = values.sign() * tiny
    if draw.numel and draw.kind in SPECIAL:
        special = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "huge": 1e39}
        values.view(-1)[0] = special[draw.kind]
    if draw.dtype == torch.complex64:
        return torch.complex(values.float(), values.float())
    if draw.dtype == torch.int64:
        return values.nan_to_num(0.0, 0.0, 0.0).clamp(-3, 3).round().to(torch.int64)
    if draw.dtype == torch.bool:
        return values > 0
    return values.to(draw.dtype)


def draws(
    shape: st.SearchStrategy[tuple[int, ...]],
    *,
    dtypes: Sequence[torch.dtype] = DTYPES,
    kinds: Sequence[str] = KINDS,
) -> st.SearchStrategy[Draw]:
    """Draws with shapes from ``shape``; float32 and the normal kind are the most frequent."""
    dtype = st.sampled_from((torch.float32, *dtypes))
    return st.builds(Draw, shape, dtype, st.sampled_from(tuple(kinds)), st.integers(0, 2**16))


def matrix(rows: st.SearchStrategy[int], cols: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(rows, st.just(cols))


def outcome(call: Callable[[], Any], names: Sequence[str]) -> tuple[Any, BaseException | None]:
    """``(result, None)``, or ``(None, error)`` for a ValueError/TypeError naming one of ``names``.

    Any other exception, or a ValueError/TypeError naming none of ``names``, fails.
    """
    try:
        return call(), None
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(name in message for name in names), (
            f"{type(error).__name__} does not name {' or '.join(names)}: {message}"
        )
        return None, error


def must_reject(draw: Draw, *, memory_dtype: torch.dtype = torch.float32) -> str | None:
    """Why ``draw`` must be rejected by a memory of ``memory_dtype`` (None: it may pass).

    Complex is always rejected; NaN/±inf always; 1e39 when the memory's dtype cannot
    hold it (float32 and narrower), since validation happens after the cast.
    """
    if draw.dtype == torch.complex64 and draw.numel:
        return "complex"
    if draw.kind in ("nan", "inf", "-inf") and draw.numel and draw.dtype in FLOATS:
        return "non-finite"
    narrow = memory_dtype != torch.float64 or draw.dtype != torch.float64
    if draw.kind == "huge" and draw.numel and draw.dtype in FLOATS and narrow:
        return "non-finite after the cast"
    return None


def assert_finite(value: object, what: str) -> None:
    """``value`` (a tensor, a float or a tuple of them) holds no NaN/inf."""
    if isinstance(value, tuple | list):
        for item in value:
            assert_finite(item, what)
    elif isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            assert bool(torch.isfinite(value).all()), f"{what} is not finite: {value}"
    elif isinstance(value, float):
        assert value == value and abs(value) != float("inf"), f"{what} is not finite: {value}"


def moderate(*items: Draw) -> bool:
    """All draws are real floating with normal/sign values (a float64 reference applies)."""
    return all(d.real_floating and d.kind in ("normal", "sign") for d in items)


def class_draws(shape: tuple[int, int]) -> list[Draw]:
    """One draw per class of input (dtype × value kind, and an empty batch): the
    deterministic table the fast tier always runs besides the random examples."""
    table = [Draw(shape, dtype, "normal", 0) for dtype in DTYPES]
    table += [Draw(shape, torch.float32, kind, 0) for kind in (*SPECIAL, "denormal")]
    table += [
        Draw(shape, torch.float64, "huge", 0),
        Draw((0, shape[1]), torch.float32, "normal", 0),
    ]
    return table
