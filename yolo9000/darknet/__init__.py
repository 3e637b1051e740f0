"""Darknet compatibility: cfg parser, layers, the generic model, .weights I/O, checkpoints, the shipped cfg templates."""
