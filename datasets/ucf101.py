import os.path as osp
import re

from dassl.data.datasets import DATASET_REGISTRY, Datum

from . import common


@DATASET_REGISTRY.register()
class UCF101(common.CoOpDataset):
    """UCF101 middle frames: ``UCF-101-midframes/<Split_Action>/v_<Action>_gXX_cYY.jpg``.

    The CamelCase action is split at capitals and joined with "_" (``ApplyEyeMakeup`` ->
    ``Apply_Eye_Makeup``): that is both the folder and the class name, while the file names
    keep the CamelCase. Raw fallback: ``ucfTrainTestlist`` split 01; val is a 20% per-class
    carve-out of trainlist01.
    """

    catalogue_name = "ucf101"  # folder and split file: runtime/catalogue
    image_folder = "UCF-101-midframes"
    raw_files = ("ucfTrainTestlist/classInd.txt", "ucfTrainTestlist/trainlist01.txt", "ucfTrainTestlist/testlist01.txt")

    def read_raw_splits(self):
        label_of = {}
        with open(osp.join(self.dataset_dir, "ucfTrainTestlist", "classInd.txt"), "r") as f:
            for line in f:
                class_id, action = line.strip().split(" ")
                label_of[action] = int(class_id) - 1
        trainval = self.read_list("trainlist01.txt", label_of)
        test = self.read_list("testlist01.txt", label_of)
        train, val = common.split_trainval(trainval)
        return train, val, test

    def read_list(self, list_file, label_of):
        """Lines ``<Action>/v_<Action>_gXX_cYY.avi [class id]``; only the video path is used."""
        items = []
        with open(osp.join(self.dataset_dir, "ucfTrainTestlist", list_file), "r") as f:
            for line in f:
                action, video = line.strip().split(" ")[0].split("/")
                folder = split_camel_case(action)
                impath = osp.join(self.image_dir, folder, video.replace(".avi", ".jpg"))
                items.append(Datum(impath=impath, label=label_of[action], classname=folder))
        return items


def split_camel_case(action):
    """Split at capitals and join with "_": "ApplyEyeMakeup" -> "Apply_Eye_Makeup", "YoYo" -> "Yo_Yo"."""
    return "_".join(re.findall("[A-Z][^A-Z]*", action))
