"""Shared by tests/test_reliability_*.py: train.py's entry point called in this process (exit
status and stderr as a shell sees them), folder snapshots, the small CoOp settings."""
import errno
import hashlib
import io
import os
import sys

import pytest

SMALL = ["DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.TEST.BATCH_SIZE", "24", "DATASET.NUM_SHOTS", "2",
         "TRAINER.COOP.N_CTX", "4"]


class Call:
    """``python train.py ARGV`` run in this process: its exit status and its stderr."""

    def __init__(self, capsys, monkeypatch):
        self.capsys, self.monkeypatch = capsys, monkeypatch

    def __call__(self, argv, **env):
        from runtime.cli import entry_point

        self.monkeypatch.setenv("PLPP_DEBUG", "")
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        self.capsys.readouterr()
        console = sys.stdout
        try:
            with pytest.raises(SystemExit) as stopped:
                entry_point(list(argv))
        finally:
            if sys.stdout is not console:  # a run that started logging
                sys.stdout.close()
                sys.stdout = console
        return stopped.value.code, self.capsys.readouterr().err


@pytest.fixture
def train_cli(capsys, monkeypatch):
    return Call(capsys, monkeypatch)


def snapshot(folder: str) -> dict:
    """Every file under ``folder`` and a hash of its bytes."""
    files = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return files


def one_line(done, code: int) -> str:
    """The call's only stderr line, after checking its exit status and that no traceback came."""
    returncode, stderr = done
    assert returncode == code, (returncode, stderr[-3000:])
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


class FullDisk(io.FileIO):
    """A file on a disk that fills up after its first kilobyte (torch.save then fails in C++)."""

    def write(self, data):
        if self.tell() + len(data) > 1024:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)
