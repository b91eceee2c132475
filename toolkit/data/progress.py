"""Progress lines for long work (downloads, unpacking, reading images, moving files)."""
import sys
import time
from typing import Optional, TextIO


class Progress:
    """Prints ``<label>: <done>/<total>`` at most every ``interval`` seconds, and at the end of
    work that took long enough to print at all."""

    def __init__(
        self,
        label: str,
        total: Optional[int] = None,
        unit: str = "",
        interval: float = 5.0,
        stream: Optional[TextIO] = None,
    ):
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream = stream or sys.stderr
        self.last_print = time.monotonic()
        self.printed = False

    def _format(self, count: int) -> str:
        if self.unit == "bytes":
            return f"{count / (1 << 20):.1f} MiB"
        return f"{count} {self.unit}" if self.unit else str(count)

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if (final and not self.printed) or (not final and now - self.last_print < self.interval):
            return
        self.last_print, self.printed = now, True
        total = f" / {self._format(self.total)} ({100 * done / self.total:.0f}%)" if self.total else ""
        print(f"  {self.label}: {self._format(done)}{total}", file=self.stream, flush=True)
