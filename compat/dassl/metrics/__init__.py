"""Metrics used by the trainers' progress lines."""
from .accuracy import compute_accuracy

__all__ = ["compute_accuracy"]
