"""Hypersynapses: energy functions of the activations of the layers they join.

Each synapse returns one energy per batch element, ``(B,)``, and its gradient
``∂E/∂ĝ`` wrt every activation it reads, in closed form where one is known
(tutorial "Modern Methods in Associative Memory", ch. HAMUX).
"""

from hopfield.core.synapses.attention import EnergyAttention
from hopfield.core.synapses.base import Synapse
from hopfield.core.synapses.bias import BiasSynapse
from hopfield.core.synapses.conv import Conv2dSynapse
from hopfield.core.synapses.dense import DenseSynapse
from hopfield.core.synapses.memory import DenseMemorySynapse

__all__ = [
    "BiasSynapse",
    "Conv2dSynapse",
    "DenseMemorySynapse",
    "DenseSynapse",
    "EnergyAttention",
    "Synapse",
]
