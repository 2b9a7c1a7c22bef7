"""Benchmarks beside ganjax: benchmarks.torch holds the PyTorch twins (ganjax never imports it)."""
