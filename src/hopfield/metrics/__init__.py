"""hopfield.metrics."""
