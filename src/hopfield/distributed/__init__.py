"""hopfield.distributed."""
