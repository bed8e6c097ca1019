"""hopfield.experiments."""
