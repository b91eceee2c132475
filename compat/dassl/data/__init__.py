"""Data pipeline: datasets, samplers, transforms and the data manager."""
