"""The explorer's one adapter to the memories: catalogue, build, one recall step."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from hopfield.data import random_bipolar
from hopfield.explore import models
from hopfield.models import RandomFeatureMemory, registry


def test_catalogue_is_the_registry() -> None:
    infos = models.memory_catalogue()
    assert [info.name for info in infos] == registry.available(registry.VECTOR_STATES)
    lsr = next(info for info in infos if info.name == "lsr")
    assert lsr.has_beta and lsr.default_beta is None  # pattern-dependent default


def test_one_step_is_the_models_own_recall_step() -> None:
    patterns = random_bipolar(4, 32, seed=0)
    model = models.build_memory("modern-dot", patterns, beta=2.0)
    query = patterns[1] * torch.where(torch.arange(32) < 6, -1.0, 1.0)
    step = models.recall_step(model, query)
    expected = registry.recall_memory(model, query[None], steps=1)
    assert torch.equal(step.state, expected.states[0])
    assert step.energies == [float(expected.energies[-1, 0])]
    assert step.rejections is None
    assert models.nearest_pattern(step.state, patterns)[0] == 1


def test_step_size_reaches_gradient_memories() -> None:
    memory = RandomFeatureMemory(8, 256, beta=1.0)
    memory.store(torch.randn(3, 8, generator=torch.Generator().manual_seed(0)))
    start = torch.zeros(8) + 0.3
    assert models.accepts_step_size(memory)
    small = models.recall_step(memory, start, step_size=1e-3).state
    large = models.recall_step(memory, start, step_size=0.5).state
    assert (small - start).abs().max() < (large - start).abs().max()


def test_rejections_are_read_where_reported() -> None:
    assert models._rejections(SimpleNamespace(rejections=3)) == 3
    assert models._rejections(SimpleNamespace(extras={"rejections": torch.tensor([1, 2])})) == 3
    assert models._rejections(SimpleNamespace(extras=None)) is None
