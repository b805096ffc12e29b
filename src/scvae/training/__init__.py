"""Training: one fit loop with checkpoints, learning curves, warm-up and early stopping."""
