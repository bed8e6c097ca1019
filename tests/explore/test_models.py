"""The explorer's one adapter to the memories: catalogue, build, one recall step."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from hopfield.data import random_bipolar
from hopfield.explore import models, patterns
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


def _recall_until_converged(model: torch.nn.Module, state: torch.Tensor) -> torch.Tensor:
    for _ in range(50):
        step = models.recall_step(model, state)
        state = step.state
        if step.converged:
            break
    return state


def test_a_tied_corruption_settles_on_the_symmetric_mixture() -> None:
    """The case docs/explorer.md describes: seed 154 leaves "C" exactly as close to "G".

    On a ±1 grid the overlaps are integers, so a random flip can tie two stored patterns;
    the modern memory's update then keeps both at equal weight, and the state is their
    mixture (0 where they disagree), not either glyph. The browser test therefore fixes
    its corruption seeds.
    """
    glyphs = patterns.make_pattern_set("glyphs", 8, side=16)
    c, g = glyphs.labels.index("C"), glyphs.labels.index("G")
    query = patterns.corrupt(glyphs.patterns[c], "flip", 0.2, side=16, seed=154)
    scores = glyphs.patterns @ query
    assert scores[c] == scores[g] == scores.max()
    model = models.build_memory("modern-dot", glyphs.patterns, beta=None)
    state = _recall_until_converged(model, query)
    agree = glyphs.patterns[c] == glyphs.patterns[g]
    assert torch.equal(state[agree], glyphs.patterns[c][agree])
    assert state[~agree].abs().max() < 1e-6
    untied = patterns.corrupt(glyphs.patterns[c], "flip", 0.2, side=16, seed=1)
    assert torch.equal(_recall_until_converged(model, untied), glyphs.patterns[c])


def test_guarded_gradient_memory_reports_its_rejections_to_the_page() -> None:
    generator = torch.Generator().manual_seed(1)
    stored = torch.randn(3, 8, generator=generator)
    memory = RandomFeatureMemory(8, 256, beta=4.0, seed=0)
    memory.store(stored)
    start = stored[0] + 0.4 * torch.randn(8, generator=generator)
    overshoot = models.recall_step(memory, start, step_size=1.0)
    assert overshoot.rejections is not None and overshoot.rejections[0] > 0
    assert models.recall_step(memory, start, step_size=1e-4).rejections == [0]
