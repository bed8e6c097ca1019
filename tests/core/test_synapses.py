"""Hypersynapses: closed-form gradients vs autograd (float64), explicit formulas, validation."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from hopfield.core.separation import (
    Exponential,
    Polynomial,
    RectifiedPolynomial,
    ReLUSquared,
    Separation,
)
from hopfield.core.synapses import (
    BiasSynapse,
    Conv2dSynapse,
    DenseMemorySynapse,
    DenseSynapse,
    Synapse,
)

Case = Callable[[torch.Generator], tuple[Synapse, tuple[torch.Tensor, ...]]]


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _param(synapse: Synapse, name: str) -> torch.Tensor:
    return synapse.get_parameter(name)


def _randomise(synapse: Synapse, gen: torch.Generator) -> Synapse:
    """float64 with every parameter drawn at random (so zero-initialised biases are tested)."""
    synapse = synapse.double()
    with torch.no_grad():
        for p in synapse.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.7)
    return synapse


def _dense_flat(gen: torch.Generator) -> tuple[Synapse, tuple[torch.Tensor, ...]]:
    return _randomise(DenseSynapse(5, 3), gen), (_randn(gen, 4, 5), _randn(gen, 4, 3))


def _dense_tokens(gen: torch.Generator) -> tuple[Synapse, tuple[torch.Tensor, ...]]:
    return _randomise(DenseSynapse(4, 6), gen), (_randn(gen, 3, 2, 7, 4), _randn(gen, 3, 2, 7, 6))


def _bias(gen: torch.Generator) -> tuple[Synapse, tuple[torch.Tensor, ...]]:
    return _randomise(BiasSynapse((3, 4)), gen), (_randn(gen, 5, 3, 4),)


def _conv(stride: int, padding: int, size: tuple[int, int]) -> Case:
    def case(gen: torch.Generator) -> tuple[Synapse, tuple[torch.Tensor, ...]]:
        conv = Conv2dSynapse(2, 3, 3, stride=stride, padding=padding)
        out = conv.output_size(*size)
        return _randomise(conv, gen), (_randn(gen, 2, 2, *size), _randn(gen, 2, 3, *out))

    return case


def _memory(separation: str | Separation, beta: float | None, tokens: bool) -> Case:
    def case(gen: torch.Generator) -> tuple[Synapse, tuple[torch.Tensor, ...]]:
        syn = DenseMemorySynapse(7, 5, beta=beta, separation=separation).double()
        g = _randn(gen, 3, 4, 5) if tokens else _randn(gen, 3, 5)
        with torch.no_grad():
            syn.memories.copy_(_randn(gen, 7, 5) * 0.5)
        return syn, (g,)

    return case


CASES: dict[str, Case] = {
    "dense": _dense_flat,
    "dense_tokens": _dense_tokens,
    "bias": _bias,
    "conv": _conv(1, 0, (6, 5)),
    "conv_padded": _conv(1, 1, (5, 6)),
    "conv_strided": _conv(2, 1, (7, 8)),  # needs output_padding (7 → 4 → 7, 8 → 4 → 8)
    "memory_lse": _memory("lse", None, False),
    "memory_lse_tokens_beta": _memory("lse", 3.5, True),
    "memory_poly3": _memory(Polynomial(3), None, False),
    "memory_rectpoly": _memory(RectifiedPolynomial(4), None, True),
    "memory_relu2": _memory(ReLUSquared(), None, True),
    "memory_exp": _memory(Exponential(0.8), None, False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_closed_form_grad_equals_autograd_float64(name: str) -> None:
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    synapse, acts = CASES[name](gen)
    closed = synapse.grad(*acts)
    reference = synapse.autograd_grad(*acts)
    assert len(closed) == len(reference) == len(acts)
    for c, r, g in zip(closed, reference, acts, strict=True):
        assert c.shape == g.shape
        assert r.abs().max() > 1e-3  # the comparison is not between zeros
        torch.testing.assert_close(c, r, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", list(CASES))
def test_closed_form_grad_is_differentiable_wrt_parameters(name: str) -> None:
    gen = torch.Generator().manual_seed(1 + zlib.crc32(name.encode()))
    synapse, acts = CASES[name](gen)
    params = [p for p in synapse.parameters() if p.requires_grad]
    closed = sum((g.sin().sum() for g in synapse.grad(*acts)), torch.zeros((), dtype=torch.float64))
    reference = sum(
        (g.sin().sum() for g in synapse.autograd_grad(*acts)), torch.zeros((), dtype=torch.float64)
    )
    for a, b in zip(
        torch.autograd.grad(closed, params), torch.autograd.grad(reference, params), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_energies_have_one_value_per_batch_element() -> None:
    gen = torch.Generator().manual_seed(3)
    for case in CASES.values():
        synapse, acts = case(gen)
        energy = synapse(*acts)
        assert energy.shape == (acts[0].shape[0],)
        assert energy.dtype == torch.float64


def test_dense_energy_matches_explicit_sum() -> None:
    gen = torch.Generator().manual_seed(4)
    synapse, (g1, g2) = _dense_tokens(gen)
    W = _param(synapse, "weight")
    expected = -torch.einsum("bsti,ij,bstj->b", g1, W, g2)
    torch.testing.assert_close(synapse.energy(g1, g2), expected, rtol=0, atol=1e-10)


def test_bias_energy_and_grad_are_minus_b() -> None:
    gen = torch.Generator().manual_seed(5)
    synapse, (g,) = _bias(gen)
    b = _param(synapse, "bias")
    torch.testing.assert_close(synapse.energy(g), -(g * b).sum(dim=(1, 2)))
    torch.testing.assert_close(synapse.grad(g)[0], -b.expand_as(g))


@pytest.mark.parametrize(
    ("stride", "padding", "size"), [(1, 0, (6, 5)), (2, 1, (7, 8)), (3, 2, (9, 10))]
)
def test_conv_grad_equals_conv_and_transposed_conv(
    stride: int, padding: int, size: tuple[int, int]
) -> None:
    gen = torch.Generator().manual_seed(6)
    synapse, (g1, g2) = _conv(stride, padding, size)(gen)
    W = _param(synapse, "weight")
    grad1, grad2 = synapse.grad(g1, g2)
    torch.testing.assert_close(grad2, -F.conv2d(g1, W, stride=stride, padding=padding))
    out_h, out_w = g2.shape[2:]
    output_padding = (
        size[0] - ((out_h - 1) * stride - 2 * padding + 3),
        size[1] - ((out_w - 1) * stride - 2 * padding + 3),
    )
    expected1 = -F.conv_transpose2d(
        g2, W, stride=stride, padding=padding, output_padding=output_padding
    )
    torch.testing.assert_close(grad1, expected1)
    # the transposed convolution is the adjoint: ⟨conv(a), b⟩ = ⟨a, convᵀ(b)⟩
    torch.testing.assert_close((g1 * -grad1).sum(), (g2 * -grad2).sum())
    torch.testing.assert_close(synapse.energy(g1, g2), (g2 * grad2).sum(dim=(1, 2, 3)))


def test_memory_lse_energy_matches_explicit_formula() -> None:
    gen = torch.Generator().manual_seed(7)
    synapse, (g,) = _memory("lse", 2.5, True)(gen)
    xi, beta = _param(synapse, "memories"), 2.5
    scores = torch.einsum("btd,md->btm", g, xi)
    expected = -(torch.log(torch.exp(beta * scores).sum(-1)) / beta).sum(-1)
    torch.testing.assert_close(synapse.energy(g), expected, rtol=0, atol=1e-10)


def test_memory_relu_squared_is_the_energy_transformer_hopfield_module() -> None:
    gen = torch.Generator().manual_seed(8)
    synapse, (g,) = _memory(ReLUSquared(), None, True)(gen)
    scores = torch.einsum("btd,md->btm", g, _param(synapse, "memories"))
    expected = -0.5 * torch.relu(scores).square().sum(dim=(1, 2))
    torch.testing.assert_close(synapse.energy(g), expected, rtol=0, atol=1e-10)
    assert bool((scores < 0).any()) and bool((scores > 0).any())  # both ReLU branches used


def test_memory_lse_is_stable_for_large_beta() -> None:
    gen = torch.Generator().manual_seed(9)
    synapse = DenseMemorySynapse(6, 8, beta=1e4, generator=gen)  # float32
    g = torch.randn(4, 8, generator=gen) * 10
    energy, (grad,) = synapse.energy(g), synapse.grad(g)
    assert bool(torch.isfinite(energy).all()) and bool(torch.isfinite(grad).all())
    # β → ∞: E → −max_μ ξ_μ·g and ∂E/∂g → −ξ_argmax
    scores = g @ synapse.memories.T
    torch.testing.assert_close(energy, -scores.max(dim=1).values, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(grad, -synapse.memories[scores.argmax(dim=1)], rtol=0, atol=1e-4)


def test_memory_learnable_beta_receives_gradient() -> None:
    synapse = DenseMemorySynapse(4, 3, beta=2.0, learnable_beta=True)
    assert isinstance(synapse.log_beta, torch.nn.Parameter)
    torch.testing.assert_close(synapse.beta, torch.tensor(2.0))
    synapse.grad(torch.randn(5, 3))[0].square().sum().backward()
    assert synapse.log_beta.grad is not None and float(synapse.log_beta.grad.abs()) > 0


def test_memory_from_memories_copies_patterns() -> None:
    patterns = torch.randn(3, 4)
    synapse = DenseMemorySynapse.from_memories(patterns, beta=5.0)
    torch.testing.assert_close(synapse.memories.detach(), patterns)
    assert synapse.memories.data_ptr() != patterns.data_ptr()
    assert float(synapse.beta) == 5.0


def test_generator_makes_initialisation_reproducible() -> None:
    a = DenseMemorySynapse(4, 3, generator=torch.Generator().manual_seed(1))
    b = DenseMemorySynapse(4, 3, generator=torch.Generator().manual_seed(1))
    c = DenseMemorySynapse(4, 3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.memories, b.memories) and not torch.equal(a.memories, c.memories)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: DenseSynapse(0, 3), ValueError, "in_features"),
        (lambda: DenseSynapse(2.0, 3), TypeError, "in_features"),  # type: ignore[arg-type]
        (lambda: BiasSynapse(()), ValueError, "shape"),
        (lambda: Conv2dSynapse(1, 1, 0), ValueError, "kernel_size"),
        (lambda: Conv2dSynapse(1, 1, (3, 3, 3)), TypeError, "kernel_size"),
        (lambda: DenseMemorySynapse(3, 4, separation="softmax"), ValueError, "separation"),
        (lambda: DenseMemorySynapse(3, 4, separation=torch.relu), TypeError, "separation"),  # type: ignore[arg-type]
        (lambda: DenseMemorySynapse(3, 4, beta=2.0, separation=ReLUSquared()), ValueError, "beta"),
        (lambda: DenseMemorySynapse(3, 4, beta=-1.0), ValueError, "beta"),
        (lambda: DenseMemorySynapse(3, 4, learnable_beta=1), TypeError, "learnable_beta"),  # type: ignore[arg-type]
    ],
)
def test_constructor_validation(build: Callable[[], object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_activation_validation_names_argument_and_shape() -> None:
    dense = DenseSynapse(3, 2)
    with pytest.raises(ValueError, match=r"g1 must have shape \(B, \.\.\., 3\)"):
        dense.energy(torch.randn(4, 5), torch.randn(4, 2))
    with pytest.raises(ValueError, match="leading dims"):
        dense.grad(torch.randn(4, 3), torch.randn(5, 2))
    with pytest.raises(ValueError, match="2 layers"):
        dense.energy(torch.randn(4, 3))
    with pytest.raises(TypeError, match="dtype"):
        dense.energy(torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"g must have shape \(B, 2, 3\)"):
        BiasSynapse((2, 3)).energy(torch.randn(4, 3, 2))
    with pytest.raises(ValueError, match="conv output shape"):
        Conv2dSynapse(1, 2, 3).grad(torch.randn(1, 1, 5, 5), torch.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"g must have shape \(B, \.\.\., 4\)"):
        DenseMemorySynapse(3, 4).energy(torch.randn(2, 5))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        DenseMemorySynapse(3, 4).grad([1.0, 2.0, 3.0, 4.0])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(CASES))
def test_fused_energy_and_grad_equals_separate_calls(name: str) -> None:
    gen = torch.Generator().manual_seed(2 + zlib.crc32(name.encode()))
    synapse, acts = CASES[name](gen)
    energy, grads = synapse.energy_and_grad(*acts)  # type: ignore[operator]
    torch.testing.assert_close(energy, synapse.energy(*acts), rtol=0, atol=1e-10)
    for fused, reference in zip(grads, synapse.autograd_grad(*acts), strict=True):
        torch.testing.assert_close(fused, reference, rtol=0, atol=1e-10)
