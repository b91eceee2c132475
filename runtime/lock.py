"""One run per output folder: an OS lock (``flock``) held for the run's lifetime.

The kernel releases the lock on any exit, ``kill -9`` included, so a stale lock never blocks a
rerun. The lock file names its holder (PID, host, start time), which a refused second run
reports. It is removed on release; a contender that opened the file just before the removal
sees that its file is no longer the one at the path and tries again, so two runs can never
both hold the folder.
"""
import contextlib
import errno
import json
import os
import socket
import sys
from datetime import datetime
from typing import Iterator, List

LOCK_NAME = ".run.lock"


class FolderBusy(Exception):
    """Another run holds the output folder; the message names it (one line)."""


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        return f"PID {info['pid']} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError):
        return "a process that has not yet written its PID"


def _missing_parents(folder: str) -> List[str]:
    """``folder`` and the parents of it that do not exist yet, innermost first."""
    missing, path = [], os.path.abspath(folder)
    while not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing


@contextlib.contextmanager
def folder_lock(folder: str) -> Iterator[None]:
    """Hold ``folder`` (created if needed) for the block; ``FolderBusy`` at once if another run
    holds it. Folders created here are removed again if the block leaves them empty."""
    import fcntl

    created = _missing_parents(folder)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_NAME)
    try:
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = _holder(fd)
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES):
                    raise FolderBusy(
                        f"{folder} is in use by another run ({holder}); wait for it to end, stop it, "
                        "or give this run another --output-dir"
                    ) from None
                print(f"Note: cannot lock {folder} ({e.strerror}); make sure no other run uses it", file=sys.stderr)
                yield
                return
            try:
                same_file = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            os.close(fd)  # its holder removed the file after we opened it: lock the new one
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now().isoformat(timespec="seconds")}
        os.write(fd, json.dumps(info).encode())
        try:
            yield
        finally:
            os.unlink(path)
            os.close(fd)
    finally:
        for path in created:
            try:
                os.rmdir(path)
            except OSError:  # not empty: the run wrote into it
                break
