"""Trainers: the registry, ``build_trainer`` and the base classes the CoOp-family trainers extend."""
from .build import TRAINER_REGISTRY, build_trainer
from .trainer import SimpleTrainer, TrainerBase, TrainerX, TrainingInterrupted

__all__ = ["TRAINER_REGISTRY", "build_trainer", "SimpleTrainer", "TrainerBase", "TrainerX", "TrainingInterrupted"]
