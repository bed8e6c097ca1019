"""Compatibility layers: other libraries' APIs on this library's layers.

* :mod:`hopfield.compat.hflayers`: hopfield-layers (Ramsauer et al. 2020) ``Hopfield``,
  ``HopfieldPooling`` and ``HopfieldLayer`` with its arguments and defaults.
"""
