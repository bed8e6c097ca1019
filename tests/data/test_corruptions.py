"""Corruptions: bit flips, random masks, occlusion and Gaussian noise."""

from __future__ import annotations

import pytest
import torch

from hopfield.data.corruptions import flip_bits, gaussian_noise, mask_random, occlude_block
from hopfield.data.generators import make_generator, random_bipolar


def test_flip_rate_matches_p_and_is_seeded() -> None:
    patterns = random_bipolar(200, 500, seed=0)
    flipped = flip_bits(patterns, 0.2, generator=make_generator(1))
    rate = float((flipped != patterns).float().mean())
    assert rate == pytest.approx(0.2, abs=0.005)
    assert torch.equal(flipped, flip_bits(patterns, 0.2, generator=make_generator(1)))
    assert torch.equal(flip_bits(patterns, 0.0), patterns)
    assert torch.equal(flip_bits(patterns, 1.0), -patterns)
    with pytest.raises(ValueError, match="p"):
        flip_bits(patterns, 1.5)


def test_mask_random_hides_fraction_and_reports_known() -> None:
    patterns = torch.randn(50, 400)
    corrupted, known = mask_random(patterns, 0.3, fill=7.0, generator=make_generator(2))
    assert float((~known).float().mean()) == pytest.approx(0.3, abs=0.01)
    assert torch.equal(corrupted[known], patterns[known])
    assert bool((corrupted[~known] == 7.0).all())


def test_occlusion_hides_bottom_rows_only() -> None:
    images = torch.ones(2, 1, 8, 6)
    hidden, known = occlude_block(images, 0.5, fill=-1.0)
    assert bool((hidden[..., 4:, :] == -1).all()) and bool((hidden[..., :4, :] == 1).all())
    assert int(known.sum()) == 2 * 4 * 6
    with pytest.raises(ValueError, match="images"):
        occlude_block(torch.ones(3, 4), 0.5)


def test_gaussian_noise_has_requested_std() -> None:
    patterns = torch.zeros(100, 1000)
    noisy = gaussian_noise(patterns, 0.3, generator=make_generator(3))
    assert float(noisy.std()) == pytest.approx(0.3, rel=0.02)
    with pytest.raises(ValueError, match="std"):
        gaussian_noise(patterns, -1.0)
