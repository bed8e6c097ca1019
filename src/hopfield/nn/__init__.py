"""hopfield.nn: deep-learning layers built on the modern Hopfield (LSE) energy.

Ramsauer et al. (2020) "Hopfield Networks is All You Need": ``Hopfield`` (state
patterns attend to stored patterns), ``HopfieldPooling`` (learnable state patterns
pool a set) and ``HopfieldLayer`` (learnable stored patterns as a lookup). All share
the energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` and update
``ξ ← softmax(β ξ Kᵀ) K``.
"""

from hopfield.nn.hopfield import Hopfield, lse_energy
from hopfield.nn.lookup import HopfieldLayer
from hopfield.nn.pooling import HopfieldPooling

__all__ = ["Hopfield", "HopfieldLayer", "HopfieldPooling", "lse_energy"]
