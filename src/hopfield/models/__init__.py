"""The model zoo: every associative memory is an ``nn.Module`` that descends its energy.

Binary memories (±1 states): :class:`ClassicalHopfield`, :class:`DenseAssociativeMemory`.
Continuous memories: :class:`ModernHopfield` (log-sum-exp), :class:`LogSumReLUMemory`
(Epanechnikov), :class:`LinearAssociativeMemory`, :class:`RandomFeatureMemory`,
:class:`KernelizedHopfield`. Transformer-shaped: :class:`EnergyTransformer`.
Memories of other objects: :class:`BuresWassersteinMemory` (Gaussians),
:class:`SparseRecoveryMemory` (linear constraints), :class:`KuramotoMemory`
(oscillator phases). Large memories: :class:`StreamingMemory` (patterns on disk).
Tasks built on memories (classifier, clustering, diffusion, Re:Frame buffer, OOD
scoring, estimators) live in :mod:`hopfield.tasks`.
Each class docstring states its energy, its update and its paper; ``docs/models.md`` tabulates them.
"""

from typing import Any

from hopfield._deprecated import moved_attribute
from hopfield.models.base import RecallResult
from hopfield.models.bures_wasserstein import BuresWassersteinMemory
from hopfield.models.classical import ClassicalHopfield
from hopfield.models.delta import SoftmaxKernelMemory, delta_rule, delta_rule_chunked
from hopfield.models.dense import DenseAssociativeMemory
from hopfield.models.energy_transformer import (
    EnergyTransformer,
    EnergyTransformerBlock,
    ETOutput,
)
from hopfield.models.epanechnikov import LogSumReLUMemory
from hopfield.models.kernelized import KernelizedHopfield
from hopfield.models.kuramoto import KuramotoMemory
from hopfield.models.linear import LinearAssociativeMemory
from hopfield.models.modern import ModernHopfield
from hopfield.models.random_features import RandomFeatureMemory
from hopfield.models.sparse_recovery import SparseRecoveryMemory
from hopfield.models.stochastic_dense import StochasticExponentialAM
from hopfield.models.streaming_memory import StreamingMemory

__all__ = [
    "BuresWassersteinMemory",
    "ClassicalHopfield",
    "DenseAssociativeMemory",
    "ETOutput",
    "EnergyTransformer",
    "EnergyTransformerBlock",
    "KernelizedHopfield",
    "KuramotoMemory",
    "LinearAssociativeMemory",
    "LogSumReLUMemory",
    "ModernHopfield",
    "RandomFeatureMemory",
    "RecallResult",
    "SoftmaxKernelMemory",
    "SparseRecoveryMemory",
    "StochasticExponentialAM",
    "StreamingMemory",
    "delta_rule",
    "delta_rule_chunked",
]


def __getattr__(name: str) -> Any:
    """Names that moved to :mod:`hopfield.tasks` (deprecated aliases, one release)."""
    return moved_attribute(__name__, name)
