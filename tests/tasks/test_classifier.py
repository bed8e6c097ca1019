"""Krotov–Hopfield Dense AM classifier: the label update is an energy gap."""

from __future__ import annotations

import pytest
import torch

from hopfield.tasks.classifier import DenseAMClassifier

F64 = torch.float64


def _model(separation: str, beta: float = 0.7) -> DenseAMClassifier:
    return DenseAMClassifier(6, 4, 9, separation=separation, beta=beta, seed=1).double()


@pytest.mark.parametrize("separation", ["relu3", "poly", "lse"])
def test_logits_are_beta_times_energy_gap_of_each_label_neuron(separation: str) -> None:
    model = _model(separation)
    inputs = torch.randn(5, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    logits = model(inputs)
    for alpha in range(4):
        off = -torch.ones(5, 4, dtype=F64)
        on = off.clone()
        on[:, alpha] = 1.0
        gap = model.beta * (model.energy(inputs, off) - model.energy(inputs, on))
        torch.testing.assert_close(logits[:, alpha], gap)


def test_relu3_logits_match_the_paper_update_written_out() -> None:
    model = _model("relu3", beta=0.3)
    v = torch.randn(3, 6, dtype=F64, generator=torch.Generator().manual_seed(1))
    xi_v, xi_c = model.visible.detach(), model.labels.detach()
    scale = 1 / (10**0.5)
    expected = torch.empty(3, 4, dtype=F64)
    for alpha in range(4):
        rest = -(xi_c.sum(1) - xi_c[:, alpha])  # Σ_{γ≠α} ξ^c_μγ · (−1)
        plus = torch.relu((v @ xi_v.T + xi_c[:, alpha] + rest) * scale) ** 3
        minus = torch.relu((v @ xi_v.T - xi_c[:, alpha] + rest) * scale) ** 3
        expected[:, alpha] = 0.3 * (plus - minus).sum(1)
    torch.testing.assert_close(model(v), expected)
    torch.testing.assert_close(model.label_update(v), torch.tanh(expected))


def test_losses_reach_every_memory_and_power_loss_is_the_paper_formula() -> None:
    model = _model("relu3")
    v = torch.randn(8, 6, dtype=F64, generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    model.loss(v, targets).backward()
    assert model.visible.grad is not None and bool(model.visible.grad.abs().sum() > 0)
    signs = 2 * torch.nn.functional.one_hot(targets, 4).to(F64) - 1
    expected = (torch.tanh(model(v)) - signs).pow(4).sum(1).mean()
    torch.testing.assert_close(model.loss(v, targets, power=2), expected)


def test_training_separates_two_gaussian_classes() -> None:
    gen = torch.Generator().manual_seed(3)
    centres = torch.tensor([[2.0] * 6, [-2.0] * 6], dtype=F64)
    labels = torch.randint(2, (200,), generator=gen)
    inputs = centres[labels] + torch.randn(200, 6, generator=gen, dtype=F64)
    model = DenseAMClassifier(6, 2, 8, beta=0.5, seed=0).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        loss = model.loss(inputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float((model(inputs).argmax(1) == labels).double().mean()) > 0.97


def test_inputs_and_options_are_validated() -> None:
    with pytest.raises(ValueError, match="separation"):
        DenseAMClassifier(4, 3, separation="cubic")
    with pytest.raises(ValueError, match="num_classes"):
        DenseAMClassifier(4, 1)
    model = DenseAMClassifier(4, 3)
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, 4\)"):
        model(torch.randn(2, 5))
    with pytest.raises(TypeError, match="inputs"):
        model(torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must have shape"):
        model.energy(torch.randn(2, 4), torch.ones(2, 2))
    with pytest.raises(ValueError, match="power"):
        model.loss(torch.randn(2, 4), torch.tensor([0, 1]), power=0)


def test_separation_objects_equal_their_shorthands() -> None:
    from hopfield.core.separation import Polynomial, RectifiedPolynomial

    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    for name, obj in (("relu3", RectifiedPolynomial(3)), ("poly", Polynomial(3))):
        by_name = DenseAMClassifier(6, 3, 4, separation=name, seed=1)
        by_object = DenseAMClassifier(6, 3, 4, separation=obj, seed=1)
        torch.testing.assert_close(by_name(x), by_object(x))
    quartic = DenseAMClassifier(6, 3, 4, separation=RectifiedPolynomial(4))
    assert quartic.separation == RectifiedPolynomial(4)
