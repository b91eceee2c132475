"""Copy everything printed to stdout into a log file (``OUTPUT_DIR/log.txt``)."""
import os
import os.path as osp
import sys
import time
from typing import Any, Optional, TextIO

from .tools import mkdir_if_missing

__all__ = ["StdoutTee", "setup_logger"]


class StdoutTee:
    """Writes to the console stream and to a log file.

    Unlike Dassl's logger it forwards every other attribute (``isatty``, ``fileno``,
    ``encoding``...) to the console and never closes it, so it is safe under pytest's capture
    and when ``setup_logger`` is called again.
    """

    # Class-level defaults keep __getattr__ and __del__ safe if __init__ fails half-way.
    console: Optional[TextIO] = None
    file: Optional[TextIO] = None

    def __init__(self, console: TextIO, fpath: str):
        self.console = console
        mkdir_if_missing(osp.dirname(osp.abspath(fpath)))
        self.file = open(fpath, "w", encoding="utf-8")

    def write(self, msg: str) -> int:
        written = self.console.write(msg)
        if not self.file.closed:
            self.file.write(msg)
        return written

    def flush(self) -> None:
        self.console.flush()
        if not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())

    def close(self) -> None:
        """Close the log file only; the console belongs to whoever opened it."""
        if self.file is not None:
            self.file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)

    def __del__(self) -> None:
        self.close()


def setup_logger(output: Optional[str] = None) -> None:
    """Tee stdout into ``output`` (a .txt/.log file, else ``output/log.txt``).

    An existing log is kept: the new one gets a ``-YYYY-MM-DD-HH-MM-SS`` suffix. Calling it again
    moves the tee to the new file instead of stacking tees.
    """
    if output is None:
        return
    if output.endswith((".txt", ".log")):
        fpath = output
    else:
        fpath = osp.join(output, "log.txt")
    if osp.exists(fpath):
        fpath += time.strftime("-%Y-%m-%d-%H-%M-%S")

    console = sys.stdout
    if isinstance(console, StdoutTee):
        console.close()
        console = console.console
    sys.stdout = StdoutTee(console, fpath)
