"""hopfield.optim: optimisers for associative-memory weights.

``Muon`` (Jordan et al. 2024): momentum orthogonalised by a Newton–Schulz iteration,
i.e. steepest descent in the spectral norm; balanced learning of tail classes in
linear associative memories (Wang et al. 2025).
"""

from hopfield.optim.muon import Muon, newton_schulz

__all__ = ["Muon", "newton_schulz"]
