"""A tiny image dataset, a linear-probe trainer and their config, for the bundled-engine tests.

Importing this module registers ``TinyImages`` (DATASET_REGISTRY) and ``TinyProbe``
(TRAINER_REGISTRY) in whichever ``dassl`` the engine selection chose.
"""
import os
import random
from typing import Any, Dict, List, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from yacs.config import CfgNode

from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer

IMAGE_SIZE = 8
CLASSNAMES = ["red", "green", "blue"]


def write_images(root: str, per_class: int = 4) -> List[Tuple[str, int]]:
    """Noisy single-colour PNGs, ``per_class`` for each class; returns (path, label) pairs."""
    rng = random.Random(0)
    items = []
    for label in range(len(CLASSNAMES)):
        for i in range(per_class):
            path = os.path.join(root, f"{CLASSNAMES[label]}_{i}.png")
            if not os.path.exists(path):
                os.makedirs(root, exist_ok=True)
                pixels = [
                    tuple(200 if channel == label else rng.randint(0, 60) for channel in range(3))
                    for _ in range(IMAGE_SIZE * IMAGE_SIZE)
                ]
                image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE))
                image.putdata(pixels)
                image.save(path)
            items.append((path, label))
    return items


@DATASET_REGISTRY.register()
class TinyImages(DatasetBase):
    """All images in train_x and test; the first image of each class is the val split."""

    def __init__(self, cfg: CfgNode):
        data = [Datum(impath=p, label=y, classname=CLASSNAMES[y]) for p, y in write_images(cfg.DATASET.ROOT)]
        val = [item for item in data if item.impath.endswith("_0.png")]
        super().__init__(train_x=data, val=val, test=data)


@TRAINER_REGISTRY.register()
class TinyProbe(TrainerX):
    """A linear classifier trained like CoOp: one scheduler step after each epoch's last batch."""

    def build_model(self) -> None:
        self.epoch_lrs: List[float] = []  # LR seen by each epoch's first batch
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(3 * IMAGE_SIZE * IMAGE_SIZE, self.num_classes))
        self.model.to(self.device)
        self.optim = build_optimizer(self.model, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("probe", self.model, self.optim, self.sched)

    def forward_backward(self, batch: Dict[str, Any]) -> Dict[str, float]:
        image, label, _ = self.parse_batch_train(batch)
        if self.batch_idx == 0:
            self.epoch_lrs.append(self.get_current_lr())
        output = self.model(image)
        loss = F.cross_entropy(output, label)
        self.model_backward_and_update(loss)
        if self.batch_idx + 1 == self.num_batches:
            self.update_lr()
        return {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}


def tiny_cfg(root: str, output_dir: str, opts: Sequence[Any] = ()) -> CfgNode:
    """CoOp-like settings (sgd, cosine, one constant warmup epoch) on TinyImages, then ``opts``
    as for ``merge_from_list`` (e.g. ``["OPTIM.MAX_EPOCH", 3]``)."""
    cfg = get_cfg_default()
    cfg.OUTPUT_DIR = output_dir
    cfg.USE_CUDA = False
    cfg.DATASET.NAME = "TinyImages"
    cfg.DATASET.ROOT = root
    cfg.TRAINER.NAME = "TinyProbe"
    cfg.INPUT.SIZE = (IMAGE_SIZE, IMAGE_SIZE)
    cfg.INPUT.INTERPOLATION = "bicubic"
    cfg.INPUT.TRANSFORMS = ("random_flip", "normalize")
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE = 4
    cfg.DATALOADER.TEST.BATCH_SIZE = 5
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.002
    cfg.OPTIM.MAX_EPOCH = 4
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"
    cfg.OPTIM.WARMUP_CONS_LR = 1e-5
    cfg.TRAIN.PRINT_FREQ = 2
    cfg.merge_from_list(list(opts))
    return cfg
