"""Fuzz the image-level Energy Transformer (hopfield.models.EnergyTransformer).

Its tokens go through the same block as the fuzzed ET encoder layer; this file covers
the image front end: random batch sizes (empty included), input dtypes, extreme
values and malformed images or masks. Each call returns patches in the model's
dtype that match a float64 copy of the model, NaN where a non-finite pixel reaches
(never a finite stand-in), or a ``TypeError``/``ValueError`` naming the argument.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.models import EnergyTransformer

SIDE, PATCH = 8, 4


def _model() -> EnergyTransformer:
    torch.manual_seed(0)
    return EnergyTransformer(SIDE, PATCH, 1, 12, 2, 6, 24, steps=3).eval()


def _mask(batch: int, model: EnergyTransformer) -> torch.Tensor:
    mask = torch.zeros(batch, model.num_patches, dtype=torch.bool)
    mask[:, ::2] = True
    return mask


@settings()  # examples: the hypothesis profile (HYPOTHESIS_PROFILE=slow: more)
@given(
    batch=st.integers(0, 3),
    dtype=st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64]),
    scale=st.sampled_from([1.0, 1e-40, 30.0]),
)
def test_finite_images_give_patches_matching_a_float64_model(
    batch: int, dtype: torch.dtype, scale: float
) -> None:
    model = _model()
    images = (torch.rand(batch, 1, SIDE, SIDE) * scale).to(dtype)
    out = model(images, _mask(batch, model)).patches
    assert out.dtype == torch.float32
    assert out.shape == (batch, model.num_patches, PATCH * PATCH)
    assert bool(torch.isfinite(out).all())
    reference = model.double()(images.float().double(), _mask(batch, model)).patches
    torch.testing.assert_close(out.double(), reference, atol=1e-4, rtol=1e-4)


@settings()
@given(
    value=st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e39]),
    row=st.integers(0, SIDE - 1),
    column=st.integers(0, SIDE - 1),
)
def test_a_non_finite_pixel_never_becomes_a_finite_wrong_patch(
    value: float, row: int, column: int
) -> None:
    model = _model()
    images = torch.rand(2, 1, SIDE, SIDE, dtype=torch.float64)
    images[0, 0, row, column] = value  # 1e39 is inf once cast to the model's float32
    mask = torch.zeros(2, model.num_patches, dtype=torch.bool)  # the pixel stays visible
    out = model(images, mask).patches
    assert not bool(torch.isfinite(out[0]).all())  # the bad image shows it
    clean = model(images[1:], mask[1:]).patches
    torch.testing.assert_close(out[1:], clean)  # the other image is untouched


@pytest.mark.parametrize(
    ("images", "mask", "error", "names"),
    [
        (torch.complex(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)), None, TypeError, "images"),
        (torch.ones(1, 1, 8, 8, dtype=torch.int64), None, TypeError, "images"),
        (torch.ones(1, 1, 8, 8, dtype=torch.bool), None, TypeError, "images"),
        (torch.rand(1, 1, 7, 8), None, ValueError, "images"),
        (torch.rand(1, 3, 8, 8), None, ValueError, "images"),
        (torch.rand(1, 8, 8), None, ValueError, "images"),
        (torch.rand(2, 1, 8, 8), torch.zeros(2, 3, dtype=torch.bool), ValueError, "mask"),
        (torch.rand(2, 1, 8, 8), torch.zeros(2, 4), TypeError, "mask"),
        (torch.rand(2, 1, 8, 8), torch.zeros(1, 4, dtype=torch.bool), ValueError, "mask"),
    ],
)
def test_malformed_images_and_masks_raise_naming_the_argument(
    images: torch.Tensor, mask: torch.Tensor | None, error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        _model()(images, mask)


@pytest.mark.parametrize("steps", [-1, 1.5, float("nan"), True])
def test_bad_step_counts_raise_naming_steps(steps: object) -> None:
    with pytest.raises((TypeError, ValueError), match="steps"):
        _model()(torch.rand(1, 1, 8, 8), steps=steps)  # type: ignore[arg-type]
