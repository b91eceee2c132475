"""A run folder as everything prediction needs: the resolved config, the class names, the
checkpoint its evaluation used, and the run's own trainer built from them without its dataset.

The trainer is the registered one the run recorded (``TRAINER.NAME``), built from the run's
config, so a method added to ``trainers/`` predicts with no change here. Only Dassl's data
manager is replaced, by the class list: a trainer's ``build_model`` reads the class names from
``self.dm.dataset.classnames`` and nothing else of the data.
"""
import contextlib
import io
import json
import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Iterator, List, Optional, Sequence

from runtime.records import read_finished


@dataclass
class RunRecord:
    """What a finished run folder says about itself."""

    run_dir: str
    cfg: object  # the run's frozen yacs config
    classnames: List[str]  # the classes its evaluation ranked (empty: not recorded)
    model_dir: str  # where its checkpoints are ("" for trainers without any, e.g. zero-shot CLIP)
    load_epoch: Optional[int]  # the checkpoint's epoch; None means model-best.pth.tar


def read_run(run_dir: str) -> RunRecord:
    """The record of the finished run in ``run_dir`` (a train or an --eval-only output folder)."""
    from runtime.config import default_config, merge_from_file

    config_path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{run_dir} is not a run folder (no config.yaml): pass the --output-dir of a train.py run")
    finished = read_finished(run_dir)
    if not finished:
        raise ValueError(f"The run in {run_dir} did not finish (no finished.json): run it to the end first, or pass another run")
    cfg = default_config()
    merge_from_file(cfg, config_path)
    if not cfg.MODEL.BACKBONE.PATH:
        cfg.MODEL.BACKBONE.PATH = recorded_clip_checkpoint(run_dir)  # $CLIP_CHECKPOINT still wins, as in train.py
    if "FEATURE_CACHE" in cfg.TEST:
        cfg.TEST.FEATURE_CACHE = False  # the evaluation-feature cache is keyed on dataset splits, not on any images
    cfg.freeze()
    if finished.get("mode") == "eval":
        model_dir = finished.get("model_dir") or ""
        load_epoch = finished.get("load_epoch")
    else:
        model_dir = run_dir
        # Runs recorded before finished.json kept the epoch: the final test's model, from the config.
        default_epoch = cfg.OPTIM.MAX_EPOCH if cfg.TEST.FINAL_MODEL == "last_step" else None
        load_epoch = finished.get("load_epoch", default_epoch)
    return RunRecord(run_dir, cfg, list(finished.get("classnames") or []), model_dir, load_epoch)


def recorded_clip_checkpoint(run_dir: str) -> str:
    """The local CLIP file the run loaded ($CLIP_CHECKPOINT then), "" when it used a backbone name."""
    try:
        with open(os.path.join(run_dir, "environment.json")) as f:
            return json.load(f).get("clip_checkpoint") or ""
    except (OSError, ValueError):
        return ""


class ClassList:
    """The part of Dassl's ``DataManager`` a trainer's ``build_model`` reads, for a class list
    without any data: ``dm.dataset.classnames``, ``num_classes``, ``lab2cname``."""

    def __init__(self, classnames: Sequence[str]):
        self.dataset = SimpleNamespace(classnames=list(classnames))
        self.num_classes = len(classnames)
        self.num_source_domains = 1
        self.lab2cname = dict(enumerate(classnames))
        self.train_loader_x = self.train_loader_u = self.val_loader = self.test_loader = None


def _data_free_build_data_loader(self) -> None:
    """``build_data_loader`` of a trainer built for prediction: the class list, no loaders."""
    self.dm = ClassList(self._predict_classnames)
    for name in ("train_loader_x", "train_loader_u", "val_loader", "test_loader", "num_classes",
                 "num_source_domains", "lab2cname"):
        setattr(self, name, getattr(self.dm, name))


@contextlib.contextmanager
def quiet(verbose: bool = False) -> Iterator[None]:
    """Hide what building and loading print (the trainer's log lines), unless ``verbose``."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def build_trainer(record: RunRecord, classnames: Sequence[str], verbose: bool = False):
    """The run's trainer for ``classnames``, with the run's checkpoint loaded, in eval mode."""
    import trainers  # noqa: F401  (registers every trainer)
    from dassl.engine import TRAINER_REGISTRY

    name = record.cfg.TRAINER.NAME
    if name not in TRAINER_REGISTRY.registered_names():
        raise ValueError(f"The run in {record.run_dir} used trainer {name!r}, which this checkout does not have")
    method = TRAINER_REGISTRY.get(name)
    data_free = type(name, (method,), {"build_data_loader": _data_free_build_data_loader,
                                       "_predict_classnames": list(classnames)})
    with quiet(verbose):
        trainer = data_free(record.cfg)
        if trainer.get_model_names():
            if not record.model_dir:
                raise ValueError(f"The run in {record.run_dir} records no model folder to load its prompt from")
            trainer.load_model(record.model_dir, epoch=record.load_epoch)
    trainer.set_model_mode("eval")
    return trainer


def read_classnames(path: str) -> List[str]:
    """Class names from a text file, one per line (blank lines ignored), each at most once."""
    try:
        with open(path) as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise FileNotFoundError(f"Cannot read the class names file {path} ({e.strerror}): one class name per line") from None
    if not names:
        raise ValueError(f"{path} lists no class names: write one class name per line")
    check_unique(names, path)
    return names


def check_unique(classnames: Sequence[str], source: str) -> None:
    """Refuse a class listed twice: the softmax would split its probability between the copies."""
    seen = set()
    for name in classnames:
        if name in seen:
            raise ValueError(f"{source} lists the class {name!r} more than once, which would split its probability "
                             "between the copies: list each class once")
        seen.add(name)
