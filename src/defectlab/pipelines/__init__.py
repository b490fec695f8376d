"""Pipelines over detectors and classifiers: the category router (multi-product inspection)."""
