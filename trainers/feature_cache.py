"""Frozen image-feature cache for evaluation.

For zero-shot CLIP, CoOp, CoCoOp, KgCoOp and their PLPP variants the image tower is frozen and
unprompted: a test image's feature depends only on CLIP's image weights, the precision, the
image and the test transform. A base-to-new sweep evaluates the same test images for every
seed, method and half, so the image tower (most of evaluation's time) is run once per image list
and the features are read from disk afterwards.

- Opt-in per trainer: a trainer sets ``frozen_image_tower = True`` and answers
  ``image_tower()``, ``encode_images(images)`` and ``logits_from_features(features)``. A trainer
  that prompts or changes the image tower (MaPLe, IVLP, PromptSRC) leaves it False, and so must
  any subclass of an opted-in trainer that does so.
- Key: a checksum of the image tower's weights, their dtype and the trainer's precision, the
  device type, the dataset and split, the image list (each path with its size and modification
  time), the test transform, the batch size, and ``feature_kind`` for a trainer that stores other
  features than the unit-norm ones (LinearProbeCLIP: the raw tower output). A change to any part is another key, hence
  another file: nothing stale is ever read. Features are computed batch by batch as the
  uncached evaluation does, so logits with and without the cache are the same (bitwise on the
  CPU in fp32).
- Concurrency: a file is written under a temporary name and renamed into place (atomic on one
  file system); two runs filling the same entry both compute it and the last rename wins,
  readers see a whole file or none. An unreadable entry is recomputed.
- Config: ``TEST.FEATURE_CACHE`` (True) turns it on or off; ``TEST.FEATURE_CACHE_DIR`` sets
  the folder. Default: ``$PLPP_FEATURE_CACHE_DIR``, else ``$XDG_CACHE_HOME/plpp-toolkit/features``
  (``~/.cache/plpp-toolkit/features``): a per-user cache rather than beside the dataset, because
  dataset folders are often shared or read-only and the features depend on the user's CLIP
  weights. About 2 KB per image for ViT-B/16 in fp32 (ImageNet's 50,000 test images: 100 MB);
  the folder can be deleted at any time.

The engine's own evaluation loop (the bundled one or Dassl's) runs unchanged: during
``cached_image_features(trainer)`` the trainer's val and test loaders yield feature batches in
place of image batches, and its ``model_inference`` maps features to logits.
"""
import contextlib
import hashlib
import json
import os
import tempfile
from typing import Dict, Iterator, List, Optional

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, SequentialSampler

from .open_clip_weights import backbone_identity

ENV_DIR = "PLPP_FEATURE_CACHE_DIR"
FORMAT_VERSION = 1


def extend_cfg(cfg) -> None:
    """Add ``TEST.FEATURE_CACHE`` and ``TEST.FEATURE_CACHE_DIR`` (module docstring)."""
    cfg.TEST.FEATURE_CACHE = True  # reuse frozen image features across evaluations [ours]
    cfg.TEST.FEATURE_CACHE_DIR = ""  # "" = $PLPP_FEATURE_CACHE_DIR or ~/.cache/plpp-toolkit/features


def cache_dir(cfg) -> str:
    """The cache folder a run uses (``TEST.FEATURE_CACHE_DIR``, else the default above)."""
    configured = cfg.TEST.get("FEATURE_CACHE_DIR", "") or os.environ.get(ENV_DIR, "")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "plpp-toolkit", "features")


def weights_checksum(module: nn.Module) -> str:
    """BLAKE2 digest of a module's state dict: names, dtypes, shapes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def image_list_digest(data_source) -> str:
    """Digest of the evaluated images, in order: each path, size and modification time."""
    digest = hashlib.blake2b(digest_size=16)
    for item in data_source:
        stat = os.stat(item.impath)
        digest.update(f"{os.path.abspath(item.impath)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def feature_key(trainer, loader: DataLoader, split: str) -> Dict[str, object]:
    """Everything the features of ``loader``'s images depend on (module docstring)."""
    if getattr(trainer, "_image_tower_checksum", None) is None:  # frozen: computed once per run
        trainer._image_tower_checksum = weights_checksum(trainer.image_tower())
    dtype = next(trainer.image_tower().parameters()).dtype
    kind = getattr(trainer, "feature_kind", "")  # a trainer storing other features than unit-norm ones names them
    identity = backbone_identity(trainer.cfg)  # open_clip: model name and tag; OpenAI's keys are unchanged
    return {
        **({"features": kind} if kind else {}),
        **({"backbone": identity} if identity else {}),
        "version": FORMAT_VERSION,
        "weights": trainer._image_tower_checksum,
        "precision": f"{getattr(trainer, 'precision', '')}/{dtype}",
        "device": trainer.device.type,
        "dataset": trainer.cfg.DATASET.NAME,
        "split": split,
        "images": image_list_digest(loader.dataset.data_source),
        "n_images": len(loader.dataset.data_source),
        "transform": repr(loader.dataset.transform),
        "batch_size": loader.batch_size,
    }


class FeatureStore:
    """Feature tensors on disk under ``directory/<dataset>/<key digest>.pt``."""

    def __init__(self, directory: str):
        self.directory = directory

    def path(self, key: Dict[str, object]) -> str:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
        return os.path.join(self.directory, str(key["dataset"]), f"{key['split']}-{digest}.pt")

    def load(self, key: Dict[str, object]) -> Optional[torch.Tensor]:
        """The stored features for ``key``, or None when absent or unreadable."""
        path = self.path(key)
        if not os.path.exists(path):
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if entry["key"] == key and entry["features"].shape[0] == key["n_images"]:
                return entry["features"]
            reason = "its key differs"
        except Exception as e:  # a truncated or foreign file: recompute it
            reason = f"{type(e).__name__}: {e}".splitlines()[0]
        print(f"Note: ignoring the cached image features at {path} ({reason}); computing them again")
        return None

    def save(self, key: Dict[str, object], features: torch.Tensor) -> str:
        """Write atomically: a temporary file in the same folder, then a rename."""
        path = self.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save({"key": key, "features": features}, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return path


class CachedFeatureLoader:
    """Iterates like ``loader`` but yields ``{"img": features, "label": labels}`` batches: read
    from the store, or computed with the trainer's image tower (and stored) on the first pass."""

    def __init__(self, trainer, loader: DataLoader, split: str, store: FeatureStore):
        self.trainer, self.loader, self.split, self.store = trainer, loader, split, store
        self.batch_size = loader.batch_size
        self.dataset = loader.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Dict[str, torch.Tensor]]:
        key = feature_key(self.trainer, self.loader, self.split)
        features = self.store.load(key)
        n_images = key["n_images"]
        if features is not None:
            print(f"Image features of the {n_images:,} {self.split} images: read from {self.store.path(key)}")
            labels = torch.tensor([item.label for item in self.loader.dataset.data_source])
            for start in range(0, n_images, self.batch_size):
                yield {"img": features[start : start + self.batch_size], "label": labels[start : start + self.batch_size]}
            return
        computed: List[torch.Tensor] = []
        for batch in self.loader:
            batch_features = self.trainer.encode_images(batch["img"].to(self.trainer.device))
            computed.append(batch_features.cpu())
            yield {"img": batch_features, "label": batch["label"]}
        path = self.store.save(key, torch.cat(computed))
        print(f"Image features of the {n_images:,} {self.split} images: computed and cached at {path}")


def uses_cache(trainer) -> bool:
    """Whether ``trainer``'s evaluations read and fill the cache (not yet under torchrun, whose
    evaluation shards the image batches over the processes)."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1
    return (bool(getattr(trainer, "frozen_image_tower", False)) and bool(trainer.cfg.TEST.get("FEATURE_CACHE", False))
            and not distributed)


@contextlib.contextmanager
def cached_image_features(trainer) -> Iterator[None]:
    """Within the block, the trainer evaluates from cached image features (when it opts in and
    ``TEST.FEATURE_CACHE`` is on and every evaluation loader is a sequential DataLoader)."""
    if not uses_cache(trainer):
        yield
        return
    saved = {name: getattr(trainer, name) for name in ("val_loader", "test_loader")}
    loaders = [loader for loader in saved.values() if loader is not None]
    # model_inference is swapped for both loaders at once: all of them must yield features.
    if not all(isinstance(loader, DataLoader) and isinstance(loader.sampler, SequentialSampler) for loader in loaders):
        yield
        return
    store = FeatureStore(cache_dir(trainer.cfg))
    for name, loader in saved.items():
        if loader is not None:
            setattr(trainer, name, CachedFeatureLoader(trainer, loader, name.split("_")[0], store))
    saved["model_inference"] = trainer.__dict__.get("model_inference")
    trainer.model_inference = trainer.logits_from_features
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(trainer, name, value)
        if saved["model_inference"] is None:
            del trainer.model_inference  # back to the class's method
