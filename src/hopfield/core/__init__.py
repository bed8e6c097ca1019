"""hopfield.core."""
