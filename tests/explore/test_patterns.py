"""Pattern sets and corruptions of the explorer."""

from __future__ import annotations

import torch

from hopfield.data import load_glyphs, to_bipolar
from hopfield.explore.patterns import corrupt, make_pattern_set


def test_glyphs_are_the_library_glyphs_as_bipolar_vectors() -> None:
    stored = make_pattern_set("glyphs", 4, side=12)
    images, _ = load_glyphs(image_size=12)
    assert torch.equal(stored.patterns, to_bipolar(images[:4]).reshape(4, -1))
    assert stored.labels == ["A", "B", "C", "D"] and stored.side == 12


def test_digits_and_random_sets() -> None:
    digits = make_pattern_set("digits", 10, side=20)
    assert digits.side == 8 and digits.labels == [str(i) for i in range(10)]
    first = make_pattern_set("random", 3, side=9, seed=5).patterns
    assert torch.equal(first, make_pattern_set("random", 3, side=9, seed=5).patterns)
    assert set(first.unique().tolist()) == {-1.0, 1.0}


def test_corruptions() -> None:
    query = torch.ones(64)
    flipped = corrupt(query, "flip", 0.25, side=8, seed=0)
    assert 0 < int((flipped == -1).sum()) < 64
    hidden = corrupt(query, "occlude", 0.5, side=8, seed=0).reshape(8, 8)
    assert (hidden[4:] == -1).all() and (hidden[:4] == 1).all()
    noisy = corrupt(query, "noise", 0.3, side=8, seed=0)
    assert not torch.equal(noisy, query) and torch.equal(query, torch.ones(64))
