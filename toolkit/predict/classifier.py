"""``PromptClassifier``: a learned prompt (or zero-shot CLIP) as an image classifier.

    from toolkit.predict import PromptClassifier
    classifier = PromptClassifier.from_run("output/.../seed1")       # the run's own class names
    classifier = PromptClassifier.from_run(run_dir, classnames=["cat", "dog"])  # any others
    for p in classifier.predict(["photo.jpg", "holiday/"], topk=3):
        print(p.path, p.labels[0], p.probs[0])

Images go through the run's own test pipeline: its test transform, then its trainer's
``test()`` (precision, autocast, prompts encoded once, ``model_inference``), so the predictions
are exactly those its evaluation scored. Probabilities are the softmax of the trainer's logits.
"""
import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from PIL import Image
from tqdm import tqdm

from .run import RunRecord, build_trainer, check_unique, quiet, read_run

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")

ImageInput = Union[str, "os.PathLike[str]", Image.Image, torch.Tensor]


@dataclass
class Prediction:
    """One image's top-k classes, most probable first."""

    path: Optional[str]  # the file, or None for an image passed in memory
    index: int  # position among the images read, in input order (folders expanded)
    labels: List[str]
    probs: List[float]

    def record(self) -> Dict[str, Any]:
        """``path``, then ``label_1, prob_1, ..., label_K, prob_K`` (the CSV/JSON row)."""
        row: Dict[str, Any] = {"path": self.path}
        for k, (label, prob) in enumerate(zip(self.labels, self.probs), start=1):
            row[f"label_{k}"] = label
            row[f"prob_{k}"] = prob
        return row


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def expand_inputs(images: Union[ImageInput, Sequence[ImageInput]]) -> List[Tuple[Optional[str], Any]]:
    """(path or None, source) per image: folders walked recursively (image files, sorted), tensors
    [N, 3, H, W] split into images."""
    if isinstance(images, (str, os.PathLike, Image.Image)) or (isinstance(images, torch.Tensor) and images.dim() == 3):
        images = [images]
    items: List[Tuple[Optional[str], Any]] = []
    for image in images:
        if isinstance(image, torch.Tensor):
            items.extend((None, x) for x in (image if image.dim() == 4 else [image]))
        elif isinstance(image, Image.Image):
            items.append((None, image))
        elif os.path.isdir(image):
            found = []
            for folder, _dirs, files in os.walk(image):
                found.extend(os.path.join(folder, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
            items.extend((path, path) for path in sorted(found))
        else:
            items.append((os.fspath(image), os.fspath(image)))
    return items


class ImageList(torch.utils.data.Dataset):
    """The images, each through the run's test transform; a file that cannot be read gives its
    reason instead (reported and skipped by ``batches``)."""

    def __init__(self, items: Sequence[Tuple[Optional[str], Any]], transform, input_size: Sequence[int]):
        self.items = items
        self.transform = transform
        self.input_size = tuple(input_size)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path, source = self.items[index]
        if isinstance(source, torch.Tensor):
            if tuple(source.shape) != (3, *self.input_size):
                raise ValueError(
                    f"A tensor image must be the model's preprocessed input of shape (3, {self.input_size[0]}, "
                    f"{self.input_size[1]}), got {tuple(source.shape)}: pass a PIL image or a file to have it preprocessed"
                )
            return index, source.float(), ""
        try:
            if isinstance(source, Image.Image):
                image = source.convert("RGB")
            else:
                with Image.open(source) as opened:
                    image = opened.convert("RGB")
        except (OSError, SyntaxError, ValueError) as e:
            return index, None, str(e).splitlines()[0] if str(e) else type(e).__name__
        return index, self.transform(image), ""


def collate(samples):
    """A batch of the readable images, their indices, and the unreadable ones with reasons."""
    good = [(i, x) for i, x, _ in samples if x is not None]
    failed = [(i, reason) for i, x, reason in samples if x is None]
    images = torch.stack([x for _, x in good]) if good else None
    return {"img": images, "label": torch.zeros(len(good), dtype=torch.long),
            "index": [i for i, _ in good], "failed": failed}


class Batches:
    """The batches the trainer's ``test()`` evaluates, in order; records which images each held
    and reports every unreadable file in one line on stderr."""

    def __init__(self, loader, items: Sequence[Tuple[Optional[str], Any]], progress: bool):
        self.loader = loader
        self.items = items
        self.progress = progress
        self.stream = sys.stderr  # the console, also while the trainer's own output is hidden
        self.indices: List[int] = []
        self.skipped: List[Tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict]:
        # position 0: the trainer's own bar, opened first, writes to a hidden stream
        with tqdm(total=len(self.items), desc="predicting", unit="image", disable=not self.progress, file=self.stream,
                  position=0) as bar:
            for batch in self.loader:
                for index, reason in batch["failed"]:
                    path = self.items[index][0]
                    self.skipped.append((path, reason))
                    tqdm.write(f"skipped {path}: cannot read it as an image ({reason})", file=self.stream)
                bar.update(len(batch["index"]) + len(batch["failed"]))
                if batch["img"] is None:
                    continue
                self.indices.extend(batch["index"])
                yield batch


class OutputCollector:
    """Stands in for the trainer's evaluator: keeps the logits instead of scoring them."""

    def __init__(self):
        self.outputs: List[torch.Tensor] = []

    def reset(self) -> None:
        self.outputs = []

    def process(self, output: torch.Tensor, _label: torch.Tensor) -> None:
        self.outputs.append(output.detach().float().cpu())

    def evaluate(self) -> Dict[str, float]:
        return {"images": float(sum(len(o) for o in self.outputs))}


@contextlib.contextmanager
def trainer_evaluating(trainer, batches: Batches, collector: OutputCollector) -> Iterator[None]:
    """The trainer evaluates ``batches`` into ``collector``; its own lines and per-batch bar are
    hidden (``batches`` keeps the console for its bar and its skipped-file lines)."""
    saved = trainer.test_loader, trainer.evaluator
    trainer.test_loader, trainer.evaluator = batches, collector
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
            yield
    finally:
        trainer.test_loader, trainer.evaluator = saved


# ---------------------------------------------------------------------------------------------
# The classifier
# ---------------------------------------------------------------------------------------------
class PromptClassifier:
    """A run's trainer with its checkpoint, ranking ``classnames`` for any images."""

    def __init__(self, record: RunRecord, trainer, classnames: Sequence[str]):
        from dassl.data.transforms import build_transform

        self.record = record
        self.trainer = trainer
        self.classnames = list(classnames)
        with quiet():
            self.transform = build_transform(record.cfg, is_train=False)
        self.skipped: List[Tuple[str, str]] = []  # (path, reason) of the last predict call

    @classmethod
    def from_run(cls, run_dir: str, classnames: Optional[Sequence[str]] = None, verbose: bool = False) -> "PromptClassifier":
        """The classifier of the finished run in ``run_dir``, over its own class names or ``classnames``."""
        record = read_run(run_dir)
        if classnames:
            check_unique(classnames, "classnames")
        names = list(classnames) if classnames else record.classnames
        if not names:
            raise ValueError(f"The run in {run_dir} does not record its class names (an older run): pass classnames / --classnames FILE")
        return cls(record, build_trainer(record, names, verbose=verbose), names)

    @property
    def device(self) -> torch.device:
        return self.trainer.device

    def logits(self, images: Union[ImageInput, Sequence[ImageInput]], batch_size: Optional[int] = None,
               progress: bool = False) -> Tuple[torch.Tensor, List[Tuple[int, Optional[str]]]]:
        """The trainer's logits [N, n_cls] for the readable images, and each one's (index, path):
        its position among the inputs (folders expanded) and its file (None in memory)."""
        items = expand_inputs(images)
        cfg = self.record.cfg
        all_paths = all(isinstance(source, str) for _, source in items)
        loader = torch.utils.data.DataLoader(
            ImageList(items, self.transform, cfg.INPUT.SIZE), batch_size=batch_size or cfg.DATALOADER.TEST.BATCH_SIZE,
            num_workers=cfg.DATALOADER.NUM_WORKERS if all_paths and len(items) > 1 else 0, collate_fn=collate,
        )
        batches, collector = Batches(loader, items, progress), OutputCollector()
        with trainer_evaluating(self.trainer, batches, collector):
            self.trainer.test(split="test")
        self.skipped = batches.skipped
        logits = torch.cat(collector.outputs) if collector.outputs else torch.zeros(0, len(self.classnames))
        return logits, [(i, items[i][0]) for i in batches.indices]

    def predict(self, images: Union[ImageInput, Sequence[ImageInput]], topk: int = 5, batch_size: Optional[int] = None,
                progress: bool = False) -> List[Prediction]:
        """The ``topk`` most probable classes of each readable image (files, folders, PIL images,
        or preprocessed tensors [3, H, W] / [N, 3, H, W]); unreadable files are reported and skipped."""
        if topk < 1:
            raise ValueError(f"topk must be at least 1, got {topk}")
        logits, images_read = self.logits(images, batch_size, progress)
        probs, labels = logits.softmax(dim=-1).topk(min(topk, len(self.classnames)), dim=-1)
        return [Prediction(path, index, [self.classnames[c] for c in row_labels.tolist()], row_probs.tolist())
                for (index, path), row_probs, row_labels in zip(images_read, probs, labels)]
