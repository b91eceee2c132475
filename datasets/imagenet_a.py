from dassl.data.datasets import DATASET_REGISTRY

from . import common


@DATASET_REGISTRY.register()
class ImageNetA(common.ImageNetVariantDataset):
    """ImageNet-A (test only): 200 classes in ``imagenet-a/<wnid>/``, labelled 0..199 by sorted wnid."""

    catalogue_name = "imagenet_a"  # its folder: runtime/catalogue
    image_folder = "imagenet-a"
    ignored_entries = ("README.txt",)  # shipped inside the archive's image folder
