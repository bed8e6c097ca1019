"""get_config / from_config of the energy core: every exported class round-trips."""

from __future__ import annotations

import json

import pytest
import torch

import hopfield.core as core
from hopfield.core.config import build, core_classes

EXAMPLES = {
    "Identity": lambda: core.Identity(),
    "RectifiedPower": lambda: core.RectifiedPower(3),
    "Exp": lambda: core.Exp(2.5, learnable_beta=True),
    "RExp": lambda: core.RExp(0.5),
    "Tanh": lambda: core.Tanh(1.5),
    "Sigmoid": lambda: core.Sigmoid(),
    "LogSumExp": lambda: core.LogSumExp(3.0, dim=-1),
    "Softmax": lambda: core.Softmax(2.0),
    "Ghostmax": lambda: core.Ghostmax(1.5),
    "EnergyLayerNorm": lambda: core.EnergyLayerNorm(6, gamma=2.0, bias=False),
    "SphericalNorm": lambda: core.SphericalNorm(6, learnable=False),
    "BiasSynapse": lambda: core.BiasSynapse((2, 6)),
    "DenseSynapse": lambda: core.DenseSynapse(6, 4),
    "DenseMemorySynapse": lambda: core.DenseMemorySynapse(5, 6, beta=3.0, learnable_beta=True),
    "Conv2dSynapse": lambda: core.Conv2dSynapse(2, 3, (3, 2), stride=2, padding=1),
    "EnergyAttention": lambda: core.EnergyAttention(6, 2, 3, beta=0.4, exclude_self=False),
    "Neurons": lambda: core.Neurons((2, 6), core.Tanh(2.0), tau=0.25),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_config_rebuilds_an_equal_module_through_json(name: str) -> None:
    module = EXAMPLES[name]()
    config = json.loads(json.dumps(module.get_config()))
    rebuilt = type(module).from_config(config)
    assert rebuilt.get_config() == config
    rebuilt.load_state_dict(module.state_dict())
    assert repr(rebuilt) == repr(module)


def test_the_allow_list_is_what_hopfield_core_exports() -> None:
    exported = {name for name in core.__all__ if isinstance(getattr(core, name), type)}
    bases_and_results = {
        "Lagrangian", "Synapse", "Separation", "DescentResult", "UnboundedEnergyWarning",
    }  # fmt: skip
    assert set(core_classes()) == exported - bases_and_results
    modules = {n for n, cls in core_classes().items() if issubclass(cls, torch.nn.Module)}
    assert modules - {"HAM"} == set(EXAMPLES)


@pytest.mark.parametrize(
    "separation",
    [core.Exponential(2.0), core.Polynomial(3), core.RectifiedPolynomial(4), core.ReLUSquared()],
)
def test_a_separation_is_written_by_its_own_to_config(separation: core.Separation) -> None:
    synapse = core.DenseMemorySynapse(4, 6, separation=separation)
    config = json.loads(json.dumps(synapse.get_config()))
    assert config["separation"] == {"__separation__": separation.to_config()}
    assert config["beta"] is None
    rebuilt = core.DenseMemorySynapse.from_config(config)
    assert rebuilt.separation == separation


def test_configs_saved_with_the_reflected_separation_spec_still_load() -> None:
    old = {
        "num_memories": 4,
        "num_features": 6,
        "beta": None,
        "separation": {"__class__": "Exponential", "config": {"beta": 2.0}},
        "learnable_beta": False,
    }
    rebuilt = core.DenseMemorySynapse.from_config(old)
    assert rebuilt.separation == core.Exponential(2.0)
    assert rebuilt.get_config()["separation"] == {
        "__separation__": {"name": "exponential", "beta": 2.0}
    }
    ham = core.HAM(
        {"v": core.Neurons(6, core.Identity())},
        {"m": core.DenseMemorySynapse(4, 6, separation=core.Polynomial(3))},
        [(("v",), "m")],
    )
    saved = json.loads(json.dumps(ham.get_config()))
    synapse = saved["synapses"]["__items__"][0][1]["config"]
    synapse["separation"] = {"__class__": "Polynomial", "config": {"degree": 3}}  # old form
    assert core.HAM.from_config(saved).synapse("m").separation == core.Polynomial(3)


def test_a_bad_separation_config_is_named() -> None:
    config = core.DenseMemorySynapse(4, 6, separation=core.Polynomial(3)).get_config()
    config["separation"] = {"__separation__": {"name": "nosuch"}}
    with pytest.raises(ValueError, match=r"DenseMemorySynapse\.separation must be one of"):
        core.DenseMemorySynapse.from_config(config)


def test_unknown_classes_are_refused_and_never_imported() -> None:
    with pytest.raises(ValueError, match=r"unknown class .os\.system."):
        build({"__class__": "os.system", "config": {}})
    config = core.Neurons(3, core.Exp()).get_config()
    config["lagrangian"]["__class__"] = "torch.nn.Module"
    with pytest.raises(ValueError, match="unknown class"):
        core.Neurons.from_config(config)


def test_a_subclass_outside_core_has_no_built_in_config() -> None:
    class MyExp(core.Exp):
        pass

    with pytest.raises(TypeError, match=r"not a class of hopfield\.core"):
        MyExp().get_config()
