"""hopfield: energy-based associative memory in PyTorch.

The package is organised as the tutorial "Modern Methods in Associative Memory"
(Krotov, Hoover, Ram, Pham) is: neuron layers defined by Lagrangians, hypersynapses
that are plain energy functions of activations, a graph (HAM) summing them, and
dynamics that descend the total energy. Models built on top live in
:mod:`hopfield.models`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
