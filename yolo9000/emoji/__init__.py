"""The emoji world: a synthetic joint-training example (classes, rendering, scenes, the generator, its recipe)."""
