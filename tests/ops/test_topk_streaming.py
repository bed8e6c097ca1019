"""Streamed exact top-k and sparse (sparsemax / 1.5-entmax) retrieval kernels."""

from __future__ import annotations

import pytest
import torch

from hopfield.ops.sparse_normalizers import entmax15, sparsemax
from hopfield.ops.streaming import (
    lse_retrieve,
    merge_topk,
    support_retrieve,
    topk_retrieve,
    topk_scores,
)


def _full_scores(
    queries: torch.Tensor, keys: torch.Tensor, beta: float, similarity: str
) -> torch.Tensor:
    if similarity == "dot":
        return beta * queries @ keys.T
    return -0.5 * beta * torch.cdist(queries, keys).square()


@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 16, 33, 64, 200, None])
@pytest.mark.parametrize("k", [1, 5, 40])
def test_streamed_topk_equals_torch_topk(similarity: str, chunk_size: int | None, k: int) -> None:
    queries = torch.randn(6, 9, dtype=torch.float64)
    keys = torch.randn(97, 9, dtype=torch.float64)
    scores, indices = topk_scores(
        queries, keys, 1.7, k, similarity=similarity, chunk_size=chunk_size
    )
    expected, expected_idx = torch.topk(_full_scores(queries, keys, 1.7, similarity), k, dim=1)
    assert torch.equal(indices, expected_idx)
    torch.testing.assert_close(scores, expected)


def test_streamed_topk_with_budget_instead_of_chunk_size() -> None:
    queries, keys = torch.randn(4, 5), torch.randn(300, 5)
    _, indices = topk_scores(queries, keys, 1.0, 7, budget_bytes=4 * 4 * 10)  # 10 rows a chunk
    assert torch.equal(indices, torch.topk(queries @ keys.T, 7, dim=1).indices)


@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
def test_topk_with_k_equal_to_memory_count_is_full_softmax_retrieval(similarity: str) -> None:
    queries = torch.randn(5, 8, dtype=torch.float64)
    keys = torch.randn(30, 8, dtype=torch.float64)
    result = topk_retrieve(queries, keys, None, 2.0, 30, similarity=similarity, chunk_size=7)
    output, logsumexp = lse_retrieve(queries, keys, None, 2.0, similarity=similarity)
    torch.testing.assert_close(result.output, output)
    torch.testing.assert_close(result.max_value, logsumexp)
    torch.testing.assert_close(result.weights.sum(dim=1), torch.ones(5, dtype=torch.float64))


def test_topk_output_ignores_unselected_memories() -> None:
    queries = torch.randn(3, 6, dtype=torch.float64)
    keys = torch.randn(50, 6, dtype=torch.float64)
    values = torch.randn(50, 4, dtype=torch.float64)
    result = topk_retrieve(queries, keys, values, 3.0, 4, chunk_size=9)
    unselected = torch.ones(50, dtype=torch.bool)
    unselected[result.indices.flatten()] = False
    # Shrink the unselected keys (their scores fall further) and scramble their values.
    keys2, values2 = keys.clone(), values.clone()
    keys2[unselected] *= 0.5 * torch.rand(int(unselected.sum()), 1, dtype=torch.float64)
    keys2[unselected] -= 0.01 * queries.mean(dim=0)
    values2[unselected] = 1e3 * torch.randn(int(unselected.sum()), 4, dtype=torch.float64)
    again = topk_retrieve(queries, keys2, values2, 3.0, 4, chunk_size=9)
    assert torch.equal(again.indices, result.indices)
    assert torch.equal(again.output, result.output)
    # and k < K really differs from the dense softmax retrieval
    dense, _ = lse_retrieve(queries, keys, values, 3.0)
    assert not torch.allclose(dense, result.output)


@pytest.mark.parametrize("normalizer", ["sparsemax", "entmax15"])
@pytest.mark.parametrize("initial_k", [1, 4, 500])
def test_support_retrieve_is_exact_over_all_memories(normalizer: str, initial_k: int) -> None:
    queries = torch.randn(7, 10, dtype=torch.float64)
    keys = torch.randn(300, 10, dtype=torch.float64)
    result = support_retrieve(
        queries, keys, None, 1.5, normalizer=normalizer, initial_k=initial_k, chunk_size=17
    )
    full = _full_scores(queries, keys, 1.5, "dot")
    weights = sparsemax(full) if normalizer == "sparsemax" else entmax15(full)
    dense = torch.zeros_like(weights).scatter(1, result.indices, result.weights)
    torch.testing.assert_close(dense, weights)
    torch.testing.assert_close(result.output, weights @ keys)
    torch.testing.assert_close(result.weights.sum(dim=1), torch.ones(7, dtype=torch.float64))
    assert bool((weights == 0).any(dim=1).all())  # exact zeros in every row


def test_topk_retrieve_gradients_match_dense_masked_autograd() -> None:
    queries = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(20, 5, dtype=torch.float64)
    result = topk_retrieve(queries, keys, None, 1.3, 6, normalizer="entmax15", chunk_size=4)
    (result.output.square().sum() + result.max_value.sum()).backward()
    assert queries.grad is not None
    streamed = queries.grad.clone()
    queries.grad = None
    scores = 1.3 * queries @ keys.T
    masked = torch.full_like(scores, float("-inf")).scatter(
        1, result.indices, scores.gather(1, result.indices)
    )
    selected = masked.gather(1, result.indices)
    weights = entmax15(selected)
    output = torch.einsum("bk,bkd->bd", weights, keys[result.indices])
    value = (weights * selected).sum(1) + (1 - weights.pow(1.5).sum(1)) / 0.75
    (output.square().sum() + value.sum()).backward()
    torch.testing.assert_close(streamed, queries.grad)


def test_validation_errors_name_the_argument() -> None:
    queries, keys = torch.randn(2, 3), torch.randn(5, 3)
    with pytest.raises(ValueError, match="k must lie in"):
        topk_scores(queries, keys, 1.0, 6)
    with pytest.raises(ValueError, match="k must lie in"):
        topk_scores(queries, keys, 1.0, 0)
    with pytest.raises(TypeError, match="k must be an int"):
        topk_scores(queries, keys, 1.0, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalizer"):
        topk_retrieve(queries, keys, None, 1.0, 2, normalizer="relu")
    with pytest.raises(ValueError, match="normalizer"):
        support_retrieve(queries, keys, None, 1.0, normalizer="softmax")
    with pytest.raises(ValueError, match="initial_k"):
        support_retrieve(queries, keys, None, 1.0, initial_k=0)
    with pytest.raises(ValueError, match="queries must have shape"):
        topk_scores(torch.randn(2, 4), keys, 1.0, 2)
    with pytest.raises(ValueError, match="beta"):
        topk_scores(queries, keys, -1.0, 2)


def test_merge_topk_over_chunks_equals_full_topk_with_payloads() -> None:
    generator = torch.Generator().manual_seed(7)
    scores = torch.randn(3, 50, generator=generator, dtype=torch.float64)
    rows = torch.randn(3, 50, 4, generator=generator, dtype=torch.float64)
    indices = torch.arange(50).expand(3, 50)
    best: tuple[torch.Tensor, ...] | None = None
    for start in range(0, 50, 7):  # uneven chunks, the last one short
        part = slice(start, start + 7)
        chunk = (scores[:, part], indices[:, part], rows[:, part])
        best = chunk if best is None else merge_topk(best, chunk, 5)
    assert best is not None
    top, expected = scores.topk(5, dim=1)
    torch.testing.assert_close(best[0], top)
    assert torch.equal(best[1], expected)
    torch.testing.assert_close(best[2], rows.gather(1, expected[:, :, None].expand(-1, -1, 4)))


def test_merge_topk_rejects_bad_arguments() -> None:
    scores = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="k must be"):
        merge_topk((scores,), (scores,), 0)
    with pytest.raises(ValueError, match="same length"):
        merge_topk((scores, scores), (scores,), 2)
    with pytest.raises(ValueError):
        merge_topk((scores, torch.zeros(2, 4)), (scores, torch.zeros(2, 3)), 2)
