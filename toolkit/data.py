"""Get, check and repair the CoOp datasets on disk.

    python -m toolkit.data download NAME... --root DIR     fetch archives and split files
    python -m toolkit.data check NAME... --root DIR        count, find missing or corrupt images
    python -m toolkit.data fold-imagenet-val --root DIR --labels FILE
                                                           sort ImageNet's flat val images into wnid folders
    python -m toolkit.data list                            names, folders, expected sizes

NAME is a config name (``oxford_pets``), a dataset name (``OxfordPets``) or ``all``.
Downloads resume where they stopped (HTTP Range), are checked against known MD5 sums, try
mirrors in turn and, when every source fails or the data needs a manual step (ImageNet),
print the manual steps instead of a traceback. An archive placed in the dataset folder by hand
is used as it is: rerun ``download`` to unpack it and apply the renames CoOp's README asks for.
"""
import argparse
import concurrent.futures
import csv
import difflib
import glob
import hashlib
import os
import os.path as osp
import pickle
import re
import shutil
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

CHUNK_BYTES = 1 << 20
MAX_LINES_PER_KIND = 20  # problem lines of one kind per dataset before "... and N more"
DECODE_BATCH = 1024  # images handed to the reading threads at a time


class DownloadError(Exception):
    """A source could not be fetched or unpacked; the message says why in one line."""


from runtime.catalogue import RECORDS as CATALOGUE  # noqa: E402  (where each dataset comes from and how big it is)
from runtime.catalogue import DatasetRecord as DatasetSpec  # noqa: E402
from runtime.catalogue import Move, Remove, Source, Unpack  # noqa: E402
from runtime.catalogue import resolve as resolve_names  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Progress output
# ---------------------------------------------------------------------------------------------


class Progress:
    """Prints ``<label>: <done>/<total>`` at most every ``interval`` seconds, and at the end of
    work that took long enough to print at all."""

    def __init__(self, label: str, total: Optional[int] = None, unit: str = "", interval: float = 5.0, stream=None):
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream = stream or sys.stderr
        self.last_print = time.monotonic()
        self.printed = False

    def _format(self, count: int) -> str:
        return (
            f"{count / (1 << 20):.1f} MiB" if self.unit == "bytes" else f"{count}{' ' + self.unit if self.unit else ''}"
        )

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if (final and not self.printed) or (not final and now - self.last_print < self.interval):
            return
        self.last_print, self.printed = now, True
        total = f" / {self._format(self.total)} ({100 * done / self.total:.0f}%)" if self.total else ""
        print(f"  {self.label}: {self._format(done)}{total}", file=self.stream, flush=True)


# ---------------------------------------------------------------------------------------------
# Fetching and unpacking
# ---------------------------------------------------------------------------------------------


def file_md5(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: str, md5: str) -> None:
    """Raise DownloadError (and delete ``path``) if its MD5 is not ``md5``."""
    if not md5:
        return
    actual = file_md5(path)
    if actual != md5:
        os.remove(path)
        raise DownloadError(
            f"checksum mismatch for {osp.basename(path)} (md5 {actual}, expected {md5}); the file was deleted"
        )


def http_download(url: str, dest: str, md5: str = "", timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest``, resuming ``dest + ".part"`` with an HTTP Range request."""
    partial = dest + ".part"
    offset = osp.getsize(partial) if osp.exists(partial) else 0
    headers = {"User-Agent": "plpp-toolkit-data/1.0"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as e:
        if e.code != 416 or not offset:  # 416: the partial file is already complete
            raise DownloadError(f"HTTP {e.code} {e.reason} from {url}") from None
        response = None
    except (URLError, OSError) as e:
        raise DownloadError(f"cannot reach {url} ({getattr(e, 'reason', e)})") from None

    if response is not None:
        with response:
            resumed = offset > 0 and response.status == 206
            if offset and not resumed:
                offset = 0  # the server ignored the Range header: start again
            if resumed:
                print(f"  resuming {osp.basename(dest)} at {offset / (1 << 20):.1f} MiB", file=sys.stderr)
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length else None
            progress = Progress(f"downloading {osp.basename(dest)}", total, unit="bytes")
            done = offset
            try:
                with open(partial, "ab" if resumed else "wb") as f:
                    for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                        f.write(chunk)
                        done += len(chunk)
                        progress.update(done)
            except OSError as e:
                raise DownloadError(f"download of {url} broke off at {done} bytes ({e}); rerun to resume") from None
            progress.update(done, final=True)
            if total is not None and done < total:
                raise DownloadError(f"download of {url} stopped at {done} of {total} bytes; rerun to resume")
    verify_md5(partial, md5)
    os.replace(partial, dest)


def drive_download(file_id: str, dest: str, md5: str = "") -> None:
    """Download a Google Drive file with gdown (which resumes its own partial files)."""
    try:
        import gdown
    except ImportError:
        raise DownloadError("gdown is not installed (pip install gdown)") from None
    try:
        result = gdown.download(id=file_id, output=dest, quiet=False, resume=True)
    except Exception as e:  # gdown raises many kinds of errors for quota, permissions and network
        raise DownloadError(
            f"Google Drive file {file_id}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
        ) from None
    if not result or not osp.isfile(dest):
        raise DownloadError(f"Google Drive file {file_id} could not be downloaded (quota or access limits?)")
    verify_md5(dest, md5)


def unpack(archive: str, into: str) -> None:
    """Unpack a zip or tar archive into ``into``; members that would land outside it are refused."""
    progress = Progress(f"unpacking {osp.basename(archive)}", unit="files")
    count = 0
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.infolist():
                    zf.extract(member, into)  # zipfile drops absolute and ".." parts itself
                    count += 1
                    progress.update(count)
        elif tarfile.is_tarfile(archive):
            if not hasattr(tarfile, "data_filter"):  # added in Python 3.8.17, 3.9.17, 3.10.12, 3.11.4
                raise DownloadError(f"this Python cannot unpack tar files safely; unpack {archive} into {into} by hand")
            with tarfile.open(archive, "r:*") as tf:
                for member in tf:
                    tf.extract(member, into, filter="data")
                    count += 1
                    progress.update(count)
        else:
            raise DownloadError(f"{archive} is neither a zip nor a tar archive; delete it and rerun")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DownloadError(f"cannot unpack {archive} ({type(e).__name__}: {e}); delete it and rerun") from None
    progress.update(count, final=True)


def merge_into(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``; when ``dst`` exists, move ``src``'s entries into it (recursively)."""
    if not osp.exists(dst):
        os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
        os.rename(src, dst)
        return
    for name in os.listdir(src):
        source, target = osp.join(src, name), osp.join(dst, name)
        if osp.isdir(source) and osp.isdir(target):
            merge_into(source, target)
        else:
            if osp.exists(target):
                shutil.rmtree(target) if osp.isdir(target) else os.remove(target)
            os.rename(source, target)
    os.rmdir(src)


def apply_fix(step, dataset_dir: str, keep_archives: bool) -> None:
    """Run one Move/Unpack/Remove step; steps whose input is absent do nothing."""
    if isinstance(step, Move):
        src, dst = osp.join(dataset_dir, step.src), osp.normpath(osp.join(dataset_dir, step.dst))
        if osp.isdir(src):
            print(f"  moving {step.src} -> {step.dst}")
            merge_into(src, dst)
    elif isinstance(step, Unpack):
        archive = osp.join(dataset_dir, step.path)
        if osp.isfile(archive):
            unpack(archive, dataset_dir)
            if not keep_archives:
                os.remove(archive)
    elif isinstance(step, Remove):
        path = osp.join(dataset_dir, step.path)
        if osp.isdir(path):
            shutil.rmtree(path)
        elif osp.exists(path):
            os.remove(path)
    else:
        raise TypeError(f"unknown step {step!r}")


def fetch(source: Source, root: str, dataset_dir: str, keep_archives: bool) -> None:
    """Put one source in place: a local copy, an archive already there, or a download from its mirrors."""
    dest = osp.join(dataset_dir, source.filename)
    local = osp.join(root, source.local_copy) if source.local_copy else ""
    if local and osp.isfile(local) and not osp.exists(dest):
        print(f"  copying {local}")
        shutil.copyfile(local, dest)
    if not osp.isfile(dest):
        errors = []
        for url in source.urls:
            print(f"  fetching {source.filename} from {url}")
            try:
                http_download(url, dest, source.md5)
                break
            except DownloadError as e:
                errors.append(str(e))
        if not osp.isfile(dest) and source.drive_id:
            print(f"  fetching {source.filename} from Google Drive ({source.drive_id})")
            try:
                drive_download(source.drive_id, dest, source.md5)
            except DownloadError as e:
                errors.append(str(e))
        if not osp.isfile(dest):
            raise DownloadError("; ".join(errors) or "no source to download from")
    if source.extract:
        unpack(dest, dataset_dir)
        if not keep_archives:
            os.remove(dest)


def download(spec: DatasetSpec, root: str, keep_archives: bool = False) -> bool:
    """Fetch what ``spec`` needs into ``<root>/<dataset_dir>``; True when everything required is there."""
    dataset_dir = osp.join(root, spec.dataset_dir)
    os.makedirs(dataset_dir, exist_ok=True)
    print(f"{spec.dataset_name} -> {dataset_dir}")
    for source in spec.sources:
        if osp.exists(osp.join(dataset_dir, source.provides)):
            print(f"  {source.provides}: already there")
            continue
        try:
            fetch(source, root, dataset_dir, keep_archives)
        except (DownloadError, OSError) as e:
            note = " (optional: only needed without the split file)" if source.optional else ""
            print(f"  could not get {source.filename}{note}: {e}")
        for step in spec.fixes:
            apply_fix(step, dataset_dir, keep_archives)
    for step in spec.fixes:  # also repairs folders unpacked by hand
        apply_fix(step, dataset_dir, keep_archives)

    missing = [path for path in spec.required if not osp.exists(osp.join(dataset_dir, path))]
    if missing:
        print(f"{spec.dataset_name}: still missing {', '.join(missing)}. Manual steps:")
        print("  " + spec.manual.format(root=root, dir=dataset_dir))
        return False
    print(f"{spec.dataset_name}: ready (verify with: python -m toolkit.data check {spec.name} --root {root})")
    return True


# ---------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------


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


def check(spec: DatasetSpec, root: str, decode: bool = True, compare_sizes: bool = True, jobs: int = 4) -> List[str]:
    """Problem lines for one dataset (empty when it is complete and every image reads)."""
    from dassl.data.datasets import DATASET_REGISTRY

    problems = ProblemList(spec.dataset_name)
    dataset_dir = osp.join(root, spec.dataset_dir)
    if not osp.isdir(dataset_dir):
        problems.add(
            "layout",
            f"dataset folder not found: {dataset_dir}; "
            f'get it with "python -m toolkit.data download {spec.name} --root {root}"',
        )
        return problems.report()
    try:
        entries = DATASET_REGISTRY.get(spec.dataset_name).expected_images(root)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        problems.add("layout", message.replace(f"{spec.dataset_name}: ", "", 1))
        return problems.report()

    paths = [(split, impath) for split, items in entries.items() for impath, _, _ in items]
    if decode:
        progress = Progress(f"{spec.dataset_name}: reading images", len(paths), unit="images")
        results = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for start in range(0, len(paths), DECODE_BATCH):  # batches keep the number of pending tasks small
                results.extend(pool.map(image_problem, [p for _, p in paths[start : start + DECODE_BATCH]]))
                progress.update(len(results))
        progress.update(len(paths), final=True)
    else:
        results = ["" if osp.isfile(p) else "missing" for _, p in paths]
    for (split, impath), result in zip(paths, results):
        if result == "missing":
            problems.add("missing image", f"missing image ({split}): {impath}")
        elif result:
            problems.add("unreadable image", f"unreadable image ({split}): {impath} ({result})")

    if compare_sizes:
        for split, expected in spec.sizes.items():
            found = len(entries.get(split, []))
            if found != expected:
                problems.add("size", f"{split} lists {found} images, CoOp's has {expected}")
        class_split = "train" if "train" in entries else "test"
        num_classes = len({label for _, label, _ in entries[class_split]})
        if num_classes != spec.num_classes:
            problems.add("size", f"{class_split} has {num_classes} classes, CoOp's has {spec.num_classes}")

    for cache in sorted(glob.glob(osp.join(dataset_dir, "split_fewshot", "*.pkl"))):
        try:
            with open(cache, "rb") as f:
                cached = [item for items in pickle.load(f).values() for item in items]
        except Exception as e:  # a truncated or foreign pickle
            problems.add("cache", f"few-shot cache {cache} cannot be read ({type(e).__name__}); delete it")
            continue
        stale = [item.impath for item in cached if not osp.isfile(item.impath)]
        if stale:
            problems.add(
                "cache", f"few-shot cache {cache} lists {len(stale)} missing images (first: {stale[0]}); delete it"
            )

    counts = ", ".join(f"{split} {len(items)}" for split, items in entries.items())
    print(f"{spec.dataset_name}: {counts} images{'' if problems.total else ': ok'}")
    return problems.report()


# ---------------------------------------------------------------------------------------------
# ImageNet val re-foldering
# ---------------------------------------------------------------------------------------------

WNID = re.compile(r"n\d{8}")


def read_val_labels(labels_file: str) -> Dict[str, str]:
    """Image stem -> wnid, from Kaggle's LOC_val_solution.csv or lines ``<image file> <wnid>``."""
    mapping = {}
    with open(labels_file, "r", newline="") as f:
        first = f.readline()
        f.seek(0)
        if first.startswith("ImageId,"):
            for row in csv.DictReader(f):
                mapping[row["ImageId"]] = row["PredictionString"].split()[0]
        else:
            for line in f:
                tokens = line.replace(",", " ").split()
                if len(tokens) >= 2:
                    mapping[osp.splitext(osp.basename(tokens[0]))[0]] = tokens[1]
    bad = [wnid for wnid in mapping.values() if not WNID.fullmatch(wnid)]
    if not mapping or bad:
        raise ValueError(
            f"{labels_file} is neither Kaggle's LOC_val_solution.csv nor lines '<image file> <wnid>'"
            + (f" (bad wnid {bad[0]!r})" if bad else "")
        )
    return mapping


def fold_imagenet_val(val_dir: str, labels_file: str) -> Tuple[int, List[str]]:
    """Move the loose images of ``val_dir`` into ``<wnid>/`` folders; returns (moved, names without a label)."""
    if not osp.isdir(val_dir):
        raise FileNotFoundError(f"ImageNet val folder not found: {val_dir}; extract ILSVRC2012_img_val.tar there first")
    wnid_of = read_val_labels(labels_file)
    loose = sorted(
        name for name in os.listdir(val_dir) if not name.startswith(".") and osp.isfile(osp.join(val_dir, name))
    )
    progress = Progress("moving val images", len(loose), unit="images")
    moved, unlabelled = 0, []
    for name in loose:
        wnid = wnid_of.get(osp.splitext(name)[0])
        if wnid is None:
            unlabelled.append(name)
            continue
        os.makedirs(osp.join(val_dir, wnid), exist_ok=True)
        os.rename(osp.join(val_dir, name), osp.join(val_dir, wnid, name))
        moved += 1
        progress.update(moved)
    progress.update(moved, final=True)
    return moved, unlabelled


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _run_download(args) -> int:
    ready = [download(spec, args.root, keep_archives=args.keep_archives) for spec in resolve_names(args.names)]
    return 0 if all(ready) else 1


def _run_check(args) -> int:
    import datasets  # noqa: F401  (selects the engine, registers the dataset classes)

    total = 0
    for spec in resolve_names(args.names):
        lines = check(spec, args.root, decode=not args.no_decode, compare_sizes=not args.skip_sizes, jobs=args.jobs)
        for line in lines:
            print(line)
        total += len(lines)
    print(f"{total} problem{'s' if total != 1 else ''} found" if total else "no problems found")
    return 1 if total else 0


def _run_fold(args) -> int:
    val_dir = args.val_dir or osp.join(args.root, "imagenet", "images", "val")
    moved, unlabelled = fold_imagenet_val(val_dir, args.labels)
    print(f"moved {moved} images of {val_dir} into wnid folders")
    preprocessed = osp.join(osp.dirname(osp.dirname(osp.normpath(val_dir))), "preprocessed.pkl")
    if moved and osp.exists(preprocessed):
        print(f"delete {preprocessed}: it was made from the old layout")
    for name in unlabelled[:MAX_LINES_PER_KIND]:
        print(f"ImageNet: no label for val image {osp.join(val_dir, name)} in {args.labels}")
    if len(unlabelled) > MAX_LINES_PER_KIND:
        print(f"ImageNet: ... and {len(unlabelled) - MAX_LINES_PER_KIND} more images without a label")
    return 1 if unlabelled else 0


def _run_list(args) -> int:
    for spec in CATALOGUE:
        sizes = " / ".join(f"{split} {count}" for split, count in spec.sizes.items())
        print(
            f"{spec.name:<16} {spec.dataset_name:<20} {spec.dataset_dir + '/':<22} "
            f"{spec.num_classes:>4} classes, {sizes}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m toolkit.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    names_help = "config name (oxford_pets), dataset name (OxfordPets) or all"

    p = commands.add_parser("download", help="fetch archives and split files, unpack them, apply CoOp's renames")
    p.add_argument("names", nargs="+", metavar="NAME", help=names_help)
    p.add_argument("--root", required=True, help="DATASET.ROOT: the folder holding one folder per dataset")
    p.add_argument("--keep-archives", action="store_true", help="keep archives after unpacking them")
    p.set_defaults(run=_run_download)

    p = commands.add_parser("check", help="find missing, unreadable or miscounted images; exit 1 on problems")
    p.add_argument("names", nargs="+", metavar="NAME", help=names_help)
    p.add_argument("--root", required=True, help="DATASET.ROOT")
    p.add_argument(
        "--skip-sizes", action="store_true", help="do not compare split sizes with CoOp's (e.g. for fixtures)"
    )
    p.add_argument("--no-decode", action="store_true", help="only check that images exist (much faster)")
    p.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1), help="threads that read images")
    p.set_defaults(run=_run_check)

    p = commands.add_parser("fold-imagenet-val", help="move ImageNet's flat val images into <wnid>/ folders")
    p.add_argument("--root", required=True, help="DATASET.ROOT (the images are in <root>/imagenet/images/val)")
    p.add_argument(
        "--labels", required=True, help="Kaggle's LOC_val_solution.csv, or a text file of '<image file> <wnid>' lines"
    )
    p.add_argument("--val-dir", default="", help="the flat val folder, if not <root>/imagenet/images/val")
    p.set_defaults(run=_run_fold)

    p = commands.add_parser("list", help="the datasets, their folders and CoOp's split sizes")
    p.set_defaults(run=_run_list)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "root", None):
        args.root = osp.abspath(osp.expanduser(args.root))
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
