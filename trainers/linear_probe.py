"""Linear-probe CLIP, the few-shot baseline of CoOp, KgCoOp and PLPP, as CoOp's ``lpclip`` runs it.

What the reference does (KaiyangZhou/CoOp ``lpclip/``; the facts, not its code):
- features: the frozen CLIP image tower's output (``visual``: projected, *not* normalised) of the
  train, val and test images, all through the test transform (resize, centre crop, normalise);
- a scikit-learn ``LogisticRegression(solver="lbfgs", penalty="l2", max_iter=1000)``;
- C searched on the few-shot val set (1, 2, 4, 4, 4 images per class for 1, 2, 4, 8, 16 shots,
  Dassl's min(K, 4)): the best of 1e6, 1e4, ..., 1e-6 (the first of equals), then 8 halvings of
  the log10 interval [C/10, 10 C]: fit both ends, keep the better (the left one on a tie) and go on
  with the half of the interval next to it; the last step's classifier is tested.
Here the few-shot train and val sets are the few-shot protocol's (Dassl's split per seed and
shots, as every other method's), where the reference samples its own with NumPy. Features come
from the feature cache (``trainers/feature_cache.py``), the learned weights are an ``nn.Linear``
checkpoint (``linear_probe/model.pth.tar-1``), so ``--eval-only``, the results command and
predict read a run as any other.

A probe has one weight vector per training class: it cannot classify new classes (base-to-new)
or another dataset's classes (cross-dataset); both are refused in one line.
"""
import json
import os
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from dassl.data.data_manager import build_data_loader
from dassl.data.transforms import build_transform
from dassl.engine import TRAINER_REGISTRY, TrainerX

from runtime.records import read_finished

from .backbone import load_clip_to_cpu
from .feature_cache import CachedFeatureLoader, FeatureStore, cache_dir, cached_image_features, uses_cache

INITIAL_C = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)
MODEL_NAME = "linear_probe"
REFUSED = ("LinearProbeCLIP learns one weight vector per training class, so it cannot classify {what}: "
           "run it with the few-shot protocol (DATASET.SUBSAMPLE_CLASSES all, same dataset)")


def extend_cfg(cfg) -> None:
    """Add ``TRAINER.LINEAR_PROBE``: the reference's search and solver settings. DePT
    (trainers/dept.py) keeps its own keys in a node of the same name, as its reference does; the
    two share it (no key in common)."""
    if "LINEAR_PROBE" not in cfg.TRAINER:
        cfg.TRAINER.LINEAR_PROBE = CN()
    cfg.TRAINER.LINEAR_PROBE.C_GRID = list(INITIAL_C)  # the first search's values of C
    cfg.TRAINER.LINEAR_PROBE.SEARCH_STEPS = 8  # halvings of the interval around the grid's best C
    cfg.TRAINER.LINEAR_PROBE.MAX_ITER = 1000  # lbfgs iterations per fit
    cfg.TRAINER.LINEAR_PROBE.PREC = "fp16"  # image tower precision on a GPU (the reference: fp16); fp32 on the CPU


def fit(features: np.ndarray, labels: np.ndarray, c: float, max_iter: int):
    from sklearn.linear_model import LogisticRegression

    # penalty "l2" (the reference passes it) is the default; scikit-learn 1.8 deprecates passing it
    return LogisticRegression(solver="lbfgs", max_iter=max_iter, C=c).fit(features, labels)


def accuracy(classifier, features: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(classifier.predict(features) == labels))


@dataclass
class Search:
    c: float  # the chosen C
    classifier: object  # its fitted LogisticRegression
    val_accuracy: float
    tried: List[Tuple[float, float]] = field(default_factory=list)  # (C, val accuracy) in the order fitted


def search_c(train: Tuple[np.ndarray, np.ndarray], val: Tuple[np.ndarray, np.ndarray],
             grid: Sequence[float] = INITIAL_C, steps: int = 8, max_iter: int = 1000) -> Search:
    """The reference's C search (module docstring): the grid, then ``steps`` interval halvings."""
    def score(c: float):
        classifier = fit(*train, c, max_iter)
        result = accuracy(classifier, *val)
        tried.append((float(c), result))
        return classifier, result

    tried: List[Tuple[float, float]] = []
    scores = [score(c)[1] for c in grid]
    peak = grid[int(np.argmax(scores))]
    left, right = 1e-1 * peak, 1e1 * peak
    chosen = None
    for _ in range(steps):
        (left_fit, left_acc), (right_fit, right_acc) = score(left), score(right)
        mid = 0.5 * (np.log10(right) + np.log10(left))
        if left_acc < right_acc:
            chosen = Search(right, right_fit, right_acc)
            left, right = np.power(10, mid), np.power(10, np.log10(right))
        else:
            chosen = Search(left, left_fit, left_acc)
            left, right = np.power(10, np.log10(left)), np.power(10, mid)
    if chosen is None:  # no halving asked for: the grid's best
        classifier, result = score(peak)
        chosen = Search(peak, classifier, result)
    chosen.c, chosen.tried = float(chosen.c), tried
    return chosen


def linear_weights(classifier, n_classes: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The fitted classifier as [n_classes, dim] weights and a bias whose argmax is its
    ``predict`` (two classes: sklearn keeps one row for class 1, class 0 scores zero)."""
    coef, intercept = classifier.coef_, classifier.intercept_
    if list(classifier.classes_) != list(range(n_classes)):
        raise ValueError(f"the few-shot training set holds labels {list(classifier.classes_)}, not all {n_classes} "
                         "classes: every class needs at least one training image")
    if coef.shape[0] == 1 and n_classes == 2:
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return torch.tensor(coef, dtype=torch.float32), torch.tensor(intercept, dtype=torch.float32)


@TRAINER_REGISTRY.register()
class LinearProbeCLIP(TrainerX):
    """Logistic regression on frozen CLIP image features, C searched on the val set."""

    frozen_image_tower = True  # features from the cache (trainers/feature_cache.py)
    feature_kind = "image tower output, not normalised"  # zero-shot CLIP caches unit-norm features

    def check_cfg(self, cfg) -> None:
        if cfg.DATASET.SUBSAMPLE_CLASSES != "all":
            raise ValueError(REFUSED.format(what=f"the {cfg.DATASET.SUBSAMPLE_CLASSES} classes of a base-to-new split"))

    def build_model(self) -> None:
        cfg = self.cfg
        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME})")
        clip_model = load_clip_to_cpu(cfg)
        if self.device.type != "cuda" or cfg.TRAINER.LINEAR_PROBE.PREC != "fp16":
            clip_model.float()  # fp16 kernels are a GPU feature
        self.precision = "fp16" if clip_model.dtype == torch.float16 else "fp32"
        clip_model.to(self.device).requires_grad_(False)
        self.clip_model = clip_model
        self.probe = nn.Linear(clip_model.visual.output_dim, self.num_classes).to(self.device)
        self.register_model(MODEL_NAME, self.probe)

    def image_tower(self) -> nn.Module:
        return self.clip_model.visual

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """The image tower's output as the reference stores it: projected, not normalised (fp32)."""
        return self.clip_model.encode_image(images.type(self.clip_model.dtype)).float()

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.probe(features.float().to(self.device))

    def model_inference(self, image: torch.Tensor) -> torch.Tensor:
        return self.logits_from_features(self.encode_images(image))

    def test(self, split: Optional[str] = None) -> float:
        with cached_image_features(self):
            return super().test(split)

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Refuse, in one line, a probe trained on other classes than ours (cross-dataset)."""
        trained = list(read_finished(directory).get("classnames") or []) if directory else []
        ours = list(self.dm.dataset.classnames)
        if trained and trained != ours:
            raise ValueError(REFUSED.format(what=f"{self.cfg.DATASET.NAME}'s {len(ours)} classes with the probe of "
                                                 f"{len(trained)} other classes in {directory}"))
        super().load_model(directory, epoch)

    @torch.no_grad()
    def split_features(self, loader, split: str) -> Tuple[np.ndarray, np.ndarray]:
        """Features and labels of every image ``loader`` yields, from the cache when it is on."""
        if uses_cache(self):
            batches = ((b["img"], b["label"]) for b in CachedFeatureLoader(self, loader, split, FeatureStore(cache_dir(self.cfg))))
        else:
            batches = ((self.encode_images(b["img"].to(self.device)), b["label"]) for b in loader)
        features, labels = zip(*[(f.float().cpu(), y.cpu()) for f, y in batches])
        return torch.cat(features).double().numpy(), torch.cat(labels).numpy()

    def train_images_loader(self):
        """The few-shot training images in order, through the test transform (as the reference)."""
        cfg = self.cfg
        return build_data_loader(cfg, sampler_type="SequentialSampler", data_source=self.dm.dataset.train_x,
                                 batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, tfm=build_transform(cfg, is_train=False),
                                 is_train=False)

    def train(self) -> None:
        """Features, the C search, the probe's weights saved as epoch 1, then the final test."""
        self.time_start = time.time()
        if self.val_loader is None:
            raise ValueError(f"{self.cfg.DATASET.NAME} has no validation split, which LinearProbeCLIP searches C on")
        node = self.cfg.TRAINER.LINEAR_PROBE
        train = self.split_features(self.train_images_loader(), "train")
        val = self.split_features(self.val_loader, "val")
        print(f"Linear probe: {len(train[1]):,} training and {len(val[1]):,} validation images, "
              f"{train[0].shape[1]} features")
        search = search_c(train, val, tuple(node.C_GRID), node.SEARCH_STEPS, node.MAX_ITER)
        for c, result in search.tried:
            print(f"C {c:.6g}: val accuracy {100 * result:.2f}%")
        print(f"Chosen C = {search.c:.6g} (val accuracy {100 * search.val_accuracy:.2f}%)")
        weight, bias = linear_weights(search.classifier, self.num_classes)
        self.probe.weight.data.copy_(weight)
        self.probe.bias.data.copy_(bias)
        self.save_model(self.max_epoch - 1, self.output_dir)
        with open(os.path.join(self.output_dir, MODEL_NAME, "c_search.json"), "w") as f:
            json.dump({"C": search.c, "val_accuracy": search.val_accuracy, "tried": search.tried}, f, indent=1)
        self.after_train()


