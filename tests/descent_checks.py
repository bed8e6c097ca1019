"""``checked_descend``: :func:`hopfield.core.descend` plus a check of its warning,
shared by the descent tests (tests/ is on ``sys.path``: the root conftest lives here)."""

from __future__ import annotations

import warnings
from typing import Any

from hopfield.core import HAM, DescentResult, UnboundedEnergyWarning, descend


def checked_descend(ham: HAM, xs: Any, **options: Any) -> DescentResult:
    """:func:`descend`, also checking its warning: exactly one
    ``UnboundedEnergyWarning`` when some sample reached −inf, naming how many."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnboundedEnergyWarning)
        result = descend(ham, xs, **options)
    notes = [str(w.message) for w in caught if issubclass(w.category, UnboundedEnergyWarning)]
    count, batch = int(result.unbounded.sum()), result.unbounded.shape[0]
    assert len(notes) == (1 if count else 0), (notes, result.unbounded)
    if count:
        assert notes[0].startswith(f"{count} of {batch} samples reached an energy of -inf")
        assert "unbounded below" in notes[0]
    return result
