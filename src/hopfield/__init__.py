"""hopfield: energy-based associative memory in PyTorch.

The package follows the tutorial "Modern Methods in Associative Memory" (Krotov,
Hoover, Ram, Pham 2025): neuron layers defined by Lagrangians
(:mod:`hopfield.core.lagrangians`), hypersynapses that are plain energy functions of
activations (:mod:`hopfield.core.synapses`), a graph that sums them
(:class:`~hopfield.core.graph.HAM`) and dynamics that provably descend the total
energy (:func:`~hopfield.core.dynamics.descend`). Ready-made memories live in
:mod:`hopfield.models`, drop-in layers for deep models in :mod:`hopfield.nn`,
persistence in :mod:`hopfield.io`.

The names a newcomer needs first are re-exported here.
"""

import logging

from hopfield import _deprecated
from hopfield._version import __version__
from hopfield.core import HAM, DescentResult, Neurons, descend
from hopfield.io import from_pretrained, load, save, save_pretrained
from hopfield.models import (
    ClassicalHopfield,
    DenseAssociativeMemory,
    EnergyTransformer,
    LinearAssociativeMemory,
    LogSumReLUMemory,
    ModernHopfield,
    RandomFeatureMemory,
    RecallResult,
)
from hopfield.nn import Hopfield, HopfieldLayer, HopfieldPooling

# The library reports through this logger and never prints (the command line may);
# without a handler configured by the application, nothing is shown.
logging.getLogger("hopfield").addHandler(logging.NullHandler())

_deprecated.install()  # old module paths (hopfield.ood, hopfield.models.clustering, …)

__all__ = [
    "HAM",
    "ClassicalHopfield",
    "DenseAssociativeMemory",
    "DescentResult",
    "EnergyTransformer",
    "Hopfield",
    "HopfieldLayer",
    "HopfieldPooling",
    "LinearAssociativeMemory",
    "LogSumReLUMemory",
    "ModernHopfield",
    "Neurons",
    "RandomFeatureMemory",
    "RecallResult",
    "__version__",
    "descend",
    "from_pretrained",
    "load",
    "save",
    "save_pretrained",
]
