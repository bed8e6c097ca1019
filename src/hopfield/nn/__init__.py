"""hopfield.nn: deep-learning layers built on the modern Hopfield (LSE) energy.

Ramsauer et al. (2020) "Hopfield Networks is All You Need": ``Hopfield`` (state
patterns attend to stored patterns), ``HopfieldPooling`` (learnable state patterns
pool a set) and ``HopfieldLayer`` (learnable stored patterns as a lookup). All share
the energy ``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` and update
``ξ ← softmax(β ξ Kᵀ) K``; ``normalizer="sparsemax"|"entmax15"`` swaps in the
Tsallis-regularised (sparse) energies (Hu et al. 2023) and ``top_k`` exact top-k
retrieval. Drop-ins for torch's transformers: ``HopfieldEncoderLayer`` and
``HopfieldDecoderLayer`` (Hopfield self- and cross-attention) and
``EnergyTransformerEncoderLayer`` (Hoover et al. 2023). Every layer follows one input
policy (dtype, complex, empty inputs, NaN propagation): :mod:`hopfield.nn.inputs`.
"""

from hopfield.nn.energy_transformer_layer import EnergyTransformerEncoderLayer, GELUIntegral
from hopfield.nn.hopfield import (
    NORMALIZERS,
    Hopfield,
    lse_energy,
    regularized_max_energy,
    topk_mask_scores,
)
from hopfield.nn.lookup import HopfieldLayer
from hopfield.nn.pooling import HopfieldPooling
from hopfield.nn.transformer import HopfieldDecoderLayer, HopfieldEncoderLayer

__all__ = [
    "NORMALIZERS",
    "EnergyTransformerEncoderLayer",
    "GELUIntegral",
    "Hopfield",
    "HopfieldDecoderLayer",
    "HopfieldEncoderLayer",
    "HopfieldLayer",
    "HopfieldPooling",
    "lse_energy",
    "regularized_max_energy",
    "topk_mask_scores",
]
