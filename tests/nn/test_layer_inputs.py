"""Property tests of the input policy shared by every layer (hopfield.nn.inputs).

For random shapes (empty batches and sequences included), dtypes and extreme values
every layer either returns a result consistent with a float64 reference, an empty
result of the right shape, NaN exactly where a non-finite input reaches, or raises a
``TypeError``/``ValueError`` naming the argument.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hopfield.compat import hflayers
from hopfield.nn import (
    EnergyTransformerEncoderLayer,
    Hopfield,
    HopfieldDecoderLayer,
    HopfieldEncoderLayer,
    HopfieldLayer,
    HopfieldPooling,
)
from hopfield.nn.binary_attention import BinaryCAMAttention
from hopfield.nn.gam import GAMBlock

WIDTH = 8


class _SelfDecoder(nn.Module):
    """The decoder layer with its own input as memory (one input, like the others)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = HopfieldDecoderLayer(WIDTH, 2, 16, dropout=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x, x)  # type: ignore[no-any-return]


LAYERS: dict[str, Callable[[], nn.Module]] = {
    "hopfield": lambda: Hopfield(WIDTH, num_heads=2, update_steps=3),
    "hopfield-sparsemax": lambda: Hopfield(WIDTH, num_heads=2, normalizer="sparsemax"),
    "hopfield-entmax15": lambda: Hopfield(WIDTH, normalizer="entmax15", update_steps=2),
    "hopfield-topk": lambda: Hopfield(WIDTH, num_heads=2, top_k=2, normalize_patterns=True),
    "pooling": lambda: HopfieldPooling(WIDTH, num_queries=2, num_heads=2),
    "lookup": lambda: HopfieldLayer(WIDTH, 5, num_heads=2),
    "encoder": lambda: HopfieldEncoderLayer(WIDTH, 2, 16, dropout=0.0),
    "decoder": _SelfDecoder,
    "energy-transformer": lambda: EnergyTransformerEncoderLayer(WIDTH, 2, 16, steps=2),
    "binary-cam": lambda: BinaryCAMAttention(WIDTH, 2, tile=2, k1=1, k2=3),
    "gam": lambda: GAMBlock(WIDTH, 4, dropout=0.0),
    "hflayers-hopfield": lambda: hflayers.Hopfield(WIDTH, num_heads=2, update_steps_max=2),
    "hflayers-pooling": lambda: hflayers.HopfieldPooling(WIDTH, quantity=2),
    "hflayers-lookup": lambda: hflayers.HopfieldLayer(WIDTH, quantity=5),
}
"""Every layer of hopfield.nn that takes a (B, L, E) tensor."""

MIXES_TOKENS = {"hopfield", "hopfield-sparsemax", "hopfield-entmax15", "hopfield-topk",
                "pooling", "encoder", "decoder", "energy-transformer", "binary-cam",
                "hflayers-hopfield", "hflayers-pooling"}  # fmt: skip
"""Layers whose output row depends on every token of its batch element."""


def _build(name: str) -> nn.Module:
    torch.manual_seed(0)
    return LAYERS[name]().eval()


def _run(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = layer(x)
    return out[0] if isinstance(out, tuple) else out


def _expected_shape(name: str, batch: int, length: int) -> tuple[int, ...]:
    if name == "hflayers-pooling":
        return (batch, 2 * WIDTH)
    return (batch, 2, WIDTH) if name == "pooling" else (batch, length, WIDTH)


@settings()  # examples: the hypothesis profile (HYPOTHESIS_PROFILE=slow: 2,000)
@given(
    name=st.sampled_from(sorted(LAYERS)),
    batch=st.integers(0, 3),
    length=st.integers(0, 4),
    dtype=st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64]),
    scale=st.sampled_from([1.0, 1e-40, 30.0]),
)
def test_finite_inputs_follow_the_layer_dtype_and_match_a_float64_reference(
    name: str, batch: int, length: int, dtype: torch.dtype, scale: float
) -> None:
    layer = _build(name)
    x = torch.randn(batch, length, WIDTH, generator=torch.Generator().manual_seed(1)) * scale
    x = x.to(dtype)
    if "pooling" in name and length == 0 and batch > 0:  # nothing to pool
        with pytest.raises(ValueError, match="must hold at least one"):
            _run(layer, x)
        return
    out = _run(layer, x)
    assert out.dtype == torch.float32  # the layer's dtype, whatever the input's
    assert out.shape == _expected_shape(name, batch, length)
    reference = _run(layer.double(), x.float().double())  # same input after the cast
    assert bool(torch.isfinite(out).all())
    torch.testing.assert_close(out.double(), reference, atol=2e-4, rtol=2e-4)


@settings()  # examples: the hypothesis profile (HYPOTHESIS_PROFILE=slow: 2,000)
@given(
    name=st.sampled_from(sorted(LAYERS)),
    batch=st.integers(2, 3),
    length=st.integers(1, 4),
    value=st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e39]),
    data=st.data(),
)
def test_non_finite_inputs_give_nan_where_they_reach_and_never_a_finite_value(
    name: str, batch: int, length: int, value: float, data: st.DataObject
) -> None:
    layer = _build(name)
    x = torch.randn(batch, length, WIDTH, dtype=torch.float64)
    b = data.draw(st.integers(0, batch - 1))
    t = data.draw(st.integers(0, length - 1))
    x[b, t, data.draw(st.integers(0, WIDTH - 1))] = value  # 1e39 overflows float32
    out = _run(layer, x)
    row = out[b] if "pooling" in name else out[b, t]
    assert not bool(torch.isfinite(row).any()), f"{name}: finite output from {value}"
    if name in MIXES_TOKENS:
        assert not bool(torch.isfinite(out[b]).any())
    others = torch.cat([out[:b], out[b + 1 :]])
    assert bool(torch.isfinite(others).all()), "other batch elements must stay finite"


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize(
    "dtype", [torch.complex64, torch.complex128, torch.int64, torch.int32, torch.bool]
)
def test_complex_integer_and_bool_inputs_raise_type_error_naming_the_argument(
    name: str, dtype: torch.dtype
) -> None:
    layer = _build(name)
    x = torch.ones(2, 3, WIDTH, dtype=dtype)
    names = "(query|input|src|tgt|x|stored_pattern|state_pattern)"
    with pytest.raises(TypeError, match=names + " must have a floating-point dtype"):
        _run(layer, x)


def test_lookup_with_one_nan_no_longer_returns_the_output_bias() -> None:
    """Issue 13: the fused kernel mapped NaN scores to 0 and returned out_proj.bias."""
    layer = HopfieldLayer(8, 4).eval()
    x = torch.randn(3, 8)
    x[1, 2] = float("nan")
    out = layer(x)
    assert bool(torch.isnan(out[1]).all())
    assert bool(torch.isfinite(out[[0, 2]]).all())
    torch.testing.assert_close(out[[0, 2]], layer(x[[0, 2]]))


def test_layers_follow_autocast_instead_of_casting() -> None:
    layer = _build("hopfield")
    x = torch.randn(2, 3, WIDTH)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), layer(x), atol=0.1, rtol=0.1)


BETA_LAYERS: dict[str, Callable[[float], nn.Module]] = {
    "hopfield": lambda beta: Hopfield(WIDTH, beta=beta),
    "pooling": lambda beta: HopfieldPooling(WIDTH, beta=beta),
    "lookup": lambda beta: HopfieldLayer(WIDTH, 4, beta=beta),
    "encoder": lambda beta: HopfieldEncoderLayer(WIDTH, 2, 16, beta=beta),
    "decoder": lambda beta: HopfieldDecoderLayer(WIDTH, 2, 16, beta=beta),
    "hflayers-hopfield": lambda beta: hflayers.Hopfield(WIDTH, scaling=beta),
}


@pytest.mark.parametrize("name", sorted(BETA_LAYERS))
@pytest.mark.parametrize("beta", [0.0, -1.0, float("inf"), float("nan")])
def test_a_non_positive_or_non_finite_beta_is_rejected_naming_it(name: str, beta: float) -> None:
    with pytest.raises(ValueError, match=r"(beta|scaling) must be finite and > 0"):
        BETA_LAYERS[name](beta)


@pytest.mark.parametrize("name", sorted(BETA_LAYERS))
def test_a_large_beta_gives_a_finite_hard_retrieval(name: str) -> None:
    layer = BETA_LAYERS[name](1e6).eval()
    x = torch.randn(2, 3, WIDTH)
    out = layer(x, x) if name == "decoder" else _run(layer, x)
    assert bool(torch.isfinite(out).all())
