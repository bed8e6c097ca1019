"""GAM block and language models (Acharya 2025), and the offline byte-level corpus."""

from __future__ import annotations

import pytest
import torch

from hopfield.data.text import (
    BYTE_VOCAB_SIZE,
    ByteTokenizer,
    load_corpus,
    random_windows,
    train_val_split,
)
from hopfield.nn.gam import GAMBlock, GAMLanguageModel, TransformerLanguageModel, count_parameters


def _block(d: int = 8, slots: int = 5, kernel: int = 3) -> GAMBlock:
    torch.manual_seed(0)
    return GAMBlock(d, slots, kernel, dropout=0.0).double().eval()


@torch.no_grad()
def test_block_matches_equations_recomputed_by_hand() -> None:
    block = _block()
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    x_n = torch.nn.functional.layer_norm(x, (8,), block.norm1.weight, block.norm1.bias)
    w = block.local_conv.weight[:, 0, :]  # (d, k)
    local = torch.zeros_like(x_n)
    for t in range(7):
        for i in range(3):  # tap i multiplies x_n[t - (k - 1) + i]
            s = t - 2 + i
            if s >= 0:
                local[:, t] += w[:, i] * x_n[:, s]
    local += block.local_conv.bias
    memory = block.memory
    weights = torch.exp(x_n @ memory.T)
    glob = (weights / weights.sum(-1, keepdim=True)) @ memory
    gates = x_n @ block.gate.weight.T + block.gate.bias
    fused = torch.sigmoid(gates[..., :8]) * local + torch.sigmoid(gates[..., 8:]) * glob
    h = x + fused
    expected = h + block.ffn(block.norm2(h))
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-12)


@torch.no_grad()
def test_block_is_causal_and_sees_exactly_its_kernel_window() -> None:
    block = _block(kernel=3)
    x = torch.randn(1, 12, 8, dtype=torch.float64)
    base = block(x)
    for t in range(11):
        changed = x.clone()
        changed[:, t + 1 :] += torch.randn_like(changed[:, t + 1 :])
        torch.testing.assert_close(block(changed)[:, : t + 1], base[:, : t + 1], rtol=0, atol=0)
    # position 5 influences outputs 5, 6, 7 (k = 3) and nothing later
    poked = x.clone()
    poked[:, 5] += torch.randn(8, dtype=torch.float64)  # not a constant: LN removes those
    moved = (block(poked) - base).abs().amax(dim=-1)[0]
    assert bool((moved[5:8] > 1e-6).all())
    assert float(moved[8:].max()) == 0.0


@torch.no_grad()
def test_language_model_is_causal_with_receptive_field_layers_times_k_minus_1() -> None:
    torch.manual_seed(1)
    model = GAMLanguageModel(50, 16, num_layers=2, num_slots=8, kernel_size=3, context_length=32)
    model = model.double().eval()
    tokens = torch.randint(0, 50, (2, 32))
    base = model(tokens)
    changed = tokens.clone()
    changed[:, 20:] = (changed[:, 20:] + 7) % 50
    out = model(changed)
    assert torch.equal(out[:, :20], base[:, :20])
    assert float((out[:, 20] - base[:, 20]).abs().max()) > 1e-6
    # a change at position 3 reaches at most 2·(3 − 1) positions further: 3 … 7
    poked = tokens.clone()
    poked[:, 3] = (poked[:, 3] + 1) % 50
    moved = (model(poked) - base).abs().amax(dim=(0, 2))
    assert float(moved[7]) > 1e-8 and float(moved[8:].max()) == 0.0


@torch.no_grad()
def test_transformer_baseline_is_causal_but_attends_across_the_context() -> None:
    torch.manual_seed(2)
    model = TransformerLanguageModel(50, 16, num_layers=2, num_heads=2, context_length=32)
    model = model.double().eval()
    tokens = torch.randint(0, 50, (1, 32))
    base = model(tokens)
    changed = tokens.clone()
    changed[:, 3] = (changed[:, 3] + 1) % 50
    out = model(changed)
    torch.testing.assert_close(out[:, :3], base[:, :3], rtol=0, atol=1e-12)
    assert float((out[:, 31] - base[:, 31]).abs().max()) > 1e-8  # far beyond any conv window


@torch.no_grad()
def test_slot_memory_path_is_per_token_and_ablations_drop_one_path() -> None:
    torch.manual_seed(4)
    x = torch.randn(2, 10, 8, dtype=torch.float64)
    poked = x.clone()
    poked[:, 4] += torch.randn(8, dtype=torch.float64)
    memory_only = GAMBlock(8, 5, 3, 0.0, local=False).double().eval()
    moved = (memory_only(poked) - memory_only(x)).abs().amax(dim=(0, 2))
    assert float(moved[4]) > 1e-6  # the slot memory reads position 4 …
    assert float(torch.cat([moved[:4], moved[5:]]).max()) == 0.0  # … and nothing else moves
    local_only = GAMBlock(8, 5, 3, 0.0, slot_memory=False).double().eval()
    assert local_only.memory is None and local_only.gate.out_features == 8
    moved = (local_only(poked) - local_only(x)).abs().amax(dim=(0, 2))
    assert bool((moved[4:7] > 1e-6).all()) and float(moved[7:].max()) == 0.0
    full = _block()
    both = sum(p.numel() for p in full.parameters())
    assert sum(p.numel() for p in local_only.parameters()) == both - 5 * 8 - 8 * 8 - 8
    # local-only by hand: x + σ(W_g x_n + b)⊙conv(x_n), then the FFN
    x_n = local_only.norm1(x)
    h = x + torch.sigmoid(local_only.gate(x_n)) * local_only.local_path(x_n)
    torch.testing.assert_close(local_only(x), h + local_only.ffn(local_only.norm2(h)))
    for block in (memory_only, local_only):
        torch.testing.assert_close(block.forward_chunked(x, 3), block(x), rtol=1e-12, atol=1e-12)
        assert GAMBlock(**block.get_config()).gate.out_features == 8  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot both be False"):
        GAMBlock(8, 5, local=False, slot_memory=False)
    with pytest.raises(RuntimeError, match="slot_memory=False"):
        local_only.global_path(x)


def test_paper_configuration_has_22_599_680_parameters() -> None:
    with torch.device("meta"):
        model = GAMLanguageModel(
            10_000, d_model=512, num_layers=6, num_slots=512, kernel_size=3, context_length=256
        )
    assert count_parameters(model) == 22_599_680
    assert model.lm_head.weight is model.token_embedding.weight
    # without tying, the head would add vocab × d parameters
    assert sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False)) == (
        22_599_680 + 10_000 * 512
    )


@torch.no_grad()
def test_chunked_forward_equals_forward() -> None:
    block = _block(d=6, slots=4, kernel=4)
    x = torch.randn(3, 23, 6, dtype=torch.float64)
    full = block(x)
    for chunk in (1, 3, 7, 23, 50):
        torch.testing.assert_close(block.forward_chunked(x, chunk), full, rtol=1e-12, atol=1e-12)


def test_loss_decreases_when_training_a_tiny_model() -> None:
    torch.manual_seed(3)
    model = GAMLanguageModel(BYTE_VOCAB_SIZE, 16, 1, 16, context_length=16, dropout=0.0)
    ids = ByteTokenizer().encode(load_corpus("zen"))
    gen = torch.Generator().manual_seed(0)
    inputs, targets = random_windows(ids, 8, 16, gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(inputs, targets).item()
    for _ in range(30):
        loss = model.loss(inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.loss(inputs, targets).item() < 0.7 * first


def test_inputs_are_validated() -> None:
    block = _block()
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 8\)"):
        block(torch.randn(2, 5, 7, dtype=torch.float64))
    with pytest.raises(TypeError, match="num_slots"):
        GAMBlock(8, 2.5)  # type: ignore[arg-type]
    model = GAMLanguageModel(20, 8, 1, 4, context_length=4)
    with pytest.raises(ValueError, match="context_length=4"):
        model(torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="divisible"):
        TransformerLanguageModel(20, 10, 1, num_heads=3)


def test_byte_tokenizer_round_trips_and_corpus_is_deterministic() -> None:
    text = load_corpus("pydoc")
    assert len(text) > 100_000 and text == load_corpus("pydoc")
    tokenizer = ByteTokenizer()
    sample = text[:2000] + " — ünïcode"
    ids = tokenizer.encode(sample)
    assert ids.dtype == torch.long and int(ids.max()) < BYTE_VOCAB_SIZE
    assert tokenizer.decode(ids) == sample
    assert "Beautiful is better than ugly." in load_corpus("zen")
    with pytest.raises(ValueError, match="name must be one of"):
        load_corpus("wikipedia")


def test_windows_are_shifted_by_one_and_split_is_contiguous() -> None:
    ids = torch.arange(100)
    train, val = train_val_split(ids, 0.2)
    assert torch.equal(torch.cat([train, val]), ids) and val.numel() == 20
    inputs, targets = random_windows(train, 5, 9, torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (5, 9)
    assert torch.equal(targets, inputs + 1)
