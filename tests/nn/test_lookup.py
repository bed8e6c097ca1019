"""hopfield.nn.HopfieldLayer: learnable stored patterns used as a lookup."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hopfield.nn import HopfieldLayer


def _affine(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    assert isinstance(module, nn.Linear) and module.bias is not None
    return module.weight, module.bias


def _explicit_lookup(layer: HopfieldLayer, x: torch.Tensor) -> torch.Tensor:
    """One head, one step, written out: W_O softmax(β (W_Q x)(W_K Y)ᵀ) (W_V Y_v)."""
    h = layer.hopfield
    w = [_affine(m) for m in (h.query_proj, h.key_proj, h.value_proj, h.out_proj)]
    q = F.linear(x, *w[0])
    k = F.linear(layer.stored_patterns, *w[1])
    v = F.linear(layer.pattern_values, *w[2])
    p = torch.softmax(h.beta * q @ k.T, dim=-1)
    return F.linear(p @ v, *w[3])


def test_single_head_matches_explicit_formula() -> None:
    layer = HopfieldLayer(6, 11, stored_dim=5)
    x = torch.randn(3, 4, 6)
    torch.testing.assert_close(layer(x), _explicit_lookup(layer, x), atol=1e-5, rtol=1e-5)


def test_vector_input_equals_length_one_sequence() -> None:
    layer = HopfieldLayer(8, 5, num_heads=2, update_steps=2)
    x = torch.randn(3, 8)
    out = layer(x)
    assert out.shape == (3, 8)
    torch.testing.assert_close(out, layer(x[:, None])[:, 0])
    assert layer.attention(x).shape == (3, 2, 1, 5)


def test_multi_head_multi_step_equals_hopfield_with_memories_as_keys() -> None:
    layer = HopfieldLayer(8, 7, num_heads=4, update_steps=3)
    x = torch.randn(2, 3, 8)
    stored = layer.stored_patterns.expand(2, -1, -1)
    values = layer.pattern_values.expand(2, -1, -1)
    torch.testing.assert_close(layer(x), layer.hopfield(x, stored, values), atol=1e-6, rtol=1e-5)


def test_large_beta_lookup_returns_the_value_of_the_nearest_key() -> None:
    m, d = 20, 16
    layer = HopfieldLayer(d, m, project_patterns=False, beta=200.0)
    keys = F.normalize(torch.randn(m, d), dim=-1)
    values = torch.randn(m, d)
    with torch.no_grad():
        layer.stored_patterns.copy_(keys)
        layer.pattern_values.copy_(values)
    noisy = keys + 0.02 * torch.randn(m, d)
    torch.testing.assert_close(layer(noisy), values, atol=1e-4, rtol=0)


def test_gradients_in_float64_match_explicit_formula() -> None:
    layer = HopfieldLayer(4, 6).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    params = [x, *layer.parameters()]
    ours = torch.autograd.grad(layer(x).pow(2).sum(), params)
    theirs = torch.autograd.grad(_explicit_lookup(layer, x).pow(2).sum(), params)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)
    index = next(i for i, p in enumerate(params) if p is layer.stored_patterns)
    assert float(ours[index].abs().sum()) > 0


def test_attention_rows_are_distributions() -> None:
    layer = HopfieldLayer(8, 9, num_heads=2)
    weights = layer.attention(torch.randn(2, 3, 8))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 3))
    assert bool((weights > 0).all())


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="num_memories must be ≥ 1"):
        HopfieldLayer(8, 0)
    with pytest.raises(TypeError, match="batch_first must be a bool"):
        HopfieldLayer(8, 3, batch_first=1)  # type: ignore[arg-type]
    layer = HopfieldLayer(8, 3)
    with pytest.raises(ValueError, match="input must have last dim embed_dim=8"):
        layer(torch.randn(2, 7))
    with pytest.raises(ValueError, match=r"input must have shape \(B, embed_dim\)"):
        layer(torch.randn(8))
    with pytest.raises(TypeError, match="input must have a floating-point dtype"):
        layer(torch.ones(2, 8, dtype=torch.long))


def test_config_rebuilds_an_equivalent_layer() -> None:
    layer = HopfieldLayer(8, 5, num_heads=2, learnable_beta=True)
    clone = HopfieldLayer(**layer.get_config())
    clone.load_state_dict(layer.state_dict())
    x = torch.randn(2, 8)
    torch.testing.assert_close(clone(x), layer(x))


def test_sequence_first_input_gives_the_transposed_batch_first_result() -> None:
    first = HopfieldLayer(8, 5, num_heads=2)
    second = HopfieldLayer(8, 5, num_heads=2, batch_first=False)
    second.load_state_dict(first.state_dict())
    x = torch.randn(3, 4, 8)
    torch.testing.assert_close(second(x.transpose(0, 1)), first(x).transpose(0, 1))
    torch.testing.assert_close(second(x[:, 0]), first(x[:, 0]))  # (B, E) is batch-first


def test_empty_inputs_give_empty_outputs() -> None:
    layer = HopfieldLayer(8, 5)
    assert layer(torch.randn(0, 8)).shape == (0, 8)
    assert layer(torch.randn(2, 0, 8)).shape == (2, 0, 8)
