"""Streaming kernels: chunked == dense reference, exact partial merging, β up to 1e6."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.ops.streaming import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    combine_lsr_partials,
    combine_partials,
    finalize_partials,
    lse_partials,
    lse_retrieve,
    lsr_partials,
    lsr_retrieve,
    polynomial_retrieve,
    resolve_chunk_size,
    separation_retrieve,
)


def _dense_lse(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, beta: float, similarity: str
) -> tuple[torch.Tensor, torch.Tensor]:
    if similarity == "dot":
        scores = beta * queries @ keys.T
    else:
        scores = -0.5 * beta * ((queries[:, None, :] - keys[None, :, :]) ** 2).sum(-1)
    return torch.softmax(scores, dim=1) @ values, torch.logsumexp(scores, dim=1)


def _dense_lsr(
    queries: torch.Tensor, keys: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    sq = ((queries[:, None, :] - keys[None, :, :]) ** 2).sum(-1)
    kernel = torch.relu(1 - 0.5 * beta * sq)
    active = (kernel > 0).double()
    return kernel.sum(1), active.sum(1), active @ keys


@settings(max_examples=40)
@given(
    batch=st.integers(1, 9),
    count=st.integers(1, 70),
    dim=st.integers(1, 12),
    chunk=st.integers(1, 80),
    beta=st.sampled_from([0.1, 1.0, 7.0]),
    similarity=st.sampled_from(["dot", "euclidean"]),
    seed=st.integers(0, 2**16),
)
def test_chunked_lse_matches_dense_softmax_for_any_chunk_size(
    batch: int, count: int, dim: int, chunk: int, beta: float, similarity: str, seed: int
) -> None:
    gen = torch.Generator().manual_seed(seed)
    queries = torch.randn(batch, dim, generator=gen, dtype=torch.float64)
    keys = torch.randn(count, dim, generator=gen, dtype=torch.float64)
    values = torch.randn(count, 3, generator=gen, dtype=torch.float64)
    out, lse = lse_retrieve(queries, keys, values, beta, similarity=similarity, chunk_size=chunk)
    ref_out, ref_lse = _dense_lse(queries, keys, values, beta, similarity)
    torch.testing.assert_close(out, ref_out, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(lse, ref_lse, rtol=1e-10, atol=1e-10)


@settings(max_examples=25)
@given(
    batch=st.integers(1, 6),
    count=st.integers(1, 60),
    chunk=st.integers(1, 64),
    seed=st.integers(0, 2**16),
)
def test_chunked_lse_float32_matches_unchunked(
    batch: int, count: int, chunk: int, seed: int
) -> None:
    gen = torch.Generator().manual_seed(seed)
    queries = torch.randn(batch, 16, generator=gen)
    keys = torch.randn(count, 16, generator=gen)
    whole, lse_whole = lse_retrieve(queries, keys, None, 0.5, chunk_size=count)
    chunked, lse_chunked = lse_retrieve(queries, keys, None, 0.5, chunk_size=chunk)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lse_chunked, lse_whole, rtol=1e-5, atol=1e-5)


def test_combine_partials_over_shards_equals_single_pass() -> None:
    gen = torch.Generator().manual_seed(1)
    queries = torch.randn(5, 8, generator=gen, dtype=torch.float64)
    keys = torch.randn(100, 8, generator=gen, dtype=torch.float64)
    shards = [keys[:10], keys[10:10], keys[10:73], keys[73:]]  # includes an empty shard
    parts = [lse_partials(queries, shard, shard, 2.0) for shard in shards]
    merged_out, merged_lse = finalize_partials(combine_partials(parts))
    out, lse = lse_retrieve(queries, keys, None, 2.0)
    assert merged_out is not None
    torch.testing.assert_close(merged_out, out)
    torch.testing.assert_close(merged_lse, lse)


def test_energy_only_pass_skips_values() -> None:
    queries, keys = torch.randn(3, 4), torch.randn(9, 4)
    parts = lse_partials(queries, keys, None, 1.0)
    assert parts.weighted is None
    torch.testing.assert_close(
        parts.max + parts.sumexp.log(), torch.logsumexp(queries @ keys.T, dim=1)
    )


@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
@pytest.mark.parametrize("beta", [1e3, 1e5, 1e6])
def test_lse_is_finite_and_hard_max_at_huge_beta(similarity: str, beta: float) -> None:
    gen = torch.Generator().manual_seed(2)
    keys = torch.sign(torch.randn(500, 64, generator=gen))
    queries = keys[:7] + 0.3 * torch.randn(7, 64, generator=gen)
    out, lse = lse_retrieve(queries, keys, None, beta, similarity=similarity, chunk_size=37)
    assert torch.isfinite(out).all() and torch.isfinite(lse).all()
    torch.testing.assert_close(out, keys[:7])


def test_lse_gradients_match_dense_reference_under_autograd() -> None:
    gen = torch.Generator().manual_seed(3)
    queries = torch.randn(4, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(30, 6, generator=gen, dtype=torch.float64)
    _, lse = lse_retrieve(queries, keys, None, 1.3, chunk_size=7)
    (grad,) = torch.autograd.grad(lse.sum(), queries)
    expected = 1.3 * torch.softmax(1.3 * queries.detach() @ keys.T, dim=1) @ keys
    torch.testing.assert_close(grad, expected)


@settings(max_examples=30)
@given(
    batch=st.integers(1, 6),
    count=st.integers(1, 50),
    chunk=st.integers(1, 60),
    beta=st.sampled_from([0.05, 0.3, 2.0]),
    seed=st.integers(0, 2**16),
)
def test_chunked_lsr_matches_dense_reference(
    batch: int, count: int, chunk: int, beta: float, seed: int
) -> None:
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randn(count, 5, generator=gen, dtype=torch.float64)
    queries = keys[torch.randint(0, count, (batch,), generator=gen)] + 0.7 * torch.randn(
        batch, 5, generator=gen, dtype=torch.float64
    )
    mean, sum_relu, num_active = lsr_retrieve(queries, keys, None, beta, chunk_size=chunk)
    ref_sum, ref_count, ref_active = _dense_lsr(queries, keys, beta)
    torch.testing.assert_close(sum_relu, ref_sum)
    torch.testing.assert_close(num_active, ref_count)
    expected_mean = ref_active / ref_count.clamp_min(1)[:, None]
    torch.testing.assert_close(mean, expected_mean)


def test_lsr_relu_weighting_and_shard_merge() -> None:
    gen = torch.Generator().manual_seed(4)
    keys = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    queries = keys[:5] + 0.2
    beta = 0.8
    whole = lsr_partials(queries, keys, keys, beta, weighting="relu")
    merged = combine_lsr_partials(
        [lsr_partials(queries, part, part, beta, weighting="relu") for part in keys.split(13)]
    )
    sq = torch.cdist(queries, keys).square()
    kernel = torch.relu(1 - 0.5 * beta * sq)
    assert whole.weighted is not None and merged.weighted is not None
    torch.testing.assert_close(whole.weighted, kernel @ keys)
    torch.testing.assert_close(merged.weighted, whole.weighted)
    torch.testing.assert_close(merged.sum_relu, whole.sum_relu)


def test_lsr_is_exact_at_beta_1e6() -> None:
    keys = torch.eye(8) * 10.0
    queries = keys[:3] + 1e-4
    mean, _, num_active = lsr_retrieve(queries, keys, None, 1e6, chunk_size=3)
    assert torch.equal(num_active, torch.ones(3))
    assert torch.equal(mean, keys[:3])


@pytest.mark.parametrize("rectified", [False, True])
def test_polynomial_field_matches_dense_reference(rectified: bool) -> None:
    gen = torch.Generator().manual_seed(5)
    queries = torch.randn(3, 10, generator=gen, dtype=torch.float64)
    keys = torch.randn(45, 10, generator=gen, dtype=torch.float64)
    field = polynomial_retrieve(queries, keys, None, 3, rectified=rectified, chunk_size=8)
    overlaps = queries @ keys.T
    base = overlaps.relu() if rectified else overlaps
    torch.testing.assert_close(field, 3 * base.square() @ keys)


def test_separation_field_is_the_energy_gradient() -> None:
    gen = torch.Generator().manual_seed(6)
    queries = torch.randn(2, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    energy = -((queries @ keys.T) ** 4).sum()
    (grad,) = torch.autograd.grad(energy, queries)
    field = separation_retrieve(queries.detach(), keys, None, lambda z: 4 * z**3, chunk_size=5)
    torch.testing.assert_close(field, -grad)


def test_chunk_size_respects_budget_and_explicit_override() -> None:
    chunk = resolve_chunk_size(1024, 10**6, 256, budget_bytes=2**20, device="cuda")
    assert 1024 * chunk * 4 <= 2**20
    assert resolve_chunk_size(4, 10, 8, chunk_size=3) == 3
    assert resolve_chunk_size(4, 10, 8, chunk_size=50) == 10
    # CPU key blocks: ~4 MiB for a few queries (dispatch-bound), ~1 MiB otherwise
    assert resolve_chunk_size(1, 10**6, 256) * 256 * 4 <= 4 * 2**20
    assert resolve_chunk_size(64, 10**6, 256) * 256 * 4 <= 2**20
    assert resolve_chunk_size(64, 10**6, 256) * 64 * 4 <= DEFAULT_MEMORY_BUDGET_BYTES
    with pytest.raises(ValueError, match="chunk_size"):
        resolve_chunk_size(1, 5, 2, chunk_size=0)


def test_bad_inputs_name_the_argument() -> None:
    keys = torch.randn(5, 4)
    with pytest.raises(ValueError, match=r"queries must have shape \(B, 4\)"):
        lse_retrieve(torch.randn(2, 3), keys, None, 1.0)
    with pytest.raises(ValueError, match="beta"):
        lse_retrieve(torch.randn(2, 4), keys, None, 0.0)
    with pytest.raises(ValueError, match="keys must hold at least one memory"):
        lse_retrieve(torch.randn(2, 4), keys[:0], None, 1.0)
    with pytest.raises(ValueError, match="similarity"):
        lse_retrieve(torch.randn(2, 4), keys, None, 1.0, similarity="cosine")
    with pytest.raises(ValueError, match=r"values must have shape \(5, Dv\)"):
        lse_retrieve(torch.randn(2, 4), keys, torch.randn(4, 2), 1.0)
    with pytest.raises(TypeError, match="queries"):
        lse_retrieve(torch.ones(2, 4, dtype=torch.long), keys, None, 1.0)
