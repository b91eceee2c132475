from .build import DATASET_REGISTRY, build_dataset
from .base_dataset import Datum, DatasetBase
