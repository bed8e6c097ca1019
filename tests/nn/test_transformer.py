"""Drop-in encoder layers: HopfieldEncoderLayer and EnergyTransformerEncoderLayer."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from hopfield.nn import (
    EnergyTransformerEncoderLayer,
    GELUIntegral,
    HopfieldDecoderLayer,
    HopfieldEncoderLayer,
)


def _tokens(seed: int, batch: int = 3, length: int = 6, dim: int = 16) -> torch.Tensor:
    return torch.randn(batch, length, dim, generator=torch.Generator().manual_seed(seed))


def _padding(batch: int = 3, length: int = 6) -> torch.Tensor:
    pad = torch.zeros(batch, length, dtype=torch.bool)
    pad[1, -2:] = True
    pad[2, -3:] = True
    return pad


def _encoder(layer: nn.Module, layers: int = 2) -> nn.TransformerEncoder:
    return nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- GELU separation


def test_gelu_integral_derivative_matches_autograd() -> None:
    z = torch.linspace(-5, 5, 101, dtype=torch.float64, requires_grad=True)
    sep = GELUIntegral()
    (grad,) = torch.autograd.grad(sep(z).sum(), z)
    torch.testing.assert_close(grad, sep.derivative(z.detach()))
    assert float(sep(torch.zeros(1, dtype=torch.float64))) == pytest.approx(0.0, abs=1e-15)


# --------------------------------------------------------------------------- Hopfield layer


@pytest.mark.parametrize(
    ("norm_first", "activation", "batch_first"),
    [(False, "relu", True), (True, "gelu", True), (False, "gelu", False)],
)
def test_hopfield_encoder_layer_equals_torch_layer(
    norm_first: bool, activation: str, batch_first: bool
) -> None:
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(
        16, 4, 32, dropout=0.0, activation=activation, batch_first=batch_first,
        norm_first=norm_first,
    )  # fmt: skip
    layer = HopfieldEncoderLayer.from_torch(ref)
    assert layer.self_attn.beta == pytest.approx(0.5)  # 1/√head_dim, head_dim = 4
    x = _tokens(1)
    pad = _padding()
    causal = nn.Transformer.generate_square_subsequent_mask(6)
    if not batch_first:
        x = x.transpose(0, 1)
    for mask, padding in ((None, None), (causal, None), (None, pad), (causal, pad.float() * -1e9)):
        expected = ref(x, src_mask=mask, src_key_padding_mask=padding)
        torch.testing.assert_close(layer(x, mask, padding), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_hopfield_encoder_equals_torch_encoder_in_eval_with_padding() -> None:
    torch.manual_seed(2)
    ref_layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    ref = nn.TransformerEncoder(ref_layer, 2).eval()  # torch may use its fused path here
    ours = _encoder(HopfieldEncoderLayer.from_torch(ref_layer)).eval()
    for src, dst in zip(ref.layers, ours.layers, strict=True):
        dst._copy_from(src)
    x, pad = _tokens(3), _padding()
    with torch.no_grad():
        expected = ref(x, src_key_padding_mask=pad)
        got = ours(x, src_key_padding_mask=pad)
    keep = ~pad  # torch's nested path zeroes padded positions
    torch.testing.assert_close(got[keep], expected[keep], atol=1e-5, rtol=1e-5)


def test_hopfield_encoder_layer_more_updates_changes_output() -> None:
    torch.manual_seed(4)
    one = HopfieldEncoderLayer(16, 2, 32, dropout=0.0)
    three = HopfieldEncoderLayer(16, 2, 32, dropout=0.0, update_steps=3)
    three.load_state_dict(one.state_dict())
    x = _tokens(5)
    assert not torch.allclose(one(x), three(x))


# --------------------------------------------------------------------------- Energy Transformer


def _et(seed: int, **options: object) -> EnergyTransformerEncoderLayer:
    torch.manual_seed(seed)
    kwargs: dict[str, object] = {"steps": 3, "alpha": 0.1}
    kwargs.update(options)
    return EnergyTransformerEncoderLayer(16, 4, 24, **kwargs)  # type: ignore[arg-type]


def test_et_encoder_stack_runs_forward_backward_with_masks() -> None:
    encoder = _encoder(_et(6))
    x = _tokens(7).requires_grad_(True)
    causal = torch.ones(6, 6, dtype=torch.bool).triu(1)
    out = encoder(x, mask=causal, src_key_padding_mask=_padding(), is_causal=True)
    assert out.shape == x.shape and bool(torch.isfinite(out).all())
    out.square().mean().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    grads = [p.grad for p in encoder.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)


def test_et_layer_is_the_block_energy_descent() -> None:
    layer = _et(8, activation="relu").double()
    x = _tokens(9).double()
    result = layer.block.descend(x, steps=3, alpha=0.1)
    torch.testing.assert_close(layer(x), result.tokens)
    energies = result.energies.detach()
    assert float(energies[-1].sum()) < float(energies[0].sum())


def test_et_layer_masks_follow_torch_conventions() -> None:
    layer = _et(10)
    x = _tokens(11)
    pad = _padding()
    # padded tokens are ignored as keys: changing them leaves the other outputs unchanged
    changed = x.clone()
    changed[pad] = 100.0
    keep = ~pad
    torch.testing.assert_close(layer(changed, src_key_padding_mask=pad)[keep],
                               layer(x, src_key_padding_mask=pad)[keep])  # fmt: skip
    assert not torch.allclose(layer(changed)[keep], layer(x)[keep])
    # float (0 / -inf) masks equal bool masks; is_causal alone builds the causal mask
    causal_bool = torch.ones(6, 6, dtype=torch.bool).triu(1)
    causal_float = nn.Transformer.generate_square_subsequent_mask(6)
    out = layer(x, is_causal=True)
    torch.testing.assert_close(layer(x, src_mask=causal_bool), out)
    torch.testing.assert_close(layer(x, src_mask=causal_float), out)
    future = x.clone()
    future[:, -1] += 5.0  # the causal outputs before the last token ignore it
    torch.testing.assert_close(layer(future, is_causal=True)[:, :-1], out[:, :-1])


def test_et_layer_batch_first_false_and_post_norm() -> None:
    layer = _et(12)
    seq_first = _et(12, batch_first=False)
    x = _tokens(13)
    torch.testing.assert_close(seq_first(x.transpose(0, 1)).transpose(0, 1), layer(x))
    post = _et(12, norm_first=False)
    out = post(x)
    torch.testing.assert_close(out.mean(-1), torch.zeros(3, 6), atol=1e-5, rtol=0)


def test_torch_fused_path_is_never_taken() -> None:
    torch.manual_seed(14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: nested tensors disabled
        encoder = nn.TransformerEncoder(_et(14), num_layers=2, enable_nested_tensor=True)  # type: ignore[arg-type]
    assert not encoder.use_nested_tensor
    encoder.eval()
    x, pad = _tokens(15), _padding()
    with torch.no_grad():  # exactly the conditions of torch's fused path
        got = encoder(x, src_key_padding_mask=pad)
        expected = x
        for layer in encoder.layers:
            expected = layer(expected, src_key_padding_mask=pad)
    torch.testing.assert_close(got, expected)
    assert float(got[pad].abs().sum()) > 0  # the nested path would have zeroed these
    layer = encoder.layers[0]
    assert layer.self_attn.batch_first and not layer.self_attn._qkv_same_embed_dim
    assert layer.activation_relu_or_gelu == 2 and layer.norm_first


def test_et_encoder_under_torch_compile_eager_backend() -> None:
    encoder = _encoder(_et(16, steps=2))
    compiled = torch.compile(encoder, backend="eager")
    x = _tokens(17)
    pad = _padding()
    expected = encoder(x, src_key_padding_mask=pad)
    out = compiled(x, src_key_padding_mask=pad)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())


@pytest.mark.slow
def test_et_and_hopfield_encoders_under_inductor() -> None:
    x, pad = _tokens(18), _padding()
    for layer in (_et(18, steps=2), HopfieldEncoderLayer(16, 4, 32, dropout=0.0)):
        encoder = _encoder(layer)
        compiled = torch.compile(encoder)
        expected = encoder(x, src_key_padding_mask=pad)
        out = compiled(x, src_key_padding_mask=pad)
        torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
        out.sum().backward()


def test_et_layer_config_roundtrip_and_validation() -> None:
    layer = _et(19, activation="relu")
    clone = EnergyTransformerEncoderLayer(**layer.get_config())
    clone.load_state_dict(layer.state_dict())
    x = _tokens(20)
    torch.testing.assert_close(clone(x), layer(x))
    with pytest.raises(ValueError, match="activation"):
        EnergyTransformerEncoderLayer(16, 4, activation="tanh")
    with pytest.raises(ValueError, match="divisible"):
        EnergyTransformerEncoderLayer(15, 4)
    with pytest.raises(ValueError, match="src_mask"):
        layer(x, src_mask=torch.zeros(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="-inf"):
        layer(x, src_mask=torch.full((6, 6), 0.5))
    with pytest.raises(ValueError, match="src_key_padding_mask"):
        layer(x, src_key_padding_mask=torch.zeros(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="d_model"):
        layer(torch.randn(2, 4, 8))
    with pytest.raises(TypeError, match="TransformerEncoderLayer"):
        HopfieldEncoderLayer.from_torch(nn.Linear(2, 2))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- decoder layer


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_from_torch_gives_torchs_outputs(
    norm_first: bool, batch_first: bool, activation: str
) -> None:
    torch_layer = torch.nn.TransformerDecoderLayer(
        16, 4, 32, dropout=0.0, activation=activation, batch_first=batch_first,
        norm_first=norm_first,
    ).eval()  # fmt: skip
    layer = HopfieldDecoderLayer.from_torch(torch_layer).eval()
    tgt, memory = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    if not batch_first:
        tgt, memory = tgt.transpose(0, 1), memory.transpose(0, 1)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5)
    padding = torch.zeros(3, 7, dtype=torch.bool)
    padding[1, -2:] = True
    expected = torch_layer(tgt, memory, tgt_mask=causal, memory_key_padding_mask=padding)
    got = layer(tgt, memory, tgt_mask=causal, memory_key_padding_mask=padding)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        layer(tgt, memory, tgt_is_causal=True, memory_key_padding_mask=padding), got
    )


def test_decoder_works_inside_torchs_transformer_decoder_and_validates() -> None:
    layer = HopfieldDecoderLayer(8, 2, 16, dropout=0.0, update_steps=2)
    decoder = torch.nn.TransformerDecoder(layer, num_layers=2)  # type: ignore[arg-type]
    out = decoder(torch.randn(2, 4, 8), torch.randn(2, 6, 8))
    assert out.shape == (2, 4, 8) and bool(torch.isfinite(out).all())
    assert layer(torch.randn(0, 4, 8), torch.randn(0, 6, 8)).shape == (0, 4, 8)
    assert layer(torch.randn(2, 0, 8), torch.randn(2, 6, 8)).shape == (2, 0, 8)
    with pytest.raises(ValueError, match="memory must have shape"):
        layer(torch.randn(2, 4, 8), torch.randn(2, 6, 7))
    with pytest.raises(TypeError, match="tgt must have a floating-point dtype"):
        layer(torch.ones(2, 4, 8, dtype=torch.long), torch.randn(2, 6, 8))
    with pytest.raises(TypeError, match="TransformerDecoderLayer"):
        HopfieldDecoderLayer.from_torch(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
