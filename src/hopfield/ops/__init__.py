"""hopfield.ops."""
