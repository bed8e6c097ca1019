"""hopfield.nn."""
