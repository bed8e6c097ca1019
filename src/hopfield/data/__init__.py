"""hopfield.data."""
