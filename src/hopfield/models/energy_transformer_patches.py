"""Image front end of the Energy Transformer: patches, embeddings, CLS and MASK tokens.

Masked-image modelling as in Hoover et al. (2023), "Energy Transformer" (§4): an
image ``(B, C, H, W)`` is cut into ``N = (H/p)(W/p)`` non-overlapping ``p × p``
patches (:func:`patchify`, each flattened channel-major to ``P = C·p·p`` values),
pixel values are normalised per channel, each patch is embedded linearly
(``x_A = W_E patch_A``), a learned position embedding is added, masked patches are
replaced by a learned MASK token and a learned CLS token is prepended. After the
energy descent the token activations are decoded back to patches linearly
(``patch_A = W_D ĝ_A``) and :func:`unpatchify` rebuilds the image.

Layout: ``patchify(images)[b, A]`` is patch ``A`` in row-major order over the
patch grid; :func:`unpatchify` inverts it exactly (lossless round trip).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hopfield._validation import check_floating, check_probability

__all__ = [
    "ImageTokenizer",
    "PatchDecoder",
    "PatchEmbedding",
    "PositionEmbedding",
    "check_image_geometry",
    "patchify",
    "random_patch_mask",
    "unpatchify",
]

_CHANNELS = (1, 3)


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value}")
    return value


def _image_hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        return _positive_int(image_size, "image_size"), image_size
    if not isinstance(image_size, Sequence) or len(image_size) != 2:
        raise TypeError(f"image_size must be an int or a pair (H, W), got {image_size!r}")
    return _positive_int(image_size[0], "image_size[0]"), _positive_int(
        image_size[1], "image_size[1]"
    )


def check_image_geometry(
    image_size: int | Sequence[int], patch_size: int, in_channels: int
) -> tuple[int, int]:
    """Validate an image geometry; return ``(H, W)``.

    ``H`` and ``W`` must be divisible by ``patch_size``; ``in_channels`` must be 1 or 3.
    """
    height, width = _image_hw(image_size)
    patch_size = _positive_int(patch_size, "patch_size")
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"image_size ({height}, {width}) must be divisible by patch_size={patch_size}"
        )
    if isinstance(in_channels, bool) or in_channels not in _CHANNELS:
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels!r}")
    return height, width


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(B, C, H, W) -> (B, N, C·p·p)``: non-overlapping patches in row-major grid order."""
    images = check_floating(images, "images")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got shape {tuple(images.shape)}")
    b, c, h, w = images.shape
    p = _positive_int(patch_size, "patch_size")
    if h % p or w % p:
        raise ValueError(f"images of size ({h}, {w}) must be divisible by patch_size={p}")
    grid = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return grid.reshape(b, (h // p) * (w // p), c * p * p)


def unpatchify(
    patches: torch.Tensor, patch_size: int, image_size: int | Sequence[int], in_channels: int
) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, N, C·p·p) -> (B, C, H, W)``."""
    patches = check_floating(patches, "patches")
    h, w = _image_hw(image_size)
    p = _positive_int(patch_size, "patch_size")
    c = _positive_int(in_channels, "in_channels")
    if h % p or w % p:
        raise ValueError(f"image_size ({h}, {w}) must be divisible by patch_size={p}")
    n = (h // p) * (w // p)
    if patches.ndim != 3 or patches.shape[1:] != (n, c * p * p):
        raise ValueError(
            f"patches must have shape (B, {n}, {c * p * p}), got shape {tuple(patches.shape)}"
        )
    grid = patches.reshape(-1, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5)
    return grid.reshape(-1, c, h, w)


def random_patch_mask(
    batch_size: int,
    num_patches: int,
    fraction: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Bool ``(B, N)`` with exactly ``round(fraction·N)`` masked (``True``) patches per row.

    At least one patch stays visible; which patches are masked is uniform at random
    (from ``generator``), independently per row.
    """
    batch_size = _positive_int(batch_size, "batch_size")
    num_patches = _positive_int(num_patches, "num_patches")
    fraction = check_probability(fraction, "fraction")
    count = min(round(fraction * num_patches), num_patches - 1)
    scores = torch.rand(batch_size, num_patches, generator=generator)
    ranks = scores.argsort(dim=1).argsort(dim=1)
    return (ranks < count).to(device)


class PatchEmbedding(nn.Module):
    """Linear patch embedding ``x_A = W_E patch_A`` (bias-free), ``(B, N, P) -> (B, N, D)``."""

    def __init__(self, patch_dim: int, num_features: int, *, bias: bool = False) -> None:
        super().__init__()
        self.proj = nn.Linear(
            _positive_int(patch_dim, "patch_dim"),
            _positive_int(num_features, "num_features"),
            bias=bias,
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.proj(patches)


class PatchDecoder(nn.Module):
    """Linear read-out ``patch_A = W_D ĝ_A`` (bias-free), ``(B, N, D) -> (B, N, P)``."""

    def __init__(self, num_features: int, patch_dim: int, *, bias: bool = False) -> None:
        super().__init__()
        self.proj = nn.Linear(
            _positive_int(num_features, "num_features"),
            _positive_int(patch_dim, "patch_dim"),
            bias=bias,
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.proj(tokens)


class PositionEmbedding(nn.Module):
    """Learned additive position embedding ``x_A ← x_A + e_A``, ``e: (N, D)``."""

    def __init__(self, num_tokens: int, num_features: int, *, init_std: float = 0.02) -> None:
        super().__init__()
        shape = (
            _positive_int(num_tokens, "num_tokens"),
            _positive_int(num_features, "num_features"),
        )
        self.weight = nn.Parameter(torch.randn(shape) * init_std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens + self.weight.to(tokens.dtype)


class ImageTokenizer(nn.Module):
    """Images and a patch mask → initial tokens ``(B, [1 +] N, D)`` of the Energy Transformer.

    ``x = [CLS; MASK or W_E·norm(patch_A) (+ e_A)]``: pixel values are normalised per
    channel with the buffers ``pixel_mean``/``pixel_std`` (set them with
    :meth:`set_normalization`), patches are embedded (:class:`PatchEmbedding`),
    position embeddings added (optional), masked patches replaced by the MASK token
    (the position embedding is added to it too) and the CLS token prepended
    (optional, without position embedding).

    Args:
        image_size: ``H`` (square) or ``(H, W)``, divisible by ``patch_size``.
        patch_size: ``p``.
        in_channels: ``C`` ∈ {1, 3}.
        num_features: token width ``D``.
        position_embedding: add learned position embeddings (off: the token set is
            permutation-equivariant).
        cls_token: prepend a learned CLS token.
    """

    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def __init__(
        self,
        image_size: int | Sequence[int],
        patch_size: int,
        in_channels: int,
        num_features: int,
        *,
        position_embedding: bool = True,
        cls_token: bool = True,
    ) -> None:
        super().__init__()
        self.image_size = check_image_geometry(image_size, patch_size, in_channels)
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.num_patches = (self.image_size[0] // patch_size) * (self.image_size[1] // patch_size)
        self.patch_dim = in_channels * patch_size * patch_size
        self.num_features = _positive_int(num_features, "num_features")
        self.embed = PatchEmbedding(self.patch_dim, num_features)
        self.position = (
            PositionEmbedding(self.num_patches, num_features) if position_embedding else None
        )
        self.cls_token = nn.Parameter(torch.randn(num_features) * 0.02) if cls_token else None
        self.mask_token = nn.Parameter(torch.randn(num_features) * 0.02)
        self.register_buffer("pixel_mean", torch.zeros(in_channels))
        self.register_buffer("pixel_std", torch.ones(in_channels))

    @property
    def num_prefix_tokens(self) -> int:
        """Number of tokens before the patch tokens (1 with a CLS token, else 0)."""
        return 0 if self.cls_token is None else 1

    def set_normalization(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Set per-channel pixel ``mean`` and ``std`` (``std > 0``), e.g. from training data."""
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean_t.numel() != self.in_channels or std_t.numel() != self.in_channels:
            raise ValueError(f"mean and std must have {self.in_channels} entries (one per channel)")
        if not bool((std_t > 0).all()):
            raise ValueError(f"std must be > 0, got {std_t.tolist()}")
        self.pixel_mean.copy_(mean_t)
        self.pixel_std.copy_(std_t)

    def _per_value(self, stat: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """A channel statistic repeated into the patch layout ``(C·p·p,)``."""
        return stat.to(dtype).repeat_interleave(self.patch_size * self.patch_size)

    def normalized_patches(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, N, P)`` patches with normalised pixel values."""
        self.check_images(images)
        patches = patchify(images, self.patch_size)
        mean = self._per_value(self.pixel_mean, patches.dtype)
        return (patches - mean) / self._per_value(self.pixel_std, patches.dtype)

    def denormalize(self, patches: torch.Tensor) -> torch.Tensor:
        """Undo the pixel normalisation of patches ``(B, N, P)``."""
        std = self._per_value(self.pixel_std, patches.dtype)
        return patches * std + self._per_value(self.pixel_mean, patches.dtype)

    def check_images(self, images: object) -> torch.Tensor:
        """Validate a batch of images ``(B, C, H, W)`` of this tokenizer's geometry."""
        images = check_floating(images, "images")
        expected = (self.in_channels, *self.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"images must have shape (B, {expected[0]}, {expected[1]}, {expected[2]}), "
                f"got shape {tuple(images.shape)}"
            )
        return images

    def check_mask(self, mask: object, batch_size: int) -> torch.Tensor:
        """Validate a patch mask: bool ``(B, N)``."""
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool tensor of shape (B, {self.num_patches})")
        if tuple(mask.shape) != (batch_size, self.num_patches):
            raise ValueError(
                f"mask must have shape ({batch_size}, {self.num_patches}), got {tuple(mask.shape)}"
            )
        return mask

    def forward(self, images: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Initial tokens ``(B, [1 +] N, D)``; ``mask (B, N)`` marks patches to hide."""
        tokens = self.embed(self.normalized_patches(images))
        if mask is not None:
            mask = self.check_mask(mask, images.shape[0]).to(tokens.device)
            tokens = torch.where(mask.unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        if self.position is not None:
            tokens = self.position(tokens)
        if self.cls_token is not None:
            cls = self.cls_token.to(tokens.dtype).expand(tokens.shape[0], 1, -1)
            tokens = torch.cat([cls, tokens], dim=1)
        return tokens
