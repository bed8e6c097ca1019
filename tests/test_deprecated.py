"""Old import paths and names keep working for one release, warn, and are the same objects."""

from __future__ import annotations

import importlib
import sys

import pytest

from hopfield._deprecated import MOVED_MODULES, MOVED_NAMES, moved_attribute


@pytest.mark.parametrize(("old", "new"), sorted(MOVED_MODULES.items()))
def test_moved_module_warns_and_is_the_new_module(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated.*use {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_moved_module_supports_from_import() -> None:
    sys.modules.pop("hopfield.models.clustering", None)
    with pytest.warns(DeprecationWarning, match="hopfield.models.clustering"):
        from hopfield.models.clustering import ClAM
    from hopfield.tasks.clustering import ClAM as NewClAM

    assert ClAM is NewClAM


CASES = [
    (module, name, target)
    for module, names in MOVED_NAMES.items()
    for name, target in names.items()
]


@pytest.mark.parametrize(("module", "name", "target"), CASES)
def test_moved_name_warns_and_is_the_new_object(module: str, name: str, target: str) -> None:
    target_module, _, attr = target.rpartition(".")
    expected = getattr(importlib.import_module(target_module), attr)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{name} is deprecated.*use {target}"):
        value = getattr(importlib.import_module(module), name)
    assert value is expected


def test_unknown_names_still_raise_attribute_error() -> None:
    import hopfield.models

    with pytest.raises(AttributeError, match="no attribute 'NoSuchModel'"):
        _ = hopfield.models.NoSuchModel  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        moved_attribute("hopfield.models", "nope")
    assert not hasattr(hopfield.models, "also_missing")


def test_former_positional_and_renamed_memory_arguments_still_work() -> None:
    import torch

    from hopfield.models import (
        BuresWassersteinMemory,
        KernelizedHopfield,
        KuramotoMemory,
        LinearAssociativeMemory,
    )
    from hopfield.models.bures_wasserstein import commuting_gaussians_on_sphere

    keys = torch.randn(3, 4, dtype=torch.float64)
    linear = LinearAssociativeMemory(4, 2).double()
    with pytest.warns(DeprecationWarning, match="values by position"):
        linear.store(keys, torch.randn(3, 2, dtype=torch.float64))
    kernel = KernelizedHopfield(4)
    kernel.store(keys)
    with pytest.warns(DeprecationWarning, match="until_converged"):
        legacy = kernel.recall(keys, 3, False)
    assert legacy.steps == 3
    means, cov, _ = commuting_gaussians_on_sphere(3, 2, seed=0)
    gaussians = BuresWassersteinMemory()
    with pytest.warns(DeprecationWarning, match="covariances by position"):
        gaussians.store(means, cov)
    with pytest.warns(DeprecationWarning, match="until_converged"):
        old = gaussians.recall(means, cov, 2, False)
    assert old.steps == 2 and old.covariances.shape == cov.shape
    phases = KuramotoMemory(4)
    phases.store(torch.ones(1, 4))
    theta = torch.zeros(1, 4, dtype=torch.float64)
    with pytest.warns(DeprecationWarning, match="energy_grad"):
        torch.testing.assert_close(phases.gradient(theta), phases.energy_grad(theta))
