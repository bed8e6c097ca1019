"""Linear outer-product memory: Hebbian write, delta rule (= autograd SGD), overwrite, recall."""

from __future__ import annotations

import json

import pytest
import torch

from hopfield.data.corruptions import flip_bits
from hopfield.data.generators import make_generator, random_bipolar, random_gaussian
from hopfield.models.linear import LinearAssociativeMemory


def test_hebbian_store_builds_sum_of_outer_products() -> None:
    keys, values = random_gaussian(5, 4, seed=0), random_gaussian(5, 3, seed=1)
    memory = LinearAssociativeMemory(4, 3)
    memory.store(keys[:2], values=values[:2])
    memory.store(keys[2:], values=values[2:])
    torch.testing.assert_close(memory.weight, values.T @ keys)
    torch.testing.assert_close(memory.retrieve(keys), keys @ keys.T @ values)
    assert int(memory.num_writes) == 5


def test_normalized_keys_read_unit_signal() -> None:
    keys = random_gaussian(3, 6, seed=2)
    memory = LinearAssociativeMemory(6, normalize_keys=True)
    torch.testing.assert_close(memory.signal_scale(keys), torch.ones(3))
    unit = keys / keys.norm(dim=1, keepdim=True)
    memory.store(keys, values=torch.eye(6)[:3])
    torch.testing.assert_close(memory.weight, torch.eye(6)[:3].T @ unit)


def test_delta_rule_equals_autograd_sgd_step() -> None:
    gen = torch.Generator().manual_seed(3)
    memory = LinearAssociativeMemory(5, 4).double()
    memory.store(
        torch.randn(6, 5, generator=gen, dtype=torch.float64),
        torch.randn(6, 4, generator=gen, dtype=torch.float64),
    )
    key = torch.randn(1, 5, generator=gen, dtype=torch.float64)
    value = torch.randn(1, 4, generator=gen, dtype=torch.float64)
    weight = memory.weight.clone().requires_grad_(True)
    loss = 0.5 * (weight @ key[0] - value[0]).square().sum()
    (grad,) = torch.autograd.grad(loss, weight)
    memory.write_delta(key, value, lr=0.3)
    torch.testing.assert_close(memory.weight, weight.detach() - 0.3 * grad)


def test_delta_rule_with_orthonormal_keys_overwrites_while_hebbian_sums() -> None:
    keys = torch.eye(8)[:4]
    old, new = random_gaussian(4, 3, seed=4), random_gaussian(4, 3, seed=5)
    delta = LinearAssociativeMemory(8, 3)
    delta.write_delta(keys, old)
    delta.write_delta(keys[:2], new[:2])
    expected = torch.cat([new[:2], old[2:]])
    torch.testing.assert_close(delta.retrieve(keys), expected)
    hebbian = LinearAssociativeMemory(8, 3)
    hebbian.store(keys, old)
    hebbian.store(keys[:2], new[:2])
    torch.testing.assert_close(hebbian.retrieve(keys[:2]), old[:2] + new[:2])


def test_delta_rule_is_sequential_over_the_batch() -> None:
    key = torch.tensor([[1.0, 0.0]])
    memory = LinearAssociativeMemory(2, 1)
    memory.write_delta(torch.cat([key, key]), torch.tensor([[1.0], [5.0]]))
    torch.testing.assert_close(memory.retrieve(key), torch.tensor([[5.0]]))


def test_energy_is_minus_value_weight_query() -> None:
    keys, values = random_gaussian(4, 5, seed=6), random_gaussian(4, 2, seed=7)
    memory = LinearAssociativeMemory(5, 2)
    memory.store(keys, values)
    q, v = random_gaussian(3, 5, seed=8), random_gaussian(3, 2, seed=9)
    torch.testing.assert_close(memory.energy(q, v), -((v @ memory.weight) * q).sum(1))


def test_sign_readout_recalls_bipolar_patterns_at_low_load() -> None:
    patterns = random_bipolar(5, 200, seed=10)
    memory = LinearAssociativeMemory(200, readout="sign")
    memory.store(patterns)
    queries = flip_bits(patterns, 0.1, generator=make_generator(11))
    result = memory.recall(queries)
    assert torch.equal(result.states, patterns)
    assert bool(result.converged.all())
    assert bool((result.energies[-1] <= result.energies[0]).all())


def test_linear_recall_is_one_read_and_honours_mask() -> None:
    patterns = random_gaussian(3, 6, seed=12)
    memory = LinearAssociativeMemory(6)
    memory.store(patterns)
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[:, 0] = True
    result = memory.recall(patterns, mask=mask)
    assert result.steps == 1 and result.energies.shape == (2, 3)
    expected = torch.where(mask, patterns, memory.retrieve(patterns))
    torch.testing.assert_close(result.states, expected)


def test_persistence_round_trip_and_bad_inputs() -> None:
    memory = LinearAssociativeMemory(4, 3, normalize_keys=True)
    memory.store(random_gaussian(2, 4, seed=13), random_gaussian(2, 3, seed=14))
    clone = type(memory)(**json.loads(json.dumps(memory.get_config())))
    clone.load_state_dict(memory.state_dict())
    torch.testing.assert_close(clone.weight, memory.weight)
    with pytest.raises(ValueError, match=r"keys must have shape \(N, 4\)"):
        memory.store(torch.randn(2, 5), torch.randn(2, 3))
    with pytest.raises(ValueError, match="values must have shape"):
        memory.store(torch.randn(2, 4), torch.randn(3, 3))
    with pytest.raises(ValueError, match="values must be given"):
        memory.store(torch.randn(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        memory.retrieve(torch.full((1, 4), float("nan")))
    with pytest.raises(ValueError, match="lr"):
        memory.write_delta(torch.randn(1, 4), torch.randn(1, 3), lr=0.0)
    with pytest.raises(ValueError, match="readout"):
        LinearAssociativeMemory(3, readout="softmax")
    with pytest.raises(ValueError, match="key_dim"):
        LinearAssociativeMemory(0)
