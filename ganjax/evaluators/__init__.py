"""Evaluation: sample grids and training curves (classifier metrics and FID come later)."""
