"""The energy core: Lagrangian neurons, hypersynapses, the HAM graph and its dynamics.

A neuron layer is a convex Lagrangian ``L`` and a shape (activation ``ĝ = ∇L(x)``,
energy ``⟨x, ĝ⟩ − L``); a hypersynapse is an energy function of the activations of
the layers it joins; a :class:`HAM` sums them; :func:`descend` integrates
``τ dx/dt = −∂E/∂ĝ`` with a guard that never lets the energy rise (tutorial
"Modern Methods in Associative Memory", ch. HAMUX; Krotov & Hopfield 2021).
"""

from hopfield.core.dynamics import DescentResult, UnboundedEnergyWarning, descend
from hopfield.core.graph import HAM
from hopfield.core.lagrangian_base import Lagrangian
from hopfield.core.lagrangians import (
    EnergyLayerNorm,
    Exp,
    Ghostmax,
    Identity,
    LogSumExp,
    RectifiedPower,
    RExp,
    Sigmoid,
    Softmax,
    SphericalNorm,
    Tanh,
)
from hopfield.core.neurons import Neurons
from hopfield.core.separation import (
    Exponential,
    Polynomial,
    RectifiedPolynomial,
    ReLUSquared,
    Separation,
)
from hopfield.core.synapses import (
    BiasSynapse,
    Conv2dSynapse,
    DenseMemorySynapse,
    DenseSynapse,
    EnergyAttention,
    Synapse,
)

__all__ = [
    "HAM",
    "BiasSynapse",
    "Conv2dSynapse",
    "DenseMemorySynapse",
    "DenseSynapse",
    "DescentResult",
    "EnergyAttention",
    "EnergyLayerNorm",
    "Exp",
    "Exponential",
    "Ghostmax",
    "Identity",
    "Lagrangian",
    "LogSumExp",
    "Neurons",
    "Polynomial",
    "RExp",
    "ReLUSquared",
    "RectifiedPolynomial",
    "RectifiedPower",
    "Separation",
    "Sigmoid",
    "Softmax",
    "SphericalNorm",
    "Synapse",
    "Tanh",
    "UnboundedEnergyWarning",
    "descend",
]
