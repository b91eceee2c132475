"""``check``: every image a dataset's splits list exists and decodes, the counts match the record's
(CoOp's) sizes and class count, and the few-shot caches point at images that are still there.

The lists of images come from the registered dataset class (``expected_images``), so the
``datasets`` package (and with it the engine) is imported only by ``check`` itself; importing this
module stays torch-free.
"""
import concurrent.futures
import glob
import os.path as osp
import pickle
from typing import Dict, List, Sequence, Tuple

from runtime.catalogue import DatasetRecord

from .progress import Progress

MAX_LINES_PER_KIND = 20  # problem lines of one kind per dataset before "... and N more"
DECODE_BATCH = 1024  # images handed to the reading threads at a time
FEWSHOT_CACHE_FOLDER = "split_fewshot"  # where the dataset classes cache few-shot samples

Entries = Dict[str, List[Tuple[str, int, str]]]  # split -> [(impath, label, classname)]


def image_problem(path: str) -> str:
    """Why ``path`` does not decode as an image: "missing", another reason, or "" when it does."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
        return ""
    except FileNotFoundError:
        return "missing"
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError ... for bad files
        return f"{type(e).__name__}: {str(e).splitlines()[0]}" if str(e) else type(e).__name__


class ProblemList:
    """Problem lines of one dataset, at most MAX_LINES_PER_KIND per kind."""

    def __init__(self, dataset_name: str):
        self.dataset_name = dataset_name
        self.lines: List[str] = []
        self.counts: Dict[str, int] = {}

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] <= MAX_LINES_PER_KIND:
            self.lines.append(f"{self.dataset_name}: {message}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def report(self) -> List[str]:
        extra = [
            f"{self.dataset_name}: ... and {count - MAX_LINES_PER_KIND} more {kind} problems"
            for kind, count in self.counts.items()
            if count > MAX_LINES_PER_KIND
        ]
        return self.lines + extra


def check(
    dataset: DatasetRecord, root: str, decode: bool = True, compare_sizes: bool = True, jobs: int = 4
) -> List[str]:
    """Problem lines for one dataset (empty when it is complete and every image reads)."""
    from dassl.data.datasets import DATASET_REGISTRY  # the caller imported ``datasets``, which registers them
    from datasets.common import download_hint

    problems = ProblemList(dataset.dataset_name)
    dataset_dir = osp.join(root, dataset.dataset_dir)
    if not osp.isdir(dataset_dir):
        problems.add("layout", f"dataset folder not found: {dataset_dir}; {download_hint(dataset.name, root)}")
        return problems.report()
    try:
        entries: Entries = DATASET_REGISTRY.get(dataset.dataset_name).expected_images(root)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        problems.add("layout", message.replace(f"{dataset.dataset_name}: ", "", 1))
        return problems.report()

    check_images(dataset.dataset_name, entries, problems, decode, jobs)
    if compare_sizes:
        check_sizes(dataset, entries, problems)
    check_fewshot_caches(dataset_dir, problems)

    counts = ", ".join(f"{split} {len(items)}" for split, items in entries.items())
    print(f"{dataset.dataset_name}: {counts} images{'' if problems.total else ': ok'}")
    return problems.report()


def check_images(dataset_name: str, entries: Entries, problems: ProblemList, decode: bool, jobs: int) -> None:
    """One problem per listed image that is missing or (with ``decode``) does not decode."""
    paths = [(split, impath) for split, items in entries.items() for impath, _, _ in items]
    if decode:
        results = read_images([p for _, p in paths], dataset_name, jobs)
    else:
        results = ["" if osp.isfile(p) else "missing" for _, p in paths]
    for (split, impath), result in zip(paths, results):
        if result == "missing":
            problems.add("missing image", f"missing image ({split}): {impath}")
        elif result:
            problems.add("unreadable image", f"unreadable image ({split}): {impath} ({result})")


def read_images(paths: Sequence[str], dataset_name: str, jobs: int) -> List[str]:
    """``image_problem`` of every path, decoded by ``jobs`` threads, with progress."""
    progress = Progress(f"{dataset_name}: reading images", len(paths), unit="images")
    results: List[str] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for start in range(0, len(paths), DECODE_BATCH):  # batches keep the number of pending tasks small
            results.extend(pool.map(image_problem, paths[start : start + DECODE_BATCH]))
            progress.update(len(results))
    progress.update(len(paths), final=True)
    return results


def check_sizes(dataset: DatasetRecord, entries: Entries, problems: ProblemList) -> None:
    """Split sizes and class count against the record's (CoOp's statistics)."""
    for split, expected in dataset.sizes.items():
        found = len(entries.get(split, []))
        if found != expected:
            problems.add("size", f"{split} lists {found} images, CoOp's has {expected}")
    class_split = "train" if "train" in entries else "test"
    num_classes = len({label for _, label, _ in entries[class_split]})
    if num_classes != dataset.num_classes:
        problems.add("size", f"{class_split} has {num_classes} classes, CoOp's has {dataset.num_classes}")


def cached_image_paths(data: dict, dataset_dir: str) -> List[str]:
    """The images a few-shot cache lists: this project's relative lists, under ``dataset_dir``,
    or the absolute paths of a cache that CoOp or Dassl wrote."""
    relative = data.get("relative")
    if relative:
        return [osp.join(dataset_dir, *entry[0].split("/")) for entries in relative.values() for entry in entries]
    return [item.impath for key, items in data.items() if key in ("train", "val") for item in items]


def check_fewshot_caches(dataset_dir: str, problems: ProblemList) -> None:
    """A problem per few-shot cache that cannot be read or lists images that are gone."""
    for cache in sorted(glob.glob(osp.join(dataset_dir, FEWSHOT_CACHE_FOLDER, "*.pkl"))):
        try:
            with open(cache, "rb") as f:
                paths = cached_image_paths(pickle.load(f), dataset_dir)
        except Exception as e:  # a truncated or foreign pickle
            problems.add("cache", f"few-shot cache {cache} cannot be read ({type(e).__name__}); delete it")
            continue
        stale = [path for path in paths if not osp.isfile(path)]
        if stale:
            problems.add(
                "cache", f"few-shot cache {cache} lists {len(stale)} missing images (first: {stale[0]}); delete it"
            )
