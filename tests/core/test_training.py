"""Acceptance: a HAM trained by backprop through 3 guarded descent steps learns to clean
corrupted patterns (loss ≥ 5× lower), and its learnable β receives gradient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from hopfield.core import HAM, DenseMemorySynapse, Neurons, SphericalNorm, descend

DIM, NUM_PATTERNS, BATCH = 64, 16, 64


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    """Tiny tensors: one intra-op thread avoids thread wake-up latency on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _patterns(gen: torch.Generator) -> torch.Tensor:
    """``NUM_PATTERNS`` random ±1 patterns scaled to unit norm, ``(K, DIM)``."""
    signs = torch.randint(0, 2, (NUM_PATTERNS, DIM), generator=gen) * 2.0 - 1.0
    return signs / DIM**0.5


def _corrupt(clean: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip 15 % of the signs, zero 15 % of the entries, add Gaussian noise (std 0.3/√D)."""
    flips = torch.rand(clean.shape, generator=gen) < 0.15
    masked = torch.rand(clean.shape, generator=gen) < 0.15
    noisy = torch.where(flips, -clean, clean)
    noisy = torch.where(masked, torch.zeros_like(noisy), noisy)
    return noisy + 0.3 / DIM**0.5 * torch.randn(clean.shape, generator=gen)


def _batch(patterns: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.randint(0, NUM_PATTERNS, (BATCH,), generator=gen)
    clean = patterns[index]
    return _corrupt(clean, gen), clean


def _reconstruction_loss(ham: HAM, corrupted: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    result = descend(ham, {"v": corrupted}, steps=3, step_size=0.5)
    recalled = ham.activations(result.states)["v"]
    return (recalled - clean).square().sum(dim=1).mean()


def test_backprop_through_descent_learns_to_reconstruct_patterns() -> None:
    gen = torch.Generator().manual_seed(0)
    patterns = _patterns(gen)
    memory = DenseMemorySynapse(NUM_PATTERNS, DIM, beta=4.0, learnable_beta=True, generator=gen)
    # γ and δ of the norm are held fixed: the test isolates learning of Ξ and β
    ham = HAM(
        neurons={"v": Neurons(DIM, SphericalNorm(DIM, learnable=False))},
        synapses={"memory": memory},
        connections=[(("v",), "memory")],
    )
    eval_gen = torch.Generator().manual_seed(123)
    eval_corrupted, eval_clean = _batch(patterns, eval_gen)
    with torch.no_grad():
        initial = float(_reconstruction_loss(ham, eval_corrupted, eval_clean))

    optimizer = torch.optim.Adam(ham.parameters(), lr=0.01)
    beta_grads = []
    for _ in range(400):
        corrupted, clean = _batch(patterns, gen)
        optimizer.zero_grad()
        _reconstruction_loss(ham, corrupted, clean).backward()
        assert memory.log_beta.grad is not None
        beta_grads.append(float(memory.log_beta.grad))
        optimizer.step()

    with torch.no_grad():
        final = float(_reconstruction_loss(ham, eval_corrupted, eval_clean))
    assert final * 5 <= initial, f"loss {initial:.4f} -> {final:.4f}"
    assert beta_grads[0] != 0.0 and sum(abs(g) for g in beta_grads) > 0
    assert float(memory.beta.detach()) > 4.5  # β was learnt (sharper retrieval), not just present
