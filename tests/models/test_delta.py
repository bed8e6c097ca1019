"""Linear attention, DeltaNet (recurrent and chunked) and softmax kernel memory."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hopfield.metrics.snr import inverse_retrieval_snr
from hopfield.models.delta import (
    SoftmaxKernelMemory,
    delta_rule,
    delta_rule_chunked,
    delta_rule_sgd_step,
    kernel_attention,
    linear_attention,
)
from hopfield.models.linear import LinearAssociativeMemory


def _qkv(
    shape: tuple[int, ...], d_v: int, dtype: torch.dtype, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(shape, generator=g, dtype=dtype)
    k = torch.randn(shape, generator=g, dtype=dtype)
    k = k / k.norm(dim=-1, keepdim=True)
    v = torch.randn((*shape[:-1], d_v), generator=g, dtype=dtype)
    beta = torch.rand(shape[:-1], generator=g, dtype=dtype)
    return q, k, v, beta


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("length", [1, 37, 64])
@pytest.mark.parametrize("chunk_size", [1, 5, 16, 64])
def test_chunked_matches_recurrent(
    dtype: torch.dtype, tol: float, length: int, chunk_size: int
) -> None:
    q, k, v, beta = _qkv((2, 3, length, 12), 9, dtype, seed=length + chunk_size)
    start = 0.1 * torch.randn(2, 3, 9, 12, dtype=dtype)
    ref_out, ref_state = delta_rule(q, k, v, beta, initial_state=start)
    out, state = delta_rule_chunked(q, k, v, beta, chunk_size=chunk_size, initial_state=start)
    assert out.shape == (2, 3, length, 9) and state.shape == (2, 3, 9, 12)
    torch.testing.assert_close(out, ref_out, atol=tol, rtol=tol)
    torch.testing.assert_close(state, ref_state, atol=tol, rtol=tol)


@settings(max_examples=25)
@given(
    length=st.integers(1, 24),
    chunk=st.integers(1, 10),
    seed=st.integers(0, 10_000),
    scalar_beta=st.booleans(),
)
def test_chunked_matches_recurrent_property(
    length: int, chunk: int, seed: int, scalar_beta: bool
) -> None:
    q, k, v, beta = _qkv((1, length, 4), 3, torch.float64, seed)
    b: torch.Tensor | float = 0.8 if scalar_beta else beta
    ref, _ = delta_rule(q, k, v, b)
    out, _ = delta_rule_chunked(q, k, v, b, chunk_size=chunk)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)


def test_chunked_gradients_match_recurrent() -> None:
    q, k, v, beta = _qkv((2, 11, 5), 4, torch.float64, seed=3)
    grads = []
    for fn in (
        lambda *a: delta_rule(*a),
        lambda *a: delta_rule_chunked(*a, chunk_size=4),
    ):
        inputs = [x.clone().requires_grad_(True) for x in (q, k, v, beta)]
        out, state = fn(*inputs)
        (out.sin().sum() + state.square().sum()).backward()
        grads.append([x.grad for x in inputs])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_delta_update_equals_autograd_sgd_step() -> None:
    g = torch.Generator().manual_seed(0)
    state = torch.randn(3, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    key = torch.randn(3, 4, generator=g, dtype=torch.float64)
    value = torch.randn(3, 5, generator=g, dtype=torch.float64)
    beta = torch.tensor([0.3, 0.7, 1.2], dtype=torch.float64)
    loss = 0.5 * ((state @ key.unsqueeze(-1)).squeeze(-1) - value).square().sum(-1)
    (grad,) = torch.autograd.grad(loss.sum(), state)
    expected = state.detach() - beta[:, None, None] * grad
    torch.testing.assert_close(delta_rule_sgd_step(state.detach(), key, value, beta), expected)
    # the sequence form with T = 1 is the same step, read at the query
    query = torch.randn(3, 4, generator=g, dtype=torch.float64)
    out, final = delta_rule(
        query[:, None], key[:, None], value[:, None], beta[:, None], initial_state=state.detach()
    )
    torch.testing.assert_close(final, expected)
    torch.testing.assert_close(out[:, 0], (expected @ query.unsqueeze(-1)).squeeze(-1))


def test_delta_rule_equals_linear_memory_write_delta() -> None:
    q, k, v, _ = _qkv((20, 6), 5, torch.float64, seed=1)
    memory = LinearAssociativeMemory(6, 5).double()
    memory.write_delta(k, v, lr=0.7)
    out, state = delta_rule_chunked(q, k, v, 0.7, chunk_size=8)
    torch.testing.assert_close(state, memory.weight)
    torch.testing.assert_close(out[-1], memory.retrieve(q[-1:])[0])


def test_linear_attention_equals_hebbian_store_and_loop() -> None:
    q, k, v, _ = _qkv((2, 9, 4), 3, torch.float64, seed=2)
    out, state = linear_attention(q, k, v)
    memory = LinearAssociativeMemory(4, 3).double()
    memory.store(k[1], values=v[1])
    torch.testing.assert_close(state[1], memory.weight)
    running = torch.zeros(2, 3, 4, dtype=torch.float64)
    for t in range(9):
        running = running + v[:, t, :, None] * k[:, t, None, :]
        torch.testing.assert_close(out[:, t], (running @ q[:, t, :, None]).squeeze(-1))


def test_rewriting_a_key_overwrites_with_delta_and_sums_with_linear() -> None:
    g = torch.Generator().manual_seed(4)
    basis = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))[0].T
    keys = torch.cat([basis[:5], basis[2:3]])  # key 2 written twice
    values = torch.randn(6, 7, generator=g, dtype=torch.float64)
    _, delta_state = delta_rule(keys, keys, values, 1.0)
    _, linear_state = linear_attention(keys, keys, values)
    reads = basis[:5] @ delta_state.T
    expected = values[:5].clone()
    expected[2] = values[5]
    torch.testing.assert_close(reads, expected)  # exact recall, second value wins
    torch.testing.assert_close(basis[2] @ linear_state.T, values[2] + values[5])
    # the chunked form overwrites too
    _, chunked_state = delta_rule_chunked(keys, keys, values, 1.0, chunk_size=4)
    torch.testing.assert_close(basis[:5] @ chunked_state.T, expected)


@pytest.mark.parametrize(("count", "trials"), [(16, 200), (64, 40), (256, 10)])
def test_monte_carlo_inverse_snr_matches_load(count: int, trials: int) -> None:
    dim = 64
    g = torch.Generator().manual_seed(count)
    estimates = []
    for _ in range(trials):
        keys = torch.randn(count, dim, generator=g, dtype=torch.float64)
        keys = keys / keys.norm(dim=1, keepdim=True)
        values = torch.randn(count, dim, generator=g, dtype=torch.float64)
        _, state = linear_attention(keys, keys, values)
        memory = LinearAssociativeMemory(dim).double()
        memory.weight.copy_(state)
        estimates.append(inverse_retrieval_snr(memory, keys, values))
    mean = sum(estimates) / trials
    load = count / dim
    assert abs(mean - load) < 0.1 * load, (mean, load)


def test_softmax_kernel_attention_matches_sdpa() -> None:
    q, k, v, _ = _qkv((2, 2, 10, 8), 8, torch.float64, seed=5)
    out = kernel_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    explicit = kernel_attention(q, k, v, kernel=torch.exp, scale=1 / math.sqrt(8))
    torch.testing.assert_close(explicit, out)
    full = kernel_attention(q, k[..., :6, :], v[..., :6, :], causal=False, scale=2.0)
    weights = torch.softmax(2.0 * q @ k[..., :6, :].transpose(-2, -1), dim=-1)
    torch.testing.assert_close(full, weights @ v[..., :6, :])


def test_softmax_kernel_memory_appends_and_reads() -> None:
    g = torch.Generator().manual_seed(6)
    keys = torch.randn(7, 5, generator=g, dtype=torch.float64)
    values = torch.randn(7, 3, generator=g, dtype=torch.float64)
    memory = SoftmaxKernelMemory(5, 3, beta=2.5).double()
    memory.store(keys[:4], values[:4])
    memory.store(keys[4:], values[4:])
    assert memory.keys.shape == (7, 5)
    queries = torch.randn(2, 5, generator=g, dtype=torch.float64)
    kappa = torch.exp(2.5 * queries @ keys.T)
    expected = kappa @ values / kappa.sum(1, keepdim=True)
    torch.testing.assert_close(memory.retrieve(queries), expected)
    # sharp kernel + orthonormal keys: exact recall
    sharp = SoftmaxKernelMemory(5, 3, beta=200.0).double()
    sharp.store(torch.eye(5, dtype=torch.float64), values[:5])
    torch.testing.assert_close(sharp.retrieve(torch.eye(5, dtype=torch.float64)), values[:5])


def test_inputs_are_validated() -> None:
    q = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="q and k"):
        delta_rule(q, torch.randn(2, 5, 3), torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="v must"):
        linear_attention(q, q, torch.randn(2, 4, 4))
    with pytest.raises(ValueError, match="beta"):
        delta_rule(q, q, q, torch.rand(2, 4))
    with pytest.raises(ValueError, match="chunk_size"):
        delta_rule_chunked(q, q, q, chunk_size=0)
    with pytest.raises(ValueError, match="initial_state"):
        delta_rule_chunked(q, q, q, initial_state=torch.zeros(2, 4, 5))
    with pytest.raises(TypeError, match="floating"):
        linear_attention(q.long(), q, q)
    with pytest.raises(ValueError, match="empty"):
        SoftmaxKernelMemory(4, 4).retrieve(torch.randn(1, 4))
