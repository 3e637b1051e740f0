"""Darknet compatibility: cfg parser, layers, the generic model, .weights I/O, checkpoints, shipped cfg templates."""
