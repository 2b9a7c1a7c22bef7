"""The one training loop and what it stands on: train state, optimizers, checkpoints,
devices, metric writers, run folders, sampling from a run, the experiment runner."""
