"""hopfield-layers' HopfieldPooling and HopfieldLayer: parameters, layouts, masks."""

from __future__ import annotations

import pytest
import torch

from hopfield.compat.hflayers import Hopfield, HopfieldLayer, HopfieldPooling


def test_pooling_is_hopfield_with_the_learned_state_patterns() -> None:
    pooling = HopfieldPooling(input_size=6, num_heads=2, quantity=3)
    assert pooling.pooling_weights.shape == (1, 3, 6)
    x = torch.randn(4, 5, 6)
    state = pooling.pooling_weights.expand(4, -1, -1)
    expected = pooling.hopfield((x, state, x)).flatten(1)
    torch.testing.assert_close(pooling(x), expected)
    assert pooling(x).shape == (4, 3 * 6)
    assert pooling.get_association_matrix(x).shape == (4, 2, 3, 5)
    stored, projection = torch.randn(4, 5, 6), torch.randn(4, 5, 6)
    torch.testing.assert_close(
        pooling((stored, projection)), pooling.hopfield((stored, state, projection)).flatten(1)
    )


def test_pooling_sequence_first_gives_the_batch_first_result() -> None:
    first = HopfieldPooling(input_size=6, quantity=2)
    second = HopfieldPooling(input_size=6, quantity=2, batch_first=False)
    with torch.no_grad():
        second.pooling_weights.copy_(first.pooling_weights.transpose(0, 1))
    second.hopfield.load_state_dict(first.hopfield.state_dict())
    x = torch.randn(3, 5, 6)
    torch.testing.assert_close(second(x.transpose(0, 1)), first(x))


def test_pooling_and_lookup_weights_follow_trainable_flags() -> None:
    assert not HopfieldPooling(input_size=4, trainable=False).pooling_weights.requires_grad
    lookup = HopfieldLayer(input_size=4, quantity=5, trainable=False)
    assert not lookup.lookup_weights.requires_grad and lookup.target_weights is None
    with pytest.raises(ValueError, match="lookup_weights_as_separated"):
        HopfieldLayer(input_size=4, lookup_targets_as_trainable=False)


def test_lookup_reads_its_weights_as_stored_patterns_and_targets() -> None:
    lookup = HopfieldLayer(input_size=6, quantity=7, lookup_weights_as_separated=True,
                           pattern_projection_size=3)  # fmt: skip
    assert lookup.lookup_weights.shape == (1, 7, 6)
    assert lookup.target_weights is not None and lookup.target_weights.shape == (1, 7, 3)
    x = torch.randn(2, 4, 6)
    stored = lookup.lookup_weights.expand(2, -1, -1)
    targets = lookup.target_weights.expand(2, -1, -1)
    torch.testing.assert_close(lookup(x), lookup.hopfield((stored, x, targets)))
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[:, 5:] = True
    weights = lookup.get_association_matrix(x, stored_pattern_padding_mask=padding)
    assert weights.shape == (2, 1, 4, 7) and bool((weights[..., 5:] == 0).all())


def test_wrappers_expose_hopfield_layers_properties() -> None:
    pooling = HopfieldPooling(input_size=8, hidden_size=4, num_heads=2, update_steps_max=3)
    assert (pooling.input_size, pooling.hidden_size, pooling.output_size) == (8, 4, 8)
    assert pooling.update_steps_max == 3 and pooling.quantity == 1
    assert pooling.normalize_stored_pattern and not pooling.stored_pattern_as_static
    assert isinstance(pooling.hopfield, Hopfield)
