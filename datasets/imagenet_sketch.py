from dassl.data.datasets import DATASET_REGISTRY

from . import common


@DATASET_REGISTRY.register()
class ImageNetSketch(common.ImageNetVariantDataset):
    """ImageNet-Sketch (test only): 1000 classes in ``images/<wnid>/`` (the archive's ``sketch/``, renamed)."""

    dataset_dir = "imagenet-sketch"
    image_folder = "images"
