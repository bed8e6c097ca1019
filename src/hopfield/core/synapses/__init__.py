"""Hypersynapses: energy functions of the activations of the layers they join."""
