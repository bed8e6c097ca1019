"""Input policy of every layer in :mod:`hopfield.nn` (dtype, complex, empty, non-finite).

* **dtype**: a layer follows its own dtype. Outside autocast, a real floating input
  (float16, bfloat16, float32, float64) is cast to the dtype of the layer's
  parameters, and the output has that dtype; inside :func:`torch.autocast` inputs are
  left to autocast (so mixed-precision training works unchanged). A layer without
  parameters computes in the input's dtype.
* **complex, integer and bool** inputs raise ``TypeError`` naming the argument.
* **empty**: an empty batch or an empty query sequence gives an empty result of the
  documented shape; a retrieval whose stored-pattern set is empty while there are
  queries raises ``ValueError`` naming the argument (there is nothing to retrieve).
* **non-finite**: NaN and ±inf propagate like in PyTorch and are never turned into a
  finite value (see :mod:`hopfield.nn.association`).
"""

from __future__ import annotations

import torch
from torch import nn

from hopfield._validation import check_floating

__all__ = ["layer_input", "module_dtype"]


def module_dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype of the first floating parameter of ``module`` (None without any)."""
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return None


def layer_input(value: object, name: str, dtype: torch.dtype | None) -> torch.Tensor:
    """A real floating tensor, cast to ``dtype`` unless autocast is on for its device.

    ``TypeError`` names ``name`` for non-tensors and complex/integer/bool dtypes.
    """
    tensor = check_floating(value, name)
    if dtype is None or tensor.dtype == dtype:
        return tensor
    if torch.is_autocast_enabled(tensor.device.type):
        return tensor
    return tensor.to(dtype)
