"""``python tests/kill_points.py TRAIN_ARGS...``: train.py (its real entry point) in a process that
sends itself a signal at a chosen moment, given by ``KILL_AT``:

- ``batch:N``: SIGKILL right after this process's N-th training step (mid-epoch when N is not a
  multiple of the batches per epoch);
- ``save:N``: SIGKILL in the middle of writing this process's N-th checkpoint file (a partial
  ``.tmp`` is left behind, the rename and the pointer never happen);
- ``term:N``: SIGTERM after the N-th training step (the run saves and exits with status 75);
- ``int:N``: SIGINT (Ctrl-C) after the N-th training step.

The reliability tests use it to interrupt real runs at exact points (no timing involved).
"""
import os
import signal
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import runtime  # noqa: E402,F401  (selects the engine)
from dassl.engine.trainer import TrainerX  # noqa: E402
from dassl.utils import torchtools  # noqa: E402

from runtime.cli import entry_point  # noqa: E402


def arm(kind: str, count: int) -> None:
    calls = {"n": 0}

    def due() -> bool:
        calls["n"] += 1
        return calls["n"] == count

    sent = {"batch": signal.SIGKILL, "term": signal.SIGTERM, "int": signal.SIGINT}
    if kind in sent:
        check_step = TrainerX.check_step

        def checked(self, loss_summary):
            check_step(self, loss_summary)
            if due():
                sys.stdout.flush()
                os.kill(os.getpid(), sent[kind])

        TrainerX.check_step = checked
    elif kind == "save":
        atomic_write = torchtools.atomic_write

        def killed_while_writing(fpath, write):
            if ".pth.tar" in os.path.basename(fpath) and due():
                with open(fpath + ".tmp", "wb") as f:
                    f.write(b"PK\x03\x04 partial checkpoint")
                    f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            atomic_write(fpath, write)

        torchtools.atomic_write = killed_while_writing
    else:
        raise SystemExit(f"KILL_AT must be batch:N, save:N, term:N or int:N, got {kind}")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    if os.environ.get("KILL_AT"):
        kind, count = os.environ["KILL_AT"].split(":")
        arm(kind, int(count))
    entry_point(sys.argv[1:])
