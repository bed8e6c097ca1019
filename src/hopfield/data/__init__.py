"""Offline data for associative memories: synthetic patterns, images and corruptions.

* :mod:`~hopfield.data.generators` — random bipolar, Gaussian and spherical patterns;
* :mod:`~hopfield.data.structured` — patterns with a minimum Hamming distance or a
  controlled correlation (Bielmeier & Friedland 2025);
* :mod:`~hopfield.data.datasets` — bundled digits and glyphs, local MNIST /
  Fashion-MNIST / CIFAR-10 files (never downloaded), ±1 / flatten helpers;
* :mod:`~hopfield.data.corruptions` — bit flips, masks, occlusion, Gaussian noise.
"""

from hopfield.data.corruptions import flip_bits, gaussian_noise, mask_random, occlude_block
from hopfield.data.datasets import (
    DATASET_NAMES,
    ENV_VAR,
    flatten,
    load_cifar10,
    load_dataset,
    load_digits,
    load_glyphs,
    load_idx_dataset,
    read_idx,
    to_bipolar,
    to_centered,
    unflatten,
)
from hopfield.data.generators import (
    make_generator,
    random_bipolar,
    random_gaussian,
    random_spherical,
)
from hopfield.data.glyphs import DEFAULT_CHARACTERS, render_glyph, render_glyphs
from hopfield.data.structured import (
    correlated_bipolar,
    hamming_distances,
    hamming_separated,
    mean_pairwise_overlap,
    plotkin_bound,
)

__all__ = [
    "DATASET_NAMES",
    "DEFAULT_CHARACTERS",
    "ENV_VAR",
    "correlated_bipolar",
    "flatten",
    "flip_bits",
    "gaussian_noise",
    "hamming_distances",
    "hamming_separated",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_glyphs",
    "load_idx_dataset",
    "make_generator",
    "mask_random",
    "mean_pairwise_overlap",
    "occlude_block",
    "plotkin_bound",
    "random_bipolar",
    "random_gaussian",
    "random_spherical",
    "read_idx",
    "render_glyph",
    "render_glyphs",
    "to_bipolar",
    "to_centered",
    "unflatten",
]
