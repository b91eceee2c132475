"""Evaluators that turn model outputs into the printed test results."""
from .build import EVALUATOR_REGISTRY, build_evaluator
from .evaluator import Classification, EvaluatorBase

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator", "Classification", "EvaluatorBase"]
