"""hopfield.nn.HopfieldPooling: learnable state patterns pooling a set."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import hopfield.io
from hopfield.nn import Hopfield, HopfieldPooling


def _affine(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    assert isinstance(module, nn.Linear) and module.bias is not None
    return module.weight, module.bias


def _explicit_pool(pool: HopfieldPooling, x: torch.Tensor) -> torch.Tensor:
    """One head, one step: W_O softmax(β (W_Q q)(W_K x)ᵀ) (W_V x), written out."""
    h = pool.hopfield
    w = [_affine(m) for m in (h.query_proj, h.key_proj, h.value_proj, h.out_proj)]
    q = F.linear(pool.queries, *w[0])  # (Q, d)
    k = F.linear(x, *w[1])  # (B, L, d)
    v = F.linear(x, *w[2])
    p = torch.softmax(h.beta * torch.einsum("qd,bld->bql", q, k), dim=-1)
    return F.linear(torch.einsum("bql,bld->bqd", p, v), *w[3])


def test_single_head_matches_explicit_formula() -> None:
    pool = HopfieldPooling(6, num_queries=3, stored_dim=5)
    x = torch.randn(4, 7, 5)
    torch.testing.assert_close(pool(x), _explicit_pool(pool, x), atol=1e-5, rtol=1e-5)


def test_multi_head_equals_hopfield_on_expanded_queries() -> None:
    pool = HopfieldPooling(8, num_queries=2, num_heads=4, update_steps=3)
    x = torch.randn(3, 5, 8)
    queries = pool.queries.expand(3, -1, -1)
    expected = pool.hopfield(queries, x)
    torch.testing.assert_close(pool(x), expected)
    assert pool.attention(x).shape == (3, 4, 2, 5)


def test_padding_mask_equals_pooling_the_unpadded_set() -> None:
    pool = HopfieldPooling(8, num_heads=2)
    x = torch.randn(2, 6, 8)
    pad = torch.zeros(2, 6, dtype=torch.bool)
    pad[0, 4:] = True
    pooled = pool(x, key_padding_mask=pad)
    torch.testing.assert_close(pooled[0], pool(x[:1, :4])[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(pooled[1], pool(x[1:])[0], atol=1e-6, rtol=1e-5)


def test_pooling_is_permutation_invariant() -> None:
    pool = HopfieldPooling(8, num_queries=2, num_heads=2, update_steps=2)
    x = torch.randn(2, 9, 8)
    perm = torch.randperm(9)
    torch.testing.assert_close(pool(x[:, perm]), pool(x), atol=1e-6, rtol=1e-5)


def test_flatten_and_shapes() -> None:
    pool = HopfieldPooling(8, num_queries=3, flatten=True)
    assert pool(torch.randn(2, 5, 8)).shape == (2, 24)
    assert HopfieldPooling(8, num_queries=3)(torch.randn(2, 5, 8)).shape == (2, 3, 8)


def test_gradients_reach_the_learnable_queries_in_float64() -> None:
    pool = HopfieldPooling(4, num_queries=2).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64)

    def pooled(queries: torch.Tensor) -> torch.Tensor:
        return pool.hopfield(queries.expand(2, -1, -1), x)

    assert torch.autograd.gradcheck(pooled, (pool.queries.detach().clone().requires_grad_(),))
    pool(x).sum().backward()
    assert pool.queries.grad is not None and float(pool.queries.grad.abs().sum()) > 0


def test_pooling_large_beta_selects_the_most_similar_element() -> None:
    pool = HopfieldPooling(4, project_patterns=False, beta=50.0)
    with torch.no_grad():
        pool.queries.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    x = torch.tensor([[[0.1, 1.0, 0.0, 0.0], [0.9, 0.1, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]]])
    torch.testing.assert_close(pool(x)[0, 0], x[0, 1], atol=1e-6, rtol=0)
    assert math.isclose(float(pool.attention(x).detach()[0, 0, 0, 1]), 1.0, abs_tol=1e-6)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="num_queries must be ≥ 1"):
        HopfieldPooling(8, num_queries=0)
    with pytest.raises(TypeError, match="batch_first must be a bool"):
        HopfieldPooling(8, batch_first=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="flatten must be a bool"):
        HopfieldPooling(8, flatten=1)  # type: ignore[arg-type]
    pool = HopfieldPooling(8)
    with pytest.raises(ValueError, match=r"input must have shape \(B, L, stored_dim\)"):
        pool(torch.randn(5, 8))
    with pytest.raises(ValueError, match=r"key must have batch size 2 and last dim stored_dim=8"):
        pool(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        pool(torch.randn(2, 5, 8), key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))


def test_config_rebuilds_an_equivalent_layer() -> None:
    pool = HopfieldPooling(8, num_queries=2, num_heads=2, update_steps=2, flatten=True)
    clone = HopfieldPooling(**pool.get_config())
    clone.load_state_dict(pool.state_dict())
    x = torch.randn(2, 4, 8)
    torch.testing.assert_close(clone(x), pool(x))
    assert isinstance(clone.hopfield, Hopfield)


def test_sequence_first_input_gives_the_transposed_batch_first_result() -> None:
    first = HopfieldPooling(8, num_queries=3, num_heads=2)
    second = HopfieldPooling(8, num_queries=3, num_heads=2, batch_first=False)
    second.load_state_dict(first.state_dict())
    x = torch.randn(4, 5, 8)
    torch.testing.assert_close(second(x.transpose(0, 1)), first(x).transpose(0, 1))
    flat = HopfieldPooling(8, num_queries=3, num_heads=2, flatten=True, batch_first=False)
    flat.load_state_dict(first.state_dict())
    torch.testing.assert_close(flat(x.transpose(0, 1)), first(x).flatten(1))
    assert second.get_config()["batch_first"] is False


def test_empty_batch_pools_to_empty_and_an_empty_set_is_rejected() -> None:
    pool = HopfieldPooling(8, num_queries=2)
    assert pool(torch.randn(0, 5, 8)).shape == (0, 2, 8)
    with pytest.raises(ValueError, match="input must hold at least one element"):
        pool(torch.randn(3, 0, 8))


def test_sequence_first_layers_survive_save_and_load(tmp_path: Path) -> None:
    pool = HopfieldPooling(8, num_queries=2, batch_first=False).eval()
    hopfield.io.save(pool, tmp_path / "pool.safetensors")
    loaded = hopfield.io.load(tmp_path / "pool.safetensors").eval()
    x = torch.randn(5, 3, 8)
    assert loaded.batch_first is False
    torch.testing.assert_close(loaded(x), pool(x))
