"""Non-learned in-painting baselines for masked patches.

All take patches in pixel units ``(B, N, P)`` and a bool patch mask ``(B, N)``
(True = hidden) and return the patches with the hidden ones filled in:

* :func:`mean_of_visible` — every hidden pixel gets the mean of the image's visible
  pixels (per image and channel);
* :func:`mean_training_image` — every hidden pixel gets the per-pixel mean of the
  training images;
* :func:`knn_inpaint` — the ``k`` training images closest to the query *on its
  visible pixels* (squared Euclidean distance) are averaged on the hidden pixels.
  This is the strongest of the three: it is associative recall by nearest neighbour
  in pixel space, with the whole training set as memory.
"""

from __future__ import annotations

import torch

__all__ = ["knn_inpaint", "mean_of_visible", "mean_training_image"]


def mean_of_visible(patches: torch.Tensor, mask: torch.Tensor, channels: int) -> torch.Tensor:
    """Hidden patches filled with the mean of the visible pixels (per image and channel).

    ``patches (B, N, C·p·p)``, ``mask (B, N)`` → filled patches, same shape.
    """
    b, n, p_dim = patches.shape
    per_channel = patches.reshape(b, n, channels, p_dim // channels)
    visible = (~mask).to(patches.dtype).view(b, n, 1, 1)
    total = (per_channel * visible).sum(dim=(1, 3))
    count = visible.sum(dim=(1, 3)) * (p_dim // channels)
    mean = (total / count).view(b, 1, channels, 1).expand_as(per_channel)
    return torch.where(mask.view(b, n, 1, 1), mean, per_channel).reshape(b, n, p_dim)


def mean_training_image(
    patches: torch.Tensor, mask: torch.Tensor, train_mean: torch.Tensor
) -> torch.Tensor:
    """Hidden patches filled with the mean training image's patches ``train_mean (N, P)``."""
    return torch.where(mask.unsqueeze(-1), train_mean.to(patches.dtype), patches)


def knn_inpaint(
    patches: torch.Tensor,
    mask: torch.Tensor,
    memory: torch.Tensor,
    *,
    k: int = 5,
    chunk: int = 4096,
) -> torch.Tensor:
    """Hidden patches filled with the mean of the ``k`` nearest training images.

    Distances use the visible pixels only:
    ``d(q, t) = Σ_{visible} (q − t)² = Σ_v q² − 2 Σ_v q t + Σ_v t²``, computed as two
    matrix products per chunk of ``memory (M, N, P)`` so that no ``(B, M, N, P)``
    tensor is formed; a running top-k keeps the ``k`` smallest over the chunks.
    """
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    b, n, p = patches.shape
    if memory.ndim != 3 or tuple(memory.shape[1:]) != (n, p):
        raise ValueError(f"memory must have shape (M, {n}, {p}), got {tuple(memory.shape)}")
    k = min(k, memory.shape[0])
    visible = (~mask).to(patches.dtype).unsqueeze(-1).expand(b, n, p).reshape(b, n * p)
    query = patches.reshape(b, n * p) * visible
    flat_memory = memory.reshape(memory.shape[0], n * p).to(patches.dtype)
    best_d = torch.full((b, 0), float("inf"), dtype=patches.dtype)
    best_i = torch.zeros((b, 0), dtype=torch.long)
    for start in range(0, flat_memory.shape[0], chunk):
        block = flat_memory[start : start + chunk]
        dist = visible @ block.square().T - 2.0 * query @ block.T
        best_d, order = torch.cat([best_d, dist], dim=1).topk(k, dim=1, largest=False)
        index = torch.cat([best_i, torch.arange(start, start + block.shape[0]).expand(b, -1)], 1)
        best_i = index.gather(1, order)
    neighbours = flat_memory[best_i].mean(dim=1).reshape(b, n, p)
    return torch.where(mask.unsqueeze(-1), neighbours, patches)
