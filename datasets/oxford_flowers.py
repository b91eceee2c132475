import os.path as osp
from collections import OrderedDict

from dassl.data.datasets import DATASET_REGISTRY
from dassl.utils import read_json
from scipy.io import loadmat

from . import common


@DATASET_REGISTRY.register()
class OxfordFlowers(common.CoOpDataset):
    """Oxford Flowers 102: flat ``jpg/image_00001.jpg`` ... ``image_08189.jpg``.

    Raw fallback: ``imagelabels.mat`` (the i-th label, 1..102, belongs to ``image_{i+1:05d}.jpg``)
    named by ``cat_to_name.json`` (keys "1".."102"), split 50/20/30 at random per class, classes
    taken in order of first appearance in the label file.
    """

    catalogue_name = "oxford_flowers"  # folder and split file: runtime/catalogue
    image_folder = "jpg"
    raw_files = ("imagelabels.mat", "cat_to_name.json")

    def read_raw_splits(self):
        mat_labels = loadmat(osp.join(self.dataset_dir, "imagelabels.mat"))["labels"][0]
        cat_to_name = read_json(osp.join(self.dataset_dir, "cat_to_name.json"))
        impaths_by_class = OrderedDict()
        for index, mat_label in enumerate(mat_labels):
            mat_label = int(mat_label)
            key = (mat_label - 1, cat_to_name[str(mat_label)])
            impaths_by_class.setdefault(key, []).append(osp.join(self.image_dir, f"image_{index + 1:05d}.jpg"))
        print("Splitting data into 50% train, 20% val, and 30% test")
        return common.split_per_class(impaths_by_class, p_trn=0.5, p_val=0.2)
