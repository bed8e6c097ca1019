"""Energy Transformer: energy attention, the recurrent block and the image model."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hopfield.core.graph import HAM
from hopfield.core.lagrangians import EnergyLayerNorm
from hopfield.core.neurons import Neurons
from hopfield.core.separation import RectifiedPolynomial, Separation
from hopfield.core.synapses.attention import EnergyAttention
from hopfield.models.energy_transformer import EnergyTransformer, EnergyTransformerBlock
from hopfield.models.energy_transformer_patches import random_patch_mask

D, H, Y, M = 12, 2, 6, 24


def _block(seed: int = 0, **kwargs: object) -> EnergyTransformerBlock:
    torch.manual_seed(seed)
    return EnergyTransformerBlock(D, H, Y, M, **kwargs).double()  # type: ignore[arg-type]


def _attention(seed: int = 0, **kwargs: object) -> EnergyAttention:
    torch.manual_seed(seed)
    return EnergyAttention(D, H, Y, init_std=0.5, **kwargs).double()  # type: ignore[arg-type]


# ----------------------------------------------------------------- attention


def _loop_energy(att: EnergyAttention, g: torch.Tensor, exclude_self: bool) -> torch.Tensor:
    """E_ATT by explicit sums over heads, queries C and keys B (B ≠ C when excluded)."""
    beta = att.beta
    energies = []
    for b in range(g.shape[0]):
        total = g.new_zeros(())
        for h in range(att.num_heads):
            k = g[b] @ att.key_weight[h].T
            q = g[b] @ att.query_weight[h].T
            for c in range(g.shape[1]):
                terms = [
                    torch.exp(beta * k[j] @ q[c])
                    for j in range(g.shape[1])
                    if not (exclude_self and j == c)
                ]
                total = total - torch.log(torch.stack(terms).sum()) / beta
        energies.append(total)
    return torch.stack(energies)


@pytest.mark.parametrize("exclude_self", [True, False])
def test_attention_energy_matches_explicit_sum(exclude_self: bool) -> None:
    att = _attention(exclude_self=exclude_self)
    g = torch.randn(2, 5, D, dtype=torch.float64)
    torch.testing.assert_close(att.energy(g), _loop_energy(att, g, exclude_self))


def test_attention_default_beta_is_inverse_sqrt_head_dim() -> None:
    assert math.isclose(EnergyAttention(D, H, Y).beta, 1 / math.sqrt(Y))


@pytest.mark.parametrize("exclude_self", [True, False])
def test_attention_closed_form_grad_matches_autograd(exclude_self: bool) -> None:
    att = _attention(exclude_self=exclude_self)
    g = torch.randn(3, 7, D, dtype=torch.float64)
    (closed,) = att.grad(g)
    (auto,) = att.autograd_grad(g)
    torch.testing.assert_close(closed, auto, rtol=1e-10, atol=1e-10)


def test_attention_grad_with_mask_and_empty_rows_matches_autograd() -> None:
    att = _attention()
    g = torch.randn(2, 6, D, dtype=torch.float64)
    mask = torch.rand(2, 6, 6) > 0.5
    mask[0, 2] = False  # query 2 of sample 0 sees no key: contributes 0
    energy, closed = att.energy_and_grad(g, mask=mask)
    (auto,) = att.autograd_grad(g, mask=mask)
    assert torch.isfinite(energy).all() and torch.isfinite(auto).all()
    torch.testing.assert_close(closed, auto, rtol=1e-10, atol=1e-10)


def test_attention_single_token_without_self_term_has_zero_energy_and_force() -> None:
    att = _attention()
    g = torch.randn(3, 1, D, dtype=torch.float64)
    energy, grad = att.energy_and_grad(g)
    assert torch.equal(energy, torch.zeros(3, dtype=torch.float64))
    assert torch.equal(grad, torch.zeros_like(g))


def test_attention_mask_all_true_equals_no_mask() -> None:
    att = _attention()
    g = torch.randn(2, 6, D, dtype=torch.float64)
    full = torch.ones(6, 6, dtype=torch.bool)
    torch.testing.assert_close(att.energy(g, mask=full), att.energy(g))


def _tied_attention_reference(att: EnergyAttention, g: torch.Tensor) -> torch.Tensor:
    """−∂E_ATT/∂ĝ written as attention without value weights (self term excluded).

    Query path: for each query token C, attend over keys B ≠ C with weights
    softmax_B(β K_B·Q_C) and values K_B, then project back with W_Qᵀ. Key path:
    token A as a key sends Σ_C A_{CA} Q_C back through W_Kᵀ.
    """
    tokens = g.shape[1]
    not_self = ~torch.eye(tokens, dtype=torch.bool)
    out = torch.zeros_like(g)
    for h in range(att.num_heads):
        wq, wk = att.query_weight[h], att.key_weight[h]
        q, k = g @ wq.T, g @ wk.T  # (B, T, Y)
        query_out = nn.functional.scaled_dot_product_attention(
            q, k, k, attn_mask=not_self, scale=att.beta
        )
        weights = torch.softmax(
            (att.beta * q @ k.transpose(1, 2)).masked_fill(~not_self, -math.inf), -1
        )
        key_out = torch.einsum("bca,bcy->bay", weights, q)
        out = out + query_out @ wq + key_out @ wk
    return out


def test_attention_force_is_tied_softmax_attention_without_values() -> None:
    att = _attention()
    g = torch.randn(2, 6, D, dtype=torch.float64)
    (grad,) = att.grad(g)
    torch.testing.assert_close(-grad, _tied_attention_reference(att, g))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((torch.randn(2, 5, D + 1),), ValueError),
        ((torch.randn(5, D),), ValueError),
        ((torch.randint(0, 2, (2, 5, D)),), TypeError),
        ((torch.randn(2, 5, D), torch.randn(2, 5, D)), ValueError),
    ],
)
def test_attention_rejects_bad_activations(args: tuple[torch.Tensor, ...], error: type) -> None:
    with pytest.raises(error, match=r"g|activation"):
        EnergyAttention(D, H, Y).energy(*args)


def test_attention_rejects_bad_mask() -> None:
    att = EnergyAttention(D, H, Y)
    g = torch.randn(2, 5, D)
    with pytest.raises(ValueError, match="mask"):
        att.energy(g, mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        att.energy(g, mask=torch.ones(5, 5))


# ---------------------------------------------------------------- Hopfield term


def test_hopfield_force_is_tied_relu_mlp() -> None:
    block = _block()
    g = torch.randn(2, 9, D, dtype=torch.float64)
    xi = block.hopfield.memories.detach()
    up = nn.Linear(D, M, bias=False).double()
    down = nn.Linear(M, D, bias=False).double()
    with torch.no_grad():
        up.weight.copy_(xi)
        down.weight.copy_(xi.T)
    mlp = down(torch.relu(up(g)))
    (grad,) = block.hopfield.grad(g)
    torch.testing.assert_close(-grad, mlp)
    (auto,) = block.hopfield.autograd_grad(g)
    torch.testing.assert_close(grad, auto)


# ----------------------------------------------------------------------- block


@pytest.mark.parametrize("separation", [None, "lse", RectifiedPolynomial(3)])
def test_block_closed_form_energy_and_grad_match_autograd(separation: object) -> None:
    block = _block(attention_init_std=0.4, separation=separation)
    x = torch.randn(3, 10, D, dtype=torch.float64)
    e_fast, g_fast = block.energy_and_grad(x)
    e_auto, g_auto = block.energy_and_grad(x, use_autograd=True)
    torch.testing.assert_close(e_fast, e_auto)
    torch.testing.assert_close(g_fast, g_auto, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(e_fast, block.energy(x))


def test_block_energy_terms_and_token_energies_add_up() -> None:
    block = _block(attention_init_std=0.4)
    with torch.no_grad():
        block.norm.delta.normal_()  # type: ignore[union-attr]
    x = torch.randn(2, 7, D, dtype=torch.float64)
    terms = block.energy_terms(x)
    var = x.var(dim=-1, unbiased=False)
    expected_norm = (-D * block.norm.eps / torch.sqrt(var + block.norm.eps)).sum(dim=1)
    torch.testing.assert_close(terms["norm"], expected_norm)
    torch.testing.assert_close(block.token_energies(x).sum(dim=1), block.energy(x))


def test_block_matches_ham_built_from_the_core() -> None:
    """The same energy as a HAM of EnergyLayerNorm neurons + attention + Hopfield synapses.

    The HAM's ∂E/∂ĝ contains the neuron term ``x`` (its leaky dynamics); the ET's
    update omits it, so ``HAM.grad − x`` equals the block's force.
    """
    block = _block(attention_init_std=0.4)
    ham = HAM(
        neurons={"tokens": Neurons((10, D), block.norm)},
        synapses={"attention": block.attention, "hopfield": block.hopfield},
        connections=[(("tokens",), "attention"), (("tokens",), "hopfield")],
    )
    x = torch.randn(2, 10, D, dtype=torch.float64)
    torch.testing.assert_close(ham.energy({"tokens": x}), block.energy(x))
    _, force = block.energy_and_grad(x)
    torch.testing.assert_close(ham.grad({"tokens": x})["tokens"] - x, force)
    assert isinstance(block.norm, EnergyLayerNorm)


@settings(max_examples=6)
@given(
    seed=st.integers(0, 10_000),
    attention_std=st.sampled_from([0.02, 0.3, 1.0]),
    memory_std=st.sampled_from([None, 1.0]),
    x_std=st.sampled_from([0.1, 1.0, 3.0]),
)
def test_energy_non_increasing_over_100_steps_random_models(
    seed: int, attention_std: float, memory_std: float | None, x_std: float
) -> None:
    """Plain Euler, α = 0.5, D=12, H=2, Y=6, M=24, 100 tokens, float64 (no guard).

    Not a theorem for finite α (see ``test_guard_needed_for_convex_hopfield_energy``);
    the tolerance only absorbs float64 round-off on energies of size up to ~1e5.
    """
    block = _block(seed, attention_init_std=attention_std, memory_init_std=memory_std)
    x = torch.randn(2, 100, D, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        energies = block.descend(x * x_std, steps=100, alpha=0.5).energies
    rises = energies[1:] - energies[:-1]
    tolerance = 1e-12 * energies.abs().max()
    assert rises.max() <= tolerance, f"energy rose by {rises.max():.3e}"
    assert energies[-1].lt(energies[0]).all()


class _ConvexSquare(Separation):
    """``F(z) = −z²``: a convex Hopfield energy ``+Σ(ξ·ĝ)²`` that plain Euler overshoots."""

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return -(z**2)

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        return -2 * z


def test_guard_needed_for_convex_hopfield_energy() -> None:
    """A finite Euler step can raise E; the guarded descent never does."""
    block = _block(3, separation=_ConvexSquare())
    x = torch.randn(2, 30, D, dtype=torch.float64)
    with torch.no_grad():
        plain = block.descend(x, steps=10, alpha=0.5).energies
        guarded = block.descend(x, steps=10, alpha=0.5, guarded=True).energies
    assert (plain[1:] - plain[:-1]).max() > 1.0
    assert (guarded[1:] - guarded[:-1]).max() <= 0.0
    assert guarded[-1].lt(guarded[0]).all()


def test_block_is_permutation_equivariant() -> None:
    block = _block(attention_init_std=0.4)
    x = torch.randn(2, 11, D, dtype=torch.float64)
    perm = torch.randperm(11)
    with torch.no_grad():
        out = block.descend(x, steps=5, alpha=0.3)
        out_perm = block.descend(x[:, perm], steps=5, alpha=0.3)
    torch.testing.assert_close(out_perm.tokens, out.tokens[:, perm])
    torch.testing.assert_close(out_perm.energies, out.energies)


def test_block_fast_and_autograd_descent_agree_and_backprop_equally() -> None:
    block = _block(attention_init_std=0.4)
    x = torch.randn(2, 6, D, dtype=torch.float64)
    losses = []
    grads = []
    for use_autograd in (False, True):
        block.zero_grad()
        out = block.descend(x, steps=3, alpha=0.5, use_autograd=use_autograd)
        loss = out.tokens.square().mean()
        loss.backward()  # type: ignore[no-untyped-call]
        losses.append(loss.detach())
        grads.append(block.attention.query_weight.grad.clone())  # type: ignore[union-attr]
    torch.testing.assert_close(losses[0], losses[1])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-8, atol=1e-10)


def test_block_rejects_bad_tokens_and_arguments() -> None:
    block = _block()
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 12\)"):
        block.energy(torch.randn(2, 5, D + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="alpha"):
        block.descend(torch.randn(1, 3, D, dtype=torch.float64), alpha=-1.0)
    with pytest.raises(ValueError, match="steps"):
        block.descend(torch.randn(1, 3, D, dtype=torch.float64), steps=-1)


# ----------------------------------------------------------------- image model


def _model(**kwargs: object) -> EnergyTransformer:
    torch.manual_seed(0)
    defaults: dict[str, object] = dict(
        image_size=8,
        patch_size=2,
        in_channels=1,
        num_features=16,
        num_heads=2,
        head_dim=4,
        num_memories=32,
        steps=4,
        alpha=0.5,
    )
    defaults.update(kwargs)
    return EnergyTransformer(**defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize(("size", "channels", "patch"), [(8, 1, 2), ((8, 12), 3, 4), (6, 3, 3)])
def test_model_shapes_for_any_divisible_size_and_channels(
    size: int | tuple[int, int], channels: int, patch: int
) -> None:
    model = _model(image_size=size, in_channels=channels, patch_size=patch)
    h, w = (size, size) if isinstance(size, int) else size
    images = torch.rand(3, channels, h, w)
    mask = random_patch_mask(3, model.num_patches, 0.5, generator=torch.Generator().manual_seed(1))
    out = model(images, mask)
    n = (h // patch) * (w // patch)
    assert out.patches.shape == (3, n, channels * patch * patch)
    assert out.tokens.shape == (3, n + 1, 16)
    assert out.energies.shape == (5, 3)
    assert model.to_images(out.patches).shape == images.shape
    assert model.inpaint(images, mask, out.patches).shape == images.shape


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(image_size=9), "divisible"),
        (dict(in_channels=2), "in_channels"),
        (dict(separation="cubic"), "separation"),
        (dict(alpha=0.0), "alpha"),
    ],
)
def test_model_rejects_bad_configuration(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _model(**kwargs)


def test_model_rejects_bad_images_and_masks() -> None:
    model = _model()
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(2, 1, 10, 8))
    with pytest.raises(ValueError, match="mask"):
        model(torch.rand(2, 1, 8, 8), torch.zeros(2, 15, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        model(torch.rand(2, 1, 8, 8), torch.zeros(2, 16))


def test_model_permutation_equivariant_without_position_embeddings() -> None:
    model = _model(position_embedding=False).double()
    images = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    mask = random_patch_mask(2, 16, 0.5, generator=torch.Generator().manual_seed(2))
    perm = torch.randperm(16)
    from hopfield.models.energy_transformer_patches import patchify, unpatchify

    permuted = unpatchify(patchify(images, 2)[:, perm], 2, 8, 1)
    with torch.no_grad():
        out = model(images, mask)
        out_perm = model(permuted, mask[:, perm])
    torch.testing.assert_close(out_perm.patches, out.patches[:, perm])


def test_model_fast_path_equals_autograd_path() -> None:
    model = _model().double()
    images = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    mask = random_patch_mask(2, 16, 0.5, generator=torch.Generator().manual_seed(3))
    fast = model(images, mask)
    auto = model(images, mask, use_autograd=True)
    torch.testing.assert_close(fast.patches, auto.patches)
    torch.testing.assert_close(fast.energies, auto.energies)


def test_model_save_load_round_trip_gives_identical_outputs(tmp_path: object) -> None:
    from pathlib import Path

    from hopfield import io

    model = _model()
    model.tokenizer.set_normalization([0.3], [0.2])
    path = Path(str(tmp_path)) / "et.safetensors"
    io.save(model, path)
    loaded = io.load(path)
    assert isinstance(loaded, EnergyTransformer)
    images = torch.rand(2, 1, 8, 8)
    mask = random_patch_mask(2, 16, 0.5, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(images, mask).patches, model(images, mask).patches, rtol=0, atol=0
        )
