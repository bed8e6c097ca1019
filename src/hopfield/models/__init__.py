"""hopfield.models."""
