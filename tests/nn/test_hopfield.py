"""hopfield.nn.Hopfield against a plain explicit-softmax reference written here."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from hopfield.nn import Hopfield, lse_energy

# --------------------------------------------------------------------------- reference


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    b, n, w = x.shape
    return x.reshape(b, n, num_heads, w // num_heads).permute(0, 2, 1, 3)


def _linear(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, nn.Linear):
        return F.linear(x, layer.weight, layer.bias)
    return x


def _norm(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, nn.LayerNorm):
        return F.layer_norm(x, layer.normalized_shape, layer.weight, layer.bias, layer.eps)
    return x


def reference(
    layer: Hopfield,
    query: torch.Tensor,
    key: torch.Tensor | None = None,
    value: torch.Tensor | None = None,
    key_padding_mask: torch.Tensor | None = None,
    attn_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit projections, explicit softmax, explicit loop over update steps."""
    key = query if key is None else key
    value = key if value is None else value
    h = layer.num_heads
    beta = layer.beta
    xi = _heads(_linear(layer.query_proj, _norm(layer.query_norm, query)), h)
    k = _heads(_linear(layer.key_proj, _norm(layer.key_norm, key)), h)
    v = _heads(_linear(layer.value_proj, _norm(layer.value_norm, value)), h)
    b, lq, lk = query.shape[0], query.shape[1], key.shape[1]
    bias = torch.zeros(b, h, lq, lk, dtype=query.dtype)
    if key_padding_mask is not None:
        if key_padding_mask.dtype == torch.bool:
            bias = bias.masked_fill(key_padding_mask[:, None, None, :], -math.inf)
        else:
            bias = bias + key_padding_mask[:, None, None, :]
    if attn_mask is not None:
        am = attn_mask if attn_mask.ndim == 2 else attn_mask.reshape(b, h, lq, lk)
        bias = bias.masked_fill(am, -math.inf) if am.dtype == torch.bool else bias + am
    for _ in range(layer.update_steps - 1):
        p = torch.softmax(beta * torch.einsum("bhqd,bhkd->bhqk", xi, k) + bias, dim=-1)
        xi = torch.einsum("bhqk,bhkd->bhqd", p, k)
    p = torch.softmax(beta * torch.einsum("bhqd,bhkd->bhqk", xi, k) + bias, dim=-1)
    out = torch.einsum("bhqk,bhkd->bhqd", p, v).permute(0, 2, 1, 3).reshape(b, lq, -1)
    return _linear(layer.out_proj, out), p


def _randn(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("num_heads", [1, 2, 4])
@pytest.mark.parametrize("update_steps", [1, 3])
@pytest.mark.parametrize("cross", [False, True])
def test_matches_reference_for_random_inputs(
    num_heads: int, update_steps: int, cross: bool
) -> None:
    layer = Hopfield(
        8, num_heads=num_heads, update_steps=update_steps, stored_dim=6 if cross else None
    )
    query = _randn(3, 5, 8)
    key = _randn(3, 7, 6) if cross else None
    value = _randn(3, 7, 6) if cross else None
    out, weights = layer(query, key, value, need_weights=True)
    ref_out, ref_weights = reference(layer, query, key, value)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, ref_weights, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(layer(query, key, value), ref_out, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_matches_reference_with_key_padding_mask(kind: str) -> None:
    layer = Hopfield(8, num_heads=2, update_steps=2)
    query, key = _randn(2, 4, 8), _randn(2, 6, 8)
    pad = torch.zeros(2, 6, dtype=torch.bool)
    pad[0, 4:] = True
    pad[1, :2] = True
    mask = pad if kind == "bool" else torch.randn(2, 6)
    out = layer(query, key, key_padding_mask=mask)
    ref_out, _ = reference(layer, query, key, key_padding_mask=mask)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    if kind == "bool":  # padded stored patterns cannot change the result
        changed = key.clone()
        changed[pad] = 100.0
        torch.testing.assert_close(layer(query, changed, key_padding_mask=mask), out)


@pytest.mark.parametrize("layout", ["2d-bool", "2d-float", "3d-bool", "3d-float"])
def test_matches_reference_with_attn_mask(layout: str) -> None:
    heads, b, lq, lk = 2, 3, 4, 5
    layer = Hopfield(8, num_heads=heads, update_steps=2)
    query, key = _randn(b, lq, 8), _randn(b, lk, 8)
    shape = (lq, lk) if layout.startswith("2d") else (b * heads, lq, lk)
    if layout.endswith("bool"):
        mask = torch.rand(shape) > 0.6
        mask[..., 0] = False  # keep one stored pattern per row
    else:
        mask = torch.randn(shape)
    pad = torch.zeros(b, lk, dtype=torch.bool)
    pad[:, -1] = True
    out, weights = layer(query, key, key_padding_mask=pad, attn_mask=mask, need_weights=True)
    ref_out, ref_weights = reference(layer, query, key, key_padding_mask=pad, attn_mask=mask)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, ref_weights, atol=1e-5, rtol=1e-5)
    assert bool((weights[..., -1] == 0).all())
    fast = layer(query, key, key_padding_mask=pad, attn_mask=mask)
    torch.testing.assert_close(fast, out, atol=1e-5, rtol=1e-5)


def test_matches_nn_multihead_attention_with_copied_weights() -> None:
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    layer = Hopfield(8, num_heads=2)
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    with torch.no_grad():
        for proj, w, b in zip(
            (layer.query_proj, layer.key_proj, layer.value_proj),
            (w_q, w_k, w_v),
            (b_q, b_k, b_v),
            strict=True,
        ):
            assert isinstance(proj, nn.Linear)
            proj.weight.copy_(w)
            proj.bias.copy_(b)
        assert isinstance(layer.out_proj, nn.Linear)
        layer.out_proj.weight.copy_(mha.out_proj.weight)
        layer.out_proj.bias.copy_(mha.out_proj.bias)
    query, key = _randn(2, 3, 8), _randn(2, 5, 8)
    pad = torch.tensor([[False] * 4 + [True], [False] * 5])
    expected, expected_w = mha(query, key, key, key_padding_mask=pad, average_attn_weights=False)
    out, weights = layer(query, key, key_padding_mask=pad, need_weights=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, expected_w, atol=1e-5, rtol=1e-5)


def test_normalized_patterns_match_reference() -> None:
    layer = Hopfield(6, num_heads=3, normalize_patterns=True, update_steps=2)
    with torch.no_grad():
        for norm in (layer.query_norm, layer.key_norm, layer.value_norm):
            assert isinstance(norm, nn.LayerNorm)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    query, key = _randn(2, 3, 6) * 5 + 2, _randn(2, 4, 6)
    ref_out, _ = reference(layer, query, key)
    torch.testing.assert_close(layer(query, key), ref_out, atol=1e-5, rtol=1e-5)


def test_fast_path_equals_explicit_path_with_learnable_beta() -> None:
    layer = Hopfield(8, num_heads=2, learnable_beta=True, beta=0.7, update_steps=3)
    query, key, value = _randn(2, 3, 8), _randn(2, 9, 8), _randn(2, 9, 8)
    pad = torch.rand(2, 9) > 0.7
    pad[:, 0] = False
    fast = layer(query, key, value, key_padding_mask=pad)
    explicit, _ = layer(query, key, value, key_padding_mask=pad, need_weights=True)
    torch.testing.assert_close(fast, explicit, atol=1e-6, rtol=1e-5)
    assert isinstance(layer.beta, torch.Tensor)
    assert math.isclose(float(layer.beta.detach()), 0.7, rel_tol=1e-6)


def test_batch_first_false_is_the_transpose() -> None:
    torch.manual_seed(3)
    seq_first = Hopfield(8, num_heads=2, batch_first=False, update_steps=2)
    batch_first = Hopfield(8, num_heads=2, update_steps=2)
    batch_first.load_state_dict(seq_first.state_dict())
    query, key = _randn(3, 2, 8), _randn(5, 2, 8)  # (L, B, E)
    out, weights = seq_first(query, key, need_weights=True)
    ref, ref_w = batch_first(query.transpose(0, 1), key.transpose(0, 1), need_weights=True)
    assert out.shape == (3, 2, 8)
    torch.testing.assert_close(out, ref.transpose(0, 1))
    torch.testing.assert_close(weights, ref_w)


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("learnable_beta", [False, True])
def test_gradients_match_reference_in_float64(learnable_beta: bool) -> None:
    layer = Hopfield(
        6, num_heads=2, update_steps=3, learnable_beta=learnable_beta, normalize_patterns=True
    ).double()
    query = _randn(2, 3, 6, dtype=torch.float64).requires_grad_()
    key = _randn(2, 5, 6, dtype=torch.float64).requires_grad_()
    pad = torch.tensor([[False] * 4 + [True], [False] * 5])
    weights = _randn(2, 3, 6, dtype=torch.float64)
    inputs = [query, key, *layer.parameters()]
    ours = torch.autograd.grad((layer(query, key, key_padding_mask=pad) * weights).sum(), inputs)
    ref_out, _ = reference(layer, query, key, key_padding_mask=pad)
    theirs = torch.autograd.grad((ref_out * weights).sum(), inputs)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)


def test_gradcheck_through_fused_path() -> None:
    layer = Hopfield(4, num_heads=2, update_steps=2).double()
    query = _randn(1, 2, 4, dtype=torch.float64).requires_grad_()
    key = _randn(1, 3, 4, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda q, k: layer(q, k), (query, key))


# --------------------------------------------------------------------------- dynamics


def test_one_step_retrieves_stored_patterns_for_large_beta() -> None:
    d, n = 64, 50
    gen = torch.Generator().manual_seed(4)
    stored = torch.sign(torch.randn(1, n, d, generator=gen, dtype=torch.float64)) / math.sqrt(d)
    flips = torch.rand(1, n, d, generator=gen) < 0.05
    query = torch.where(flips, -stored, stored)
    layer = Hopfield(d, project_patterns=False, beta=100.0)
    retrieved = layer(query, stored)
    torch.testing.assert_close(retrieved, stored, atol=1e-6, rtol=0)
    small = Hopfield(d, project_patterns=False, beta=0.1)(query, stored)
    assert float((small - stored).abs().max()) > 0.1  # low β averages instead


@given(
    beta=st.floats(0.05, 8.0),
    seed=st.integers(0, 10_000),
    num_heads=st.sampled_from([1, 2]),
)
def test_energy_never_increases_along_update_steps(beta: float, seed: int, num_heads: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    query = torch.randn(2, 3, 8, generator=gen, dtype=torch.float64)
    key = torch.randn(2, 10, 8, generator=gen, dtype=torch.float64)
    layer = Hopfield(8, num_heads=num_heads, beta=beta, project_patterns=False)
    states = [query]
    for _ in range(6):  # one CCCP update per call (values = keys, identity projections)
        states.append(layer(states[-1], key))
    trace = torch.stack([layer.energy(state, key) for state in states])
    assert bool((trace[1:] <= trace[:-1] + 1e-9).all()), trace


def test_energy_matches_closed_form() -> None:
    state, stored = _randn(2, 3, 4, dtype=torch.float64), _randn(2, 5, 4, dtype=torch.float64)
    beta = 0.8
    direct = torch.empty(2, 3, dtype=torch.float64)
    for b in range(2):
        for q in range(3):
            s = sum(math.exp(beta * float(stored[b, m] @ state[b, q])) for m in range(5))
            direct[b, q] = -math.log(s) / beta + 0.5 * float(state[b, q] @ state[b, q])
    torch.testing.assert_close(lse_energy(state, stored, beta), direct)
    # The CCCP update is the fixed-point form of dE/dξ = 0: ξ − softmax(β ξ Kᵀ) K.
    xi = state.clone().requires_grad_()
    (grad,) = torch.autograd.grad(lse_energy(xi, stored, beta).sum(), xi)
    update = torch.softmax(beta * state @ stored.transpose(1, 2), -1) @ stored
    torch.testing.assert_close(grad, state - update)


def test_tol_stops_updates_early() -> None:
    query, key = _randn(2, 3, 8), _randn(2, 6, 8)
    early = Hopfield(8, update_steps=10, tol=1e6)
    two = Hopfield(8, update_steps=2)
    two.load_state_dict(early.state_dict())
    torch.testing.assert_close(early(query, key), two(query, key))
    ten = Hopfield(8, update_steps=10)
    ten.load_state_dict(early.state_dict())
    assert not torch.allclose(ten(query, key), two(query, key))


def test_dropout_acts_only_in_training() -> None:
    layer = Hopfield(8, dropout=0.5)
    plain = Hopfield(8)
    plain.load_state_dict(layer.state_dict())
    query = _randn(2, 16, 8)
    layer.eval()
    torch.testing.assert_close(layer(query), plain(query))
    layer.train()
    assert not torch.allclose(layer(query), plain(query))


def test_learnable_beta_receives_gradient() -> None:
    layer = Hopfield(8, learnable_beta=True)
    layer(_randn(2, 3, 8)).pow(2).sum().backward()
    assert layer.log_beta.grad is not None and float(layer.log_beta.grad.abs()) > 0


# --------------------------------------------------------------------------- compile


def test_compiled_forward_is_one_graph_and_matches_eager() -> None:
    layer = Hopfield(8, num_heads=2, update_steps=2, learnable_beta=True)
    compiled = torch.compile(layer, backend="eager", fullgraph=True)  # no graph breaks
    query, key = _randn(2, 3, 8), _randn(2, 4, 8)
    pad = torch.tensor([[False, False, False, True], [False] * 4])
    expected = layer(query, key, key_padding_mask=pad)
    torch.testing.assert_close(compiled(query, key, key_padding_mask=pad), expected)


@pytest.mark.slow
def test_compiled_forward_matches_inductor() -> None:
    layer = Hopfield(8, num_heads=2, update_steps=2)
    compiled = torch.compile(layer)
    query, key = _randn(2, 3, 8), _randn(2, 4, 8)
    out = compiled(query, key)
    torch.testing.assert_close(out, layer(query, key), atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"embed_dim": 7, "num_heads": 2}, ValueError, "embed_dim .7. must be divisible"),
        ({"embed_dim": 0}, ValueError, "embed_dim must be ≥ 1"),
        ({"embed_dim": 8.0}, TypeError, "embed_dim must be an int"),
        ({"embed_dim": 8, "beta": -1.0}, ValueError, "beta must be finite and > 0"),
        ({"embed_dim": 8, "update_steps": 0}, ValueError, "update_steps must be ≥ 1"),
        ({"embed_dim": 8, "dropout": 1.5}, ValueError, "dropout must lie in"),
        ({"embed_dim": 8, "tol": -1.0}, ValueError, "tol must be finite"),
        ({"embed_dim": 8, "stored_dim": 4, "project_patterns": False}, ValueError, "stored_dim"),
        ({"embed_dim": 8, "learnable_beta": 1}, TypeError, "learnable_beta must be a bool"),
        ({"embed_dim": 8, "flavour": 1}, TypeError, "flavour"),
    ],
)
def test_bad_constructor_arguments_raise(
    kwargs: dict[str, object], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        Hopfield(**kwargs)  # type: ignore[arg-type]


def test_bad_inputs_raise_errors_naming_the_argument() -> None:
    layer = Hopfield(8, num_heads=2, stored_dim=6)
    query, key = _randn(2, 3, 8), _randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"query must have last dim embed_dim=8"):
        layer(_randn(2, 3, 7), key)
    with pytest.raises(ValueError, match=r"query must have shape \(B, L, embed_dim\)"):
        layer(_randn(3, 8), key)
    with pytest.raises(TypeError, match="query must have a floating-point dtype"):
        layer(torch.ones(2, 3, 8, dtype=torch.long), key)
    with pytest.raises(ValueError, match="key is required"):
        layer(query)
    with pytest.raises(ValueError, match=r"key must have batch size 2 and last dim stored_dim=6"):
        layer(query, _randn(2, 5, 8))
    with pytest.raises(ValueError, match=r"key must have batch size 2"):
        layer(query, _randn(3, 5, 6))
    with pytest.raises(ValueError, match=r"value must have the same leading dims"):
        layer(query, key, _randn(2, 4, 6))
    # inputs follow the layer's dtype (hopfield.nn.inputs): a float64 key is cast
    torch.testing.assert_close(layer(query, key.double()), layer(query, key))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, Lk\) = \(2, 5\)"):
        layer(query, key, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="key_padding_mask must be bool"):
        layer(query, key, key_padding_mask=torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(Lq, Lk\) = \(3, 5\)"):
        layer(query, key, attn_mask=torch.zeros(5, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"attn_mask must be a torch\.Tensor"):
        layer(query, key, attn_mask=[[True]])
