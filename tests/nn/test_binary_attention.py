"""CAMformer binary attention: Hamming identity, hierarchical top-k, recall, dense limit, STE."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hopfield.nn.binary_attention import (
    BinaryCAMAssociation,
    BinaryCAMAttention,
    binarize,
    binary_cam_attention,
    hamming_similarity,
    hierarchical_topk,
    topk_recall,
)


def test_hamming_similarity_identity() -> None:
    g = torch.Generator().manual_seed(0)
    q = binarize(torch.randn(3, 5, 16, generator=g), ste=False)
    k = binarize(torch.randn(3, 7, 16, generator=g), ste=False)
    hamming = (q.unsqueeze(-2) != k.unsqueeze(-3)).sum(-1).float()
    torch.testing.assert_close(hamming_similarity(q, k), 1 - hamming / 16)


def test_binarize_ties_and_straight_through_gradient() -> None:
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5], requires_grad=True)
    y = binarize(x)
    torch.testing.assert_close(y.detach(), torch.tensor([-1.0, -1.0, 1.0, 1.0, 1.0]))
    y.backward(torch.ones(5))
    assert x.grad is not None
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))


@pytest.mark.parametrize(
    ("n", "tile", "k1", "k2"), [(64, 16, 16, 8), (100, 8, 5, 5), (50, 4, 4, 9)]
)
def test_hierarchical_equals_exact_topk_when_k1_covers(n: int, tile: int, k1: int, k2: int) -> None:
    assert k1 >= min(tile, k2)
    scores = torch.randn(6, n, generator=torch.Generator().manual_seed(n))
    values, index = hierarchical_topk(scores, tile, k1, k2)
    exact_values, exact_index = scores.topk(k2, dim=-1)
    torch.testing.assert_close(values, exact_values)
    assert torch.equal(index, exact_index)
    torch.testing.assert_close(scores.gather(-1, index), values)


def test_hierarchical_topk_misses_crowded_tile() -> None:
    scores = torch.arange(32.0).flip(0)  # top-4 all in the first tile of 8
    values, index = hierarchical_topk(scores, tile=8, k1=2, k2=4)
    assert index.tolist() == [0, 1, 8, 9]
    assert float(topk_recall(scores, 8, 2, 4)) == 0.5
    torch.testing.assert_close(values, scores[[0, 1, 8, 9]])


def test_monte_carlo_recall_matches_camformer_default() -> None:
    """n = 1024, tiles of 16, k₁ = 2, exact top-32: 97.4 % ± 1 % (hypergeometric 97.41 %)."""
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(2000, 1024, generator=g)
    recall = float(topk_recall(scores, 16, 2, 32).mean())
    assert abs(recall - 0.974) < 0.01, recall
    # and the trend: more tile crowding, less recall
    assert float(topk_recall(scores[:500], 32, 2, 32).mean()) < recall - 0.03


def test_full_precision_with_all_keys_is_dense_softmax_attention() -> None:
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, 20, 8, generator=g, dtype=torch.float64) for _ in range(3))
    out, weights = binary_cam_attention(
        q, k, v, tile=16, k1=16, k2=20, binary=False, need_weights=True
    )
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    assert weights is not None
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 20, dtype=torch.float64))


def test_binary_attention_selects_k2_keys_with_binary_scores() -> None:
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, 1, 64, 16, generator=g, dtype=torch.float64) for _ in range(3))
    out, weights = binary_cam_attention(q, k, v, tile=16, k1=2, k2=5, need_weights=True)
    assert weights is not None
    assert bool(((weights > 0).sum(-1) <= 5).all())
    # a softmax over sign(q)·sign(k) restricted to the selected keys
    logits = (torch.sign(q) @ torch.sign(k).transpose(-2, -1)) / 4.0
    selected = torch.where(weights > 0, logits, torch.full_like(logits, -math.inf))
    torch.testing.assert_close(out, torch.softmax(selected, -1) @ v)


def test_mask_excludes_keys() -> None:
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 1, 4, 8, generator=g) for _ in range(3))
    mask = torch.tensor([False, True, False, True]).expand(2, 1, 4, 4)
    _, weights = binary_cam_attention(q, k, v, tile=2, k1=2, k2=4, mask=mask, need_weights=True)
    assert weights is not None
    assert float(weights[..., 1].abs().max()) == 0.0 and float(weights[..., 3].abs().max()) == 0.0


def test_module_gradients_are_finite_and_reach_query_projection() -> None:
    layer = BinaryCAMAttention(16, 2, tile=4, k1=2, k2=6)
    x = torch.randn(3, 12, 16, requires_grad=True)
    out, weights = layer(x, need_weights=True)
    assert out.shape == (3, 12, 16) and weights is not None and weights.shape == (3, 2, 12, 12)
    out.square().sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    grad = layer.query_proj.weight.grad
    assert grad is not None and bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0


def test_association_has_hopfield_core_signature() -> None:
    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(1, 2, 6, 4, generator=g) for _ in range(3))
    core = BinaryCAMAssociation(tile=3, k1=3, k2=6, binary=False)
    out, weights = core(q, k, v, None, 0.5, 0.0, True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.5))
    assert weights is not None and weights.shape == (1, 2, 6, 6)


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="k1"):
        hierarchical_topk(torch.randn(8), 4, 0, 2)
    with pytest.raises(ValueError, match="divisible"):
        BinaryCAMAttention(10, 3)
    with pytest.raises(ValueError, match="query"):
        BinaryCAMAttention(8, 2)(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match="key_padding_mask"):
        BinaryCAMAttention(8, 2)(torch.randn(2, 5, 8), key_padding_mask=torch.zeros(2, 4).bool())
    with pytest.raises(TypeError, match="floating"):
        binarize(torch.tensor([1, -1]))
