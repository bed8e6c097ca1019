"""hopfield-layers' API (``hflayers``) on this library: change the import, keep the code.

``from hopfield.compat.hflayers import Hopfield, HopfieldPooling, HopfieldLayer`` accepts
hopfield-layers' constructor arguments with its defaults (layer norm of every input,
``β = 1/√hidden_size``, one association step), its tuple input
``layer((stored_pattern, state_pattern, pattern_projection))``, its masks and
``get_association_matrix``. The layers implement the modern Hopfield energy
``E(ξ) = −β⁻¹ log Σ_μ exp(β k_μ·ξ) + ½‖ξ‖²`` and update ``ξ ← softmax(β ξ Kᵀ) K``
(Ramsauer et al. 2020) with :mod:`hopfield.nn`'s association step. See
``docs/migration-hopfield-layers.md``.
"""

from hopfield.compat.hflayers.hopfield import Hopfield
from hopfield.compat.hflayers.wrappers import HopfieldLayer, HopfieldPooling

__all__ = ["Hopfield", "HopfieldLayer", "HopfieldPooling"]
