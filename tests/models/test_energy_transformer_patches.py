"""Image front end: patchify/unpatchify, masks, tokenizer."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.models.energy_transformer_patches import (
    ImageTokenizer,
    check_image_geometry,
    patchify,
    random_patch_mask,
    unpatchify,
)


@settings(max_examples=25)
@given(
    patch=st.integers(1, 4),
    grid_h=st.integers(1, 4),
    grid_w=st.integers(1, 4),
    channels=st.sampled_from([1, 3]),
    batch=st.integers(1, 3),
)
def test_patchify_unpatchify_round_trip_is_lossless(
    patch: int, grid_h: int, grid_w: int, channels: int, batch: int
) -> None:
    h, w = patch * grid_h, patch * grid_w
    images = torch.rand(batch, channels, h, w)
    patches = patchify(images, patch)
    assert patches.shape == (batch, grid_h * grid_w, channels * patch * patch)
    assert torch.equal(unpatchify(patches, patch, (h, w), channels), images)


def test_patchify_orders_patches_row_major_and_channel_major_inside() -> None:
    images = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)
    patches = patchify(images, 2)
    # patch 1 is grid row 0, column 1: rows 0-1, columns 2-3, channel 0 then channel 1
    expected = torch.cat([images[0, c, 0:2, 2:4].reshape(-1) for c in range(2)])
    assert torch.equal(patches[0, 1], expected)
    # patch 3 starts grid row 1 (3 patches per row)
    assert torch.equal(patches[0, 3, :4], images[0, 0, 2:4, 0:2].reshape(-1))


@pytest.mark.parametrize(
    ("size", "patch", "channels", "error"),
    [
        (9, 2, 1, ValueError),
        ((8, 10), 4, 1, ValueError),
        (8, 2, 2, ValueError),
        (8, 0, 1, ValueError),
        (8, 2.0, 1, TypeError),
    ],
)
def test_check_image_geometry_rejects_bad_geometry(
    size: object, patch: object, channels: int, error: type
) -> None:
    with pytest.raises(error):
        check_image_geometry(size, patch, channels)  # type: ignore[arg-type]


def test_patchify_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="divisible"):
        patchify(torch.rand(1, 1, 5, 4), 2)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        patchify(torch.rand(1, 4, 4), 2)
    with pytest.raises(ValueError, match="patches must have shape"):
        unpatchify(torch.rand(1, 3, 4), 2, 4, 1)


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.9])
def test_random_patch_mask_masks_exact_count_and_keeps_one_visible(fraction: float) -> None:
    mask = random_patch_mask(50, 16, fraction, generator=torch.Generator().manual_seed(0))
    expected = min(round(fraction * 16), 15)
    assert mask.dtype == torch.bool and mask.shape == (50, 16)
    assert (mask.sum(dim=1) == expected).all()
    if 0 < expected < 16:
        assert not (mask == mask[0]).all()  # rows differ


def test_random_patch_mask_is_seeded() -> None:
    a = random_patch_mask(4, 16, 0.5, generator=torch.Generator().manual_seed(7))
    b = random_patch_mask(4, 16, 0.5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_tokenizer_layout_mask_token_and_cls() -> None:
    torch.manual_seed(0)
    tok = ImageTokenizer(8, 2, 1, 6)
    tok.set_normalization([0.5], [0.25])
    images = torch.rand(2, 1, 8, 8)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, 3] = True
    tokens = tok(images, mask)
    assert tokens.shape == (2, 17, 6)
    assert torch.equal(tokens[:, 0], tok.cls_token.expand(2, 6))  # type: ignore[union-attr]
    pos = tok.position.weight  # type: ignore[union-attr]
    torch.testing.assert_close(tokens[0, 4], tok.mask_token + pos[3])
    normalized = (patchify(images, 2) - 0.5) / 0.25
    torch.testing.assert_close(tokens[1, 1:], tok.embed(normalized[1]) + pos)


def test_tokenizer_normalization_round_trip_and_validation() -> None:
    tok = ImageTokenizer((4, 8), 2, 3, 5, position_embedding=False, cls_token=False)
    tok.set_normalization([0.1, 0.2, 0.3], [0.5, 1.0, 2.0])
    images = torch.rand(2, 3, 4, 8)
    torch.testing.assert_close(tok.denormalize(tok.normalized_patches(images)), patchify(images, 2))
    assert tok(images).shape == (2, 8, 5)
    with pytest.raises(ValueError, match="std"):
        tok.set_normalization([0.0, 0.0, 0.0], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="3 entries"):
        tok.set_normalization([0.0], [1.0])
    with pytest.raises(ValueError, match="images"):
        tok(torch.rand(2, 1, 4, 8))
