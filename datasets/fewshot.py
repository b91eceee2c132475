"""The few-shot cache: CoOp's ``split_fewshot/shot_{K}-seed_{SEED}.pkl``, drawn once per (K, seed)
from a dataset's full splits and reloaded afterwards, and the record of which splits it was drawn from.

A cache drawn from other splits (e.g. before the split file was regenerated) would put test images
into training, so every cache this project writes records a digest of the splits it was drawn
from (an extra key, ``drawn_from``, that CoOp and Dassl ignore) and is refused when the current
splits differ. A cache without that record (written by CoOp, Dassl or an older version of this
project) is used only if each of its images is in the current train (or val) split.

A read-only dataset folder can still take new (K, seed) pairs: caches are also read from, and
new ones written to, ``$PLPP_FEWSHOT_CACHE_DIR`` when it is set.
"""
import hashlib
import os
import os.path as osp
import pickle
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

from dassl.data.datasets import Datum, DatasetBase
from dassl.utils import mkdir_if_missing

from . import common  # (a module reference: common imports this module too)

ENV_DIR = "PLPP_FEWSHOT_CACHE_DIR"  # a writable folder for few-shot caches (read-only dataset folders)


def fewshot_cache_path(split_fewshot_dir: str, num_shots: int, seed: int) -> str:
    return osp.join(split_fewshot_dir, f"shot_{num_shots}-seed_{seed}.pkl")


def shot_shortfall(items: Sequence[Datum], num_shots: int, split: str) -> str:
    """A warning when some class of ``items`` has fewer than ``num_shots`` images ("" if none)."""
    counts = defaultdict(int)
    for item in items:
        counts[item.classname] += 1
    short = sorted((count, name) for name, count in counts.items() if count < num_shots)
    if not short:
        return ""
    taken = sum(min(count, num_shots) for count in counts.values())
    return (
        f"{num_shots} shots asked for, but {len(short)} of {len(counts)} classes of the {split} split have fewer "
        f"images (fewest: {short[0][1]} with {short[0][0]}), so it holds {taken} images, not {num_shots * len(counts)}"
    )


def _relative_path(impath: str, dataset_dir: str) -> str:
    prefix = dataset_dir.rstrip(os.sep) + os.sep
    relative = impath[len(prefix):] if impath.startswith(prefix) else osp.relpath(impath, dataset_dir)
    return relative.replace(os.sep, "/")


def splits_digest(splits: Dict[str, Sequence[Datum]], dataset_dir: str) -> str:
    """SHA-256 of the full splits a cache is drawn from: each image (relative to the dataset
    folder, so a moved dataset keeps its caches) with its label, split by split."""
    digest = hashlib.sha256()
    for name, items in splits.items():
        digest.update(f"[{name}]\n".encode())
        digest.update("".join(f"{_relative_path(item.impath, dataset_dir)}\t{item.label}\n" for item in items).encode())
    return digest.hexdigest()


def _relative_entries(items: Sequence[Datum], dataset_dir: str) -> List[List]:
    return [[_relative_path(item.impath, dataset_dir), item.label, item.domain, item.classname] for item in items]


def _cached_split(data: dict, split: str, dataset_dir: str, known: Dict[str, str], cache_path: str) -> List[Datum]:
    """One split of a few-shot cache, its images found under ``dataset_dir``.

    This project's caches list paths relative to the dataset folder (``relative``), so a copied or
    moved dataset reads its own images. Caches written by CoOp/Dassl hold absolute paths only;
    each is matched to the image of the current split files with the
    longest common path tail (``known``: path relative to the dataset folder -> path), so that a
    copied dataset never reads the images of its old location.
    """
    relative = data.get("relative", {}).get(split)
    if relative is not None:
        return [Datum(impath=osp.join(dataset_dir, *path.split("/")), label=label, domain=domain, classname=classname)
                for path, label, domain, classname in relative]
    items, moved, missing = [], 0, []
    for item in data[split]:
        parts = item.impath.replace("\\", "/").split("/")
        tails = ("/".join(parts[i:]) for i in range(len(parts)))
        impath = next((known[tail] for tail in tails if tail in known), "")
        if not impath and osp.isfile(item.impath):
            impath = item.impath
        if not impath:
            missing.append(item.impath)
            continue
        moved += impath != item.impath
        items.append(Datum(impath=impath, label=item.label, domain=item.domain, classname=item.classname))
    if missing:
        raise common.DatasetFileNotFoundError(
            f"few-shot cache {cache_path} lists {len(missing)} images that do not exist (first: {missing[0]}), "
            "e.g. because the dataset moved; delete the cache to sample again"
        )
    if moved:
        print(f"Note: few-shot cache {cache_path} names {moved} images at their old location; reading them from {dataset_dir}")
    return items


def check_drawn_from(data: dict, digest: str, cached: Dict[str, List[Datum]], pools: Dict[str, List[Datum]],
                     cache_path: str, splits_name: str) -> None:
    """Refuse (one-line ValueError) a cache drawn from other splits than the current ones."""
    way_out = f"move {cache_path} away to draw the samples again from the current splits"
    recorded = data.get("drawn_from") if isinstance(data.get("drawn_from"), dict) else {}
    if recorded.get("sha256"):
        if recorded["sha256"] != digest:
            raise ValueError(
                f"few-shot cache {cache_path} was drawn from other splits than the current {splits_name} "
                f"(split digest {recorded['sha256'][:12]}, now {digest[:12]}): using it could train on test images; "
                f"restore the split file it was drawn from, or {way_out}"
            )
        return
    for split, items in cached.items():  # no record (CoOp's own caches): every image must be in its pool
        pool = {(item.impath, item.label) for item in pools[split]}
        outside = [item.impath for item in items if (item.impath, item.label) not in pool]
        if outside:
            raise ValueError(
                f"few-shot cache {cache_path} lists {len(outside)} {split} images that are not in the current "
                f"{split} split of {splits_name} (first: {outside[0]}), so it was drawn from other splits; {way_out}"
            )


def _write_cache(data: dict, cache_path: str) -> None:
    """Write atomically: an interrupted run leaves no broken cache."""
    mkdir_if_missing(osp.dirname(cache_path))
    partial_path = f"{cache_path}.{os.getpid()}.tmp"
    try:
        with open(partial_path, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial_path, cache_path)
    finally:
        if osp.exists(partial_path):
            os.remove(partial_path)


def cache_candidates(split_fewshot_dir: str, num_shots: int, seed: int, digest: str) -> List[str]:
    """Where a (K, seed) cache is looked for, in order; the last one is where a new one is written."""
    candidates = [fewshot_cache_path(split_fewshot_dir, num_shots, seed)]
    private = os.environ.get(ENV_DIR, "")
    if private:
        dataset_folder = osp.basename(osp.dirname(osp.abspath(split_fewshot_dir)))
        folder = osp.join(osp.abspath(osp.expanduser(private)), f"{dataset_folder}-{digest[:12]}")
        candidates.append(fewshot_cache_path(folder, num_shots, seed))
    return candidates


def load_or_create_fewshot(
    dataset: DatasetBase,
    split_fewshot_dir: str,
    num_shots: int,
    seed: int,
    train: List[Datum],
    val: Optional[List[Datum]] = None,
    test: Sequence[Datum] = (),
    splits_name: str = "",
) -> Tuple[List[Datum], Optional[List[Datum]]]:
    """K-shot train (and min(K, 4)-shot val), drawn once per (K, seed) and then always reloaded.

    The cache is CoOp's ``shot_{K}-seed_{SEED}.pkl``: Datums with absolute paths, so CoOp and
    Dassl read it, plus the same lists relative to the dataset folder (the parent of
    ``split_fewshot_dir``), which this project reads, and ``drawn_from``, the digest of the full
    splits (train, val, test) it was drawn from, named ``splits_name`` in messages (module docstring).
    ``val=None`` (ImageNet) caches the train split only. Classes with fewer than K images keep
    them all, as in CoOp, with a warning that ``dataset.data_warnings`` keeps for the run record.
    """
    if num_shots < 1:
        return train, val
    shortfalls = [w for w in (shot_shortfall(train, num_shots, "train"),
                              val is not None and shot_shortfall(val, min(num_shots, 4), "val")) if w]
    for warning in shortfalls:
        print(f"Warning: {warning}")
    dataset.data_warnings = list(getattr(dataset, "data_warnings", [])) + shortfalls
    dataset_dir = osp.dirname(osp.abspath(split_fewshot_dir))
    pools = {"train": train, **({"val": val} if val is not None else {})}
    digest = splits_digest({**pools, "test": test}, dataset_dir)
    splits_name = splits_name or f"{type(dataset).__name__}'s splits"
    candidates = cache_candidates(split_fewshot_dir, num_shots, seed, digest)
    cache_path = next((path for path in candidates if osp.exists(path)), "")
    if cache_path:
        print(f"Loading preprocessed few-shot data from {cache_path}")
        with open(cache_path, "rb") as f:
            data = pickle.load(f)
        known = {_relative_path(item.impath, dataset_dir): item.impath for item in train + (val or [])}
        cached = {split: _cached_split(data, split, dataset_dir, known, cache_path) for split in pools}
        check_drawn_from(data, digest, cached, pools, cache_path, splits_name)
        return cached["train"], cached.get("val")

    train = dataset.generate_fewshot_dataset(train, num_shots=num_shots)
    data = {"train": train, "relative": {"train": _relative_entries(train, dataset_dir)}}
    if val is not None:
        val = dataset.generate_fewshot_dataset(val, num_shots=min(num_shots, 4))
        data.update(val=val)
        data["relative"]["val"] = _relative_entries(val, dataset_dir)
    data["drawn_from"] = {"splits": splits_name, "sha256": digest}
    cache_path = candidates[-1]
    print(f"Saving preprocessed few-shot data to {cache_path}")
    try:
        _write_cache(data, cache_path)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        where = (f"set {ENV_DIR} to another writable folder" if len(candidates) > 1 else
                 f"set {ENV_DIR} to a writable folder to keep new few-shot samples there")
        raise OSError(f"cannot write the few-shot cache {cache_path} ({reason}); {where}") from None
    return train, val
