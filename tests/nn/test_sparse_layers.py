"""Sparse retrieval in hopfield.nn: top-k, sparsemax / entmax-1.5, custom association."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.nn import Hopfield, HopfieldLayer, HopfieldPooling, lse_energy, regularized_max_energy
from hopfield.nn.binary_attention import BinaryCAMAssociation
from hopfield.nn.hopfield import topk_mask_scores


def _data(
    seed: int, batch: int = 3, lq: int = 4, lk: int = 9, dim: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, lq, dim, generator=gen, dtype=torch.float64)
    key = torch.randn(batch, lk, dim, generator=gen, dtype=torch.float64)
    return query, key


def _layer(seed: int, **options: object) -> Hopfield:
    torch.manual_seed(seed)
    return Hopfield(8, num_heads=2, beta=0.7, **options).double()  # type: ignore[arg-type]


@pytest.mark.parametrize("normalizer", ["softmax", "sparsemax", "entmax15"])
def test_top_k_equal_to_num_memories_is_full_retrieval(normalizer: str) -> None:
    query, key = _data(0)
    full = _layer(1, normalizer=normalizer)
    topk = _layer(1, normalizer=normalizer, top_k=key.shape[1])
    torch.testing.assert_close(topk(query, key), full(query, key))


def test_softmax_top_k_matches_explicit_reference() -> None:
    query, key = _data(2)
    layer = _layer(3, top_k=3, update_steps=2)
    out, weights = layer(query, key, need_weights=True)
    # reference: per head, recompute scores, keep 3 largest, softmax, read values
    q = layer.query_proj(query).view(3, 4, 2, 4).transpose(1, 2)
    k = layer.key_proj(key).view(3, 9, 2, 4).transpose(1, 2)
    v = layer.value_proj(key).view(3, 9, 2, 4).transpose(1, 2)
    for _ in range(1):  # one state update, then the read-out
        s = 0.7 * q @ k.transpose(-2, -1)
        thresh = s.sort(dim=-1, descending=True).values[..., 2:3]
        q = torch.softmax(s.masked_fill(s < thresh, float("-inf")), -1) @ k
    s = 0.7 * q @ k.transpose(-2, -1)
    thresh = s.sort(dim=-1, descending=True).values[..., 2:3]
    w = torch.softmax(s.masked_fill(s < thresh, float("-inf")), -1)
    expected = layer.out_proj((w @ v).transpose(1, 2).reshape(3, 4, 8))
    torch.testing.assert_close(weights, w)
    torch.testing.assert_close(out, expected)
    assert int((weights > 0).sum(-1).max()) == 3


@pytest.mark.parametrize("normalizer", ["softmax", "sparsemax", "entmax15"])
def test_top_k_output_ignores_unselected_memories(normalizer: str) -> None:
    torch.manual_seed(4)
    layer = Hopfield(8, num_heads=1, beta=2.0, project_patterns=False,
                     normalizer=normalizer, top_k=3).double()  # fmt: skip
    query, key = _data(5, lq=1)
    out, weights = layer(query, key, need_weights=True)
    selected = weights[:, 0, 0] > 0
    assert int(selected.sum(-1).max()) <= 3
    # perturb every memory outside the top 3 downward (stays outside the top 3)
    scores = (2.0 * query @ key.transpose(1, 2))[:, 0]
    third = scores.topk(3, dim=-1).values[:, -1:]
    outside = scores < third
    noise = 0.1 * torch.randn(
        key.shape, generator=torch.Generator().manual_seed(0), dtype=key.dtype
    )
    noisy = key + outside[..., None] * (noise - 5.0 * query)  # lowers their scores further
    new_scores = (2.0 * query @ noisy.transpose(1, 2))[:, 0]
    assert bool((new_scores[outside] < third.expand_as(new_scores)[outside]).all())
    torch.testing.assert_close(layer(query, noisy), out)
    # without top-k the same perturbation does change the softmax output
    if normalizer == "softmax":
        dense = Hopfield(8, num_heads=1, beta=2.0, project_patterns=False).double()
        assert not torch.allclose(dense(query, noisy), dense(query, key))


def test_top_k_gradients_reach_only_selected_memories() -> None:
    torch.manual_seed(6)
    layer = Hopfield(8, project_patterns=False, beta=1.0, top_k=2).double()
    query, key = _data(7, batch=1, lq=1)
    key = key.requires_grad_(True)
    layer(query, key).sum().backward()
    assert key.grad is not None
    touched = key.grad.abs().sum(-1)[0] > 0
    assert int(touched.sum()) == 2


@pytest.mark.parametrize("normalizer", ["sparsemax", "entmax15"])
def test_sparse_normalizers_sum_to_one_with_exact_zeros(normalizer: str) -> None:
    torch.manual_seed(8)
    layer = Hopfield(8, num_heads=2, beta=4.0, normalizer=normalizer)
    query, key = (t.float() for t in _data(9, lk=32))
    _, weights = layer(query, key, need_weights=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    assert bool((weights >= 0).all())
    assert int((weights == 0).sum()) > 0  # exact zeros
    # softmax never gives exact zeros at this β
    _, dense = Hopfield(8, num_heads=2, beta=4.0)(query, key, need_weights=True)
    assert int((dense == 0).sum()) == 0


def test_sparsemax_layer_matches_closed_form_and_is_differentiable() -> None:
    torch.manual_seed(10)
    layer = Hopfield(8, beta=3.0, project_patterns=False, normalizer="sparsemax").double()
    query, key = _data(11, lq=2)
    key = key.requires_grad_(True)
    out, weights = layer(query, key, need_weights=True)
    scores = 3.0 * query @ key.detach().transpose(1, 2)
    p = weights[:, 0]
    # sparsemax: p = [z − τ]₊, so z − p equals τ on the support and z ≤ τ off it
    gap = scores - p
    support = p > 0
    tau = gap.masked_fill(~support, float("nan")).nanmean(-1, keepdim=True)
    torch.testing.assert_close(gap[support], tau.expand_as(gap)[support])
    assert bool((scores[~support] <= tau.expand_as(gap)[~support] + 1e-12).all())
    assert int((~support).sum()) > 0
    torch.testing.assert_close(out, weights[:, 0] @ key.detach())
    out.sum().backward()
    assert key.grad is not None and bool(torch.isfinite(key.grad).all())


def test_masked_memories_get_zero_weight_with_sparse_normalizer() -> None:
    torch.manual_seed(12)
    layer = Hopfield(8, num_heads=2, normalizer="entmax15", top_k=4)
    query, key = (t.float() for t in _data(13))
    pad = torch.zeros(3, 9, dtype=torch.bool)
    pad[:, -3:] = True
    _, weights = layer(query, key, key_padding_mask=pad, need_weights=True)
    assert bool((weights[..., -3:] == 0).all())
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


def test_topk_mask_scores_keeps_k_largest() -> None:
    scores = torch.tensor([[3.0, -1.0, 2.0, 0.5]])
    kept = topk_mask_scores(scores, 2)
    assert kept.tolist() == [[3.0, float("-inf"), 2.0, float("-inf")]]
    assert topk_mask_scores(scores, 10) is scores


def test_binary_cam_association_plugs_into_hopfield() -> None:
    torch.manual_seed(14)
    assoc = BinaryCAMAssociation(tile=16, k1=2, k2=32)
    layer = Hopfield(16, num_heads=2, association=assoc, update_steps=2)
    x = torch.randn(2, 64, 16, requires_grad=True)
    out, weights = layer(x, need_weights=True)
    assert out.shape == (2, 64, 16) and weights.shape == (2, 2, 64, 64)
    assert int((weights > 0).sum(-1).max()) <= 32  # at most k2 memories per query
    out.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    with pytest.raises(ValueError, match="association"):
        layer.get_config()


def test_pooling_and_lookup_forward_sparse_options() -> None:
    torch.manual_seed(15)
    pool = HopfieldPooling(8, num_queries=2, normalizer="sparsemax", beta=5.0)
    bag = torch.randn(3, 20, 8)
    weights = pool.attention(bag)
    assert int((weights == 0).sum()) > 0
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    assert HopfieldPooling(**pool.get_config()).hopfield.normalizer == "sparsemax"
    lookup = HopfieldLayer(8, 16, top_k=3)
    lw = lookup.attention(torch.randn(4, 8))
    assert int((lw > 0).sum(-1).max()) == 3
    assert HopfieldLayer(**lookup.get_config()).hopfield.top_k == 3


def test_sparse_options_are_validated() -> None:
    with pytest.raises(ValueError, match="normalizer"):
        Hopfield(8, normalizer="softmin")
    with pytest.raises(ValueError, match="top_k"):
        Hopfield(8, top_k=0)
    with pytest.raises(TypeError, match="top_k"):
        Hopfield(8, top_k=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="association"):
        Hopfield(8, association=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="association"):
        Hopfield(8, association=BinaryCAMAssociation(), top_k=2)


# --------------------------------------------------------------------------- energies


def test_regularized_max_energy_softmax_is_lse() -> None:
    state, stored = _data(16)
    torch.testing.assert_close(
        regularized_max_energy(state, stored, 0.8), lse_energy(state, stored, 0.8)
    )


@pytest.mark.parametrize("normalizer", ["softmax", "sparsemax", "entmax15"])
@pytest.mark.parametrize("top_k", [None, 3])
def test_energy_gradient_is_state_minus_retrieval(normalizer: str, top_k: int | None) -> None:
    """Danskin: ∂E/∂ξ = ξ − Kᵀ p*(β Kξ), checked against autograd in float64."""
    state, stored = _data(17)
    state = state.requires_grad_(True)
    beta = 1.3
    energy = regularized_max_energy(state, stored, beta, normalizer, top_k=top_k)
    (grad,) = torch.autograd.grad(energy.sum(), state)
    layer = Hopfield(8, beta=beta, project_patterns=False, normalizer=normalizer, top_k=top_k)
    retrieved, _ = layer._associate(state.detach(), stored, stored, None, beta, 0.0, False)
    torch.testing.assert_close(grad, state.detach() - retrieved)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    beta=st.floats(0.1, 8.0),
    normalizer=st.sampled_from(["softmax", "sparsemax", "entmax15"]),
    top_k=st.sampled_from([None, 1, 2, 5]),
)
def test_state_updates_never_raise_the_energy(
    seed: int, beta: float, normalizer: str, top_k: int | None
) -> None:
    layer = Hopfield(
        6, beta=beta, project_patterns=False, normalizer=normalizer, top_k=top_k
    ).double()
    gen = torch.Generator().manual_seed(seed)
    stored = torch.randn(2, 10, 6, generator=gen, dtype=torch.float64)
    state = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64)
    energies = [layer.energy(state, stored)]
    for _ in range(6):
        state, _ = layer._associate(
            state[:, None], stored[:, None], stored[:, None], None, beta, 0.0, False
        )
        state = state[:, 0]
        energies.append(layer.energy(state, stored))
    trace = torch.stack(energies)
    assert bool((trace.diff(dim=0) <= 1e-9 * (1 + trace[:-1].abs())).all())


def test_energy_of_custom_association_is_undefined() -> None:
    layer = Hopfield(16, association=BinaryCAMAssociation())
    with pytest.raises(ValueError, match="association"):
        layer.energy(torch.randn(1, 4, 16))
