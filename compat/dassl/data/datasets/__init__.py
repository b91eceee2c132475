"""The dataset registry and the ``Datum``/``DatasetBase`` classes the project's datasets extend."""
from .base_dataset import DatasetBase, Datum
from .build import DATASET_REGISTRY, build_dataset

__all__ = ["DATASET_REGISTRY", "build_dataset", "DatasetBase", "Datum"]
