"""The Energy Transformer against same-budget ViT masked autoencoders (``study et-vs-mae``)."""
