"""hopfield.tasks: paper reproductions and tools built on associative memories.

* :mod:`~hopfield.tasks.classifier` — :class:`DenseAMClassifier`, the Krotov & Hopfield
  (2016) Dense AM classifier;
* :mod:`~hopfield.tasks.clustering` — :class:`ClAM`, clustering with modern Hopfield
  prototypes (Saha et al. 2023);
* :mod:`~hopfield.tasks.diffusion` — :class:`ScoreNetwork`, :class:`VESDE`: score-based
  diffusion as associative memory (Hoover et al. 2023 / Ambrogioni 2023);
* :mod:`~hopfield.tasks.distributed_am` — online learning of a distributed
  associative memory over a network (simulation);
* :mod:`~hopfield.tasks.memory_buffer` — :class:`AssociativeMemoryBuffer`, the
  Re:Frame memory buffer for reinforcement learning;
* :mod:`~hopfield.tasks.decision_transformer` — :class:`BufferedDecisionTransformer`
  and :class:`ObservationAutoencoder`, Re:Frame's policy and buffer encoder;
* :mod:`~hopfield.tasks.ood` — :class:`HopfieldOODScorer`, energy-based
  out-of-distribution scores;
* :mod:`~hopfield.tasks.estimators` — scikit-learn estimators (imported on demand).

Tasks may import every library layer below them (models, ops, core, metrics, io);
see ``docs/architecture.md``.
"""

from hopfield.tasks.classifier import DenseAMClassifier
from hopfield.tasks.clustering import ClAM
from hopfield.tasks.decision_transformer import BufferedDecisionTransformer, ObservationAutoencoder
from hopfield.tasks.diffusion import VESDE, ScoreNetwork
from hopfield.tasks.memory_buffer import AssociativeMemoryBuffer
from hopfield.tasks.ood import HopfieldOODScorer

__all__ = [
    "VESDE",
    "AssociativeMemoryBuffer",
    "BufferedDecisionTransformer",
    "ClAM",
    "DenseAMClassifier",
    "HopfieldOODScorer",
    "ObservationAutoencoder",
    "ScoreNetwork",
]
