"""Classifiers: the domain classifier, the frozen-feature transfer classifier,
and applying a finished classifier run to images."""
