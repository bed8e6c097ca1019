"""Sparse (sparsemax / 1.5-entmax) and exact top-k retrieval in ModernHopfield."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.models.modern import ModernHopfield
from hopfield.ops.sparse_normalizers import entmax15, sparsemax

NORMALIZERS = ["softmax", "sparsemax", "entmax15"]


def _memory(patterns: torch.Tensor, beta: float = 1.0, **kwargs: object) -> ModernHopfield:
    model = ModernHopfield(beta, **kwargs)  # type: ignore[arg-type]
    model.store(patterns)
    return model


@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
@pytest.mark.parametrize("top_k", [25, 100])
def test_top_k_equal_to_memory_count_matches_full_retrieval(similarity: str, top_k: int) -> None:
    patterns = torch.randn(25, 6, dtype=torch.float64)
    queries = torch.randn(4, 6, dtype=torch.float64)
    full = _memory(patterns, 2.0, similarity=similarity)
    topk = _memory(patterns, 2.0, similarity=similarity, top_k=top_k, chunk_size=4)
    assert not topk.is_dense  # the streamed top-k kernel, with k = min(top_k, K) = K
    torch.testing.assert_close(topk.step(queries), full.step(queries))
    torch.testing.assert_close(topk.energy(queries), full.energy(queries))
    torch.testing.assert_close(topk.attention(queries), full.attention(queries))
    torch.testing.assert_close(
        topk.recall(queries, steps=5).states, full.recall(queries, steps=5).states
    )


@pytest.mark.parametrize("normalizer", NORMALIZERS)
@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
def test_top_k_output_depends_only_on_selected_memories(normalizer: str, similarity: str) -> None:
    centre = torch.randn(1, 8, dtype=torch.float64)
    near = centre + 0.3 * torch.randn(5, 8, dtype=torch.float64)
    far = 2.0 * torch.randn(40, 8, dtype=torch.float64) - centre
    patterns = torch.cat([near, far])
    queries = centre + 0.1 * torch.randn(3, 8, dtype=torch.float64)
    kwargs = {"similarity": similarity, "normalizer": normalizer, "top_k": 5, "chunk_size": 7}
    model = _memory(patterns, 1.0, **kwargs)
    weights = model.attention(queries)
    assert bool((weights[:, 5:] == 0).all())  # only the 5 near memories are selected
    perturbed = patterns.clone()
    perturbed[5:] += torch.randn(40, 8, dtype=torch.float64)
    other = _memory(perturbed, 1.0, **kwargs)
    assert torch.equal(model.step(queries), other.step(queries))
    assert torch.equal(model.energy(queries), other.energy(queries))
    if normalizer == "softmax":  # without top-k the far memories do contribute
        dense = _memory(patterns, 1.0, similarity=similarity)
        moved = _memory(perturbed, 1.0, similarity=similarity)
        assert not torch.allclose(dense.step(queries), moved.step(queries), rtol=0, atol=1e-12)


@pytest.mark.parametrize("normalizer", ["sparsemax", "entmax15"])
@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
@pytest.mark.parametrize("regime", ["peaked", "broad"])
def test_sparse_weights_are_exact_sum_to_one_and_have_zeros(
    normalizer: str, similarity: str, regime: str
) -> None:
    # "broad": a small β whose support exceeds the initial 16 candidates (k doubling)
    beta = 0.8 if regime == "peaked" else {"sparsemax": 0.02, "entmax15": 0.05}[normalizer]
    patterns = torch.randn(200, 12, dtype=torch.float64)
    queries = torch.randn(6, 12, dtype=torch.float64)
    model = _memory(patterns, beta, similarity=similarity, normalizer=normalizer, chunk_size=13)
    weights = model.attention(queries)
    if similarity == "dot":
        scores = beta * queries @ patterns.T
    else:
        scores = -0.5 * beta * torch.cdist(queries, patterns).square()
    if regime == "broad":
        assert bool((weights > 0).sum(dim=1).gt(16).all())
    expected = sparsemax(scores) if normalizer == "sparsemax" else entmax15(scores)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(6, dtype=torch.float64))
    assert bool((weights == 0).any(dim=1).all())
    assert bool((weights > 0).sum(dim=1).lt(200).all())
    torch.testing.assert_close(model.step(queries), weights @ patterns)


@pytest.mark.parametrize("normalizer", NORMALIZERS)
@pytest.mark.parametrize("top_k", [None, 4])
@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
def test_energy_grad_matches_autograd(normalizer: str, top_k: int | None, similarity: str) -> None:
    patterns = torch.randn(30, 5, dtype=torch.float64)
    model = _memory(patterns, 1.7, similarity=similarity, normalizer=normalizer, top_k=top_k)
    states = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(model.energy(states).sum(), states)
    torch.testing.assert_close(model.energy_grad(states.detach()), grad)


@settings(max_examples=40)
@given(
    normalizer=st.sampled_from(NORMALIZERS),
    similarity=st.sampled_from(["dot", "euclidean"]),
    top_k=st.sampled_from([None, 1, 3, 10]),
    beta=st.floats(0.05, 20.0),
    scale=st.floats(0.1, 5.0),
    seed=st.integers(0, 2**16),
)
def test_step_never_raises_energy(
    normalizer: str, similarity: str, top_k: int | None, beta: float, scale: float, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn(16, 6, generator=generator, dtype=torch.float64)
    states = scale * torch.randn(5, 6, generator=generator, dtype=torch.float64)
    model = _memory(
        patterns, beta, similarity=similarity, normalizer=normalizer, top_k=top_k, chunk_size=5
    )
    before = model.energy(states)
    after = model.energy(model.step(states))
    assert bool((after <= before + 1e-9 * (1 + before.abs())).all()), (before, after)


@pytest.mark.parametrize("normalizer", ["sparsemax", "entmax15"])
def test_sparse_recall_retrieves_stored_patterns(normalizer: str) -> None:
    patterns = torch.sign(torch.randn(20, 64, dtype=torch.float64))
    queries = patterns[:5] + 0.3 * torch.randn(5, 64, dtype=torch.float64)
    model = _memory(patterns, 0.5, normalizer=normalizer)
    result = model.recall(queries, max_steps=20)
    assert bool(result.converged.all())
    torch.testing.assert_close(result.states, patterns[:5])
    assert result.grad_norm is not None and float(result.grad_norm.max()) < 1e-6
    energies = result.energies
    assert bool((energies[1:] <= energies[:-1] + 1e-9).all())


def test_config_round_trip_and_validation() -> None:
    model = _memory(torch.randn(6, 3), 2.0, normalizer="entmax15", top_k=3)
    rebuilt = ModernHopfield(**model.get_config())
    rebuilt.load_state_dict(model.state_dict())
    queries = torch.randn(2, 3)
    torch.testing.assert_close(rebuilt.step(queries), model.step(queries))
    assert "normalizer='entmax15'" in repr(model) and "top_k=3" in repr(model)
    with pytest.raises(ValueError, match="normalizer"):
        ModernHopfield(normalizer="relu")
    with pytest.raises(ValueError, match="top_k"):
        ModernHopfield(top_k=0)
    with pytest.raises(ValueError, match="top_k"):
        ModernHopfield(top_k=True)
