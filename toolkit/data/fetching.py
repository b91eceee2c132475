"""Fetching and unpacking: resumable HTTP downloads checked against MD5 sums, mirrors tried in
turn, Google Drive through gdown, safe unpacking, and the renames CoOp's README asks for.

Everything a dataset needs (sources, fixes, required paths, manual steps) comes from its
``runtime.catalogue`` record; this module only knows how to put files in place.
"""
import hashlib
import os
import os.path as osp
import shutil
import sys
import tarfile
import zipfile
import zlib
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from runtime.catalogue import DatasetRecord, Move, Remove, Source, Unpack

from .progress import Progress

CHUNK_BYTES = 1 << 20


class DownloadError(Exception):
    """A source could not be fetched or unpacked; the message says why in one line."""


def file_md5(path: str) -> str:
    """The MD5 hex digest of a file, read in chunks."""
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
            _write_response(response, url, dest, partial, offset)
    verify_md5(partial, md5)
    os.replace(partial, dest)


def _write_response(response, url: str, dest: str, partial: str, offset: int) -> None:
    """Append the body to ``partial`` when the server resumed at ``offset``, else write it anew."""
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


def drive_download(file_id: str, dest: str, md5: str = "") -> None:
    """Download a Google Drive file with gdown (which resumes its own partial files)."""
    try:
        import gdown
    except ImportError:
        raise DownloadError("gdown is not installed (pip install gdown)") from None
    try:
        result = gdown.download(id=file_id, output=dest, quiet=False, resume=True)
    except Exception as e:  # gdown raises many kinds of errors for quota, permissions and network
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DownloadError(f"Google Drive file {file_id}: {reason}") from None
    if not result or not osp.isfile(dest):
        raise DownloadError(f"Google Drive file {file_id} could not be downloaded (quota or access limits?)")
    verify_md5(dest, md5)


def unpack(archive: str, into: str) -> None:
    """Unpack a zip or tar archive into ``into``; members that would land outside it are refused.

    The archive is unpacked into a hidden folder beside its destination, and its contents are
    moved into ``into`` only once the whole archive has been read: a truncated or damaged archive
    leaves nothing in place (so ``download`` never takes a partial tree for a finished one).
    """
    staging = osp.join(into, f".unpacking-{osp.basename(archive)}")
    if osp.exists(staging):  # left by a run killed while unpacking
        shutil.rmtree(staging)
    os.makedirs(staging)
    try:
        _extract_all(archive, staging)
        merge_into(staging, into)
    finally:
        if osp.exists(staging):
            shutil.rmtree(staging)


def _extract_all(archive: str, into: str) -> None:
    """Extract every member of ``archive`` into ``into``."""
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
                raise DownloadError(f"this Python cannot unpack tar files safely; unpack {archive} by hand")
            with tarfile.open(archive, "r:*") as tf:
                for member in tf:
                    tf.extract(member, into, filter="data")
                    count += 1
                    progress.update(count)
        else:
            raise DownloadError(f"{archive} is neither a zip nor a tar archive; delete it and rerun")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DownloadError(f"cannot unpack {archive} ({type(e).__name__}: {e}); "
                            "nothing of it was put in place: delete it and rerun") from None
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


def apply_fix(step: object, dataset_dir: str, keep_archives: bool) -> None:
    """Run one Move/Unpack/Remove step of a record's ``fixes``; steps whose input is absent do nothing."""
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
        _download_from_mirrors(source, dest)
    if source.extract:
        unpack(dest, dataset_dir)
        if not keep_archives:
            os.remove(dest)


def _download_from_mirrors(source: Source, dest: str) -> None:
    """Try each URL, then Google Drive; one DownloadError naming every failure when none works."""
    errors = []
    for url in source.urls:
        print(f"  fetching {source.filename} from {url}")
        try:
            http_download(url, dest, source.md5)
            return
        except DownloadError as e:
            errors.append(str(e))
    if source.drive_id:
        print(f"  fetching {source.filename} from Google Drive ({source.drive_id})")
        try:
            drive_download(source.drive_id, dest, source.md5)
            return
        except DownloadError as e:
            errors.append(str(e))
    raise DownloadError("; ".join(errors) or "no source to download from")


def download(dataset: DatasetRecord, root: str, keep_archives: bool = False) -> bool:
    """Fetch what ``dataset`` needs into ``<root>/<dataset_dir>``; True when everything required is there,
    otherwise the record's manual steps are printed."""
    dataset_dir = osp.join(root, dataset.dataset_dir)
    os.makedirs(dataset_dir, exist_ok=True)
    print(f"{dataset.dataset_name} -> {dataset_dir}")
    for source in dataset.sources:
        if osp.exists(osp.join(dataset_dir, source.provides)):
            print(f"  {source.provides}: already there")
            continue
        try:
            fetch(source, root, dataset_dir, keep_archives)
        except (DownloadError, OSError) as e:
            note = " (optional: only needed without the split file)" if source.optional else ""
            print(f"  could not get {source.filename}{note}: {e}")
        for step in dataset.fixes:
            apply_fix(step, dataset_dir, keep_archives)
    for step in dataset.fixes:  # also repairs folders unpacked by hand
        apply_fix(step, dataset_dir, keep_archives)

    missing = [path for path in dataset.required if not osp.exists(osp.join(dataset_dir, path))]
    if missing:
        print(f"{dataset.dataset_name}: still missing {', '.join(missing)}. Manual steps:")
        print("  " + dataset.manual.format(root=root, dir=dataset_dir))
        return False
    print(f"{dataset.dataset_name}: ready (verify with: python -m toolkit.data check {dataset.name} --root {root})")
    return True
