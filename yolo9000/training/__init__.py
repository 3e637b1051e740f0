"""Training: the trainer loop, its config, learning-rate schedule, distributed set-up and metrics log."""
