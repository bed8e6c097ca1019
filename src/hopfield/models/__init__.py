"""The model zoo: every associative memory is an ``nn.Module`` that descends its energy.

Binary memories (±1 states): :class:`ClassicalHopfield`, :class:`DenseAssociativeMemory`.
Continuous memories: :class:`ModernHopfield` (log-sum-exp), :class:`LogSumReLUMemory`
(Epanechnikov), :class:`LinearAssociativeMemory`, :class:`RandomFeatureMemory`,
:class:`KernelizedHopfield`. Transformer-shaped: :class:`EnergyTransformer`.
Memories of other objects: :class:`BuresWassersteinMemory` (Gaussians),
:class:`SparseRecoveryMemory` (linear constraints), :class:`KuramotoMemory`
(oscillator phases). Large memories: :class:`StreamingMemory` (patterns on disk).
Tasks as memories: :class:`DenseAMClassifier`, :class:`ClAM` (clustering), diffusion
(:class:`ScoreNetwork`, :class:`VESDE`), :class:`AssociativeMemoryBuffer` (Re:Frame).
Each class docstring states its energy, its update and its paper; ``docs/models.md`` tabulates them.
"""

from hopfield.models.base import RecallResult
from hopfield.models.bures_wasserstein import BuresWassersteinMemory
from hopfield.models.classical import BinaryRecallResult, ClassicalHopfield
from hopfield.models.classifier import DenseAMClassifier
from hopfield.models.clustering import ClAM
from hopfield.models.delta import SoftmaxKernelMemory, delta_rule, delta_rule_chunked
from hopfield.models.dense import DenseAssociativeMemory
from hopfield.models.diffusion import VESDE, ScoreNetwork
from hopfield.models.energy_transformer import (
    EnergyTransformer,
    EnergyTransformerBlock,
    ETOutput,
)
from hopfield.models.epanechnikov import LogSumReLUMemory
from hopfield.models.kernelized import KernelizedHopfield
from hopfield.models.kuramoto import KuramotoMemory
from hopfield.models.linear import LinearAssociativeMemory
from hopfield.models.memory_buffer import AssociativeMemoryBuffer
from hopfield.models.modern import ModernHopfield
from hopfield.models.random_features import RandomFeatureMemory
from hopfield.models.sparse_recovery import SparseRecoveryMemory
from hopfield.models.stochastic_dense import StochasticExponentialAM
from hopfield.models.streaming_memory import StreamingMemory

__all__ = [
    "VESDE",
    "AssociativeMemoryBuffer",
    "BinaryRecallResult",
    "BuresWassersteinMemory",
    "ClAM",
    "ClassicalHopfield",
    "DenseAMClassifier",
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
    "ScoreNetwork",
    "SoftmaxKernelMemory",
    "SparseRecoveryMemory",
    "StochasticExponentialAM",
    "StreamingMemory",
    "delta_rule",
    "delta_rule_chunked",
]
