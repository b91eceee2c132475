"""Run a plan's missing jobs on an executor: an evaluation waits for its training run, the state
is read from the run folders (a rerun continues where the last sweep stopped), and a live table
shows queued / running (epoch, ETA) / finished / failed (last error line).
"""
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Dict, List, Optional, Sequence, TextIO

from runtime.records import is_finished
from runtime.status import BAD_INPUT, BUSY, INTERRUPTED

from toolkit.protocols import Run

from .job import last_line

PROGRESS = re.compile(r"epoch \[(\d+)/(\d+)\] batch \[(\d+)/(\d+)\].*?eta (\S+)")
REASONS = {BAD_INPUT: "bad input", INTERRUPTED: "interrupted (resumes on rerun)"}


@dataclass
class Entry:
    run: Run
    state: str  # finished, to run, unfinished (both waiting), queued, running, busy, failed, blocked, interrupted
    job: object = None
    status: Optional[int] = None
    detail: str = ""
    retry_at: float = 0.0  # busy: when to try again


BUSY_RETRY_S = 30.0  # a folder another run holds is tried again this often (until it is finished)


def run_progress(folder: str) -> str:
    """``epoch 3/10 eta 0:01:02`` from the newest progress line of the run's log."""
    path = os.path.join(folder, "log.txt")
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 8192))
            tail = f.read().decode(errors="replace")
    except OSError:
        return ""
    found = PROGRESS.findall(tail)
    if not found:
        return "evaluating" if "Evaluate on" in tail else ""
    epoch, epochs, _, _, eta = found[-1]
    return f"epoch {epoch}/{epochs} eta {eta}"


class Scheduler:
    """Feeds the executor the ready jobs of ``runs`` until none is left or it is stopped."""

    def __init__(self, runs: Sequence[Run], executor, root: str, opts: Sequence[str], env: Dict[str, str],
                 out: Optional[TextIO] = None, poll_s: float = 1.0, python: str = sys.executable) -> None:
        self.entries = [Entry(run, run.state()) for run in runs]
        self.executor = executor
        self.root, self.opts, self.env, self.python = root, list(opts), env, python
        self.out, self.poll_s = out or sys.stdout, poll_s
        self.live = self.out.isatty()
        self.drawn = 0
        self.stopping = False

    def pending(self) -> List[Entry]:
        """Jobs to submit: not started, or busy elsewhere and due for another try."""
        for entry in self.entries:
            if entry.state == "busy" and is_finished(entry.run.output):
                entry.state, entry.detail = "finished", "by another run"
                self.report(entry)
        now = time.time()
        return [e for e in self.entries if e.state in ("to run", "unfinished") or (e.state == "busy" and now >= e.retry_at)]

    def active(self) -> List[Entry]:
        return [e for e in self.entries if e.state in ("queued", "running", "busy")]

    def ready(self) -> List[Entry]:
        ready = []
        for entry in self.pending():
            needs = entry.run.needs
            if needs is None or is_finished(needs.output):
                ready.append(entry)
                continue
            upstream = next((e for e in self.entries if e.run.output == needs.output), None)
            if upstream is None or upstream.state in ("failed", "blocked"):
                entry.state, entry.detail = "blocked", f"needs {needs.output}, which did not finish"
                self.report(entry)
        return ready

    def submit(self) -> None:
        ready = self.ready()[: self.executor.capacity()]
        if not ready:
            return
        items = [(e.run.output, e.run.command(self.root, self.opts, self.python), self.env) for e in ready]
        for entry, job in zip(ready, self.executor.submit(items)):
            entry.job, entry.state = job, "queued"
            self.report(entry)

    def update(self) -> None:
        active = [e for e in self.entries if e.state in ("queued", "running")]
        if not active:
            return
        states = self.executor.poll([e.job for e in active])
        for entry in active:
            state, status, why = states[entry.job.job_id]
            if state == "done":
                entry.status = status
                if status == BUSY:  # another sweep or script runs it: wait for it, try again later
                    entry.state, entry.detail = "busy", "another run holds the folder; waiting"
                    entry.retry_at = time.time() + BUSY_RETRY_S
                elif is_finished(entry.run.output):  # whatever the job's controller said last
                    entry.state, entry.detail = "finished", ""
                elif self.stopping:  # stopped by us (Ctrl-C, SIGTERM): whatever the job's last words were
                    entry.state, entry.detail = "interrupted", "stopped; resumes on rerun"
                else:
                    entry.state = "failed"
                    last = last_line(entry.run.output)
                    said = f"{REASONS[status]}" if status in REASONS else f"exit {status}"
                    entry.detail = why or (f"{said}: {last}" if last else said)
                self.report(entry)
            elif state != entry.state:
                entry.state = state
                self.report(entry)
            if entry.state == "running":
                entry.detail = run_progress(entry.run.output)

    def run(self) -> None:
        """Until every job is finished, failed or blocked (or ``stop`` was called)."""
        while not self.stopping and (self.pending() or self.active()):
            self.submit()
            self.update()
            self.draw()
            if self.pending() or self.active():
                time.sleep(self.poll_s)

    def stop(self, wait_s: float = 150.0) -> None:
        """Stop the running jobs (they save a checkpoint) and wait for them to end."""
        self.stopping = True
        active = self.active()
        self.executor.stop([e.job for e in active if e.job is not None and e.state != "busy"])
        deadline = time.time() + wait_s
        while any(e.state in ("queued", "running") for e in self.entries) and time.time() < deadline:
            time.sleep(0.5)
            self.update()

    # ---- progress ---------------------------------------------------------------------------

    def report(self, entry: Entry) -> None:
        """One line per change when the output is not a terminal (logs, CI)."""
        if not self.live:
            detail = f"  ({entry.detail})" if entry.detail else ""
            print(f"[{datetime.now():%H:%M:%S}] {entry.state:<9} {entry.run.label}{detail}", file=self.out, flush=True)

    def draw(self) -> None:
        """The live table, redrawn in place on a terminal."""
        if not self.live:
            return
        lines = table(self.entries, everything=len(self.entries) <= 40)
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self.drawn = len(lines)


def counts(entries: Sequence[Entry]) -> Dict[str, int]:
    tally: Dict[str, int] = {}
    for entry in entries:
        tally[entry.state] = tally.get(entry.state, 0) + 1
    return tally


def table(entries: Sequence[Entry], everything: bool = True) -> List[str]:
    """``#  state  job  detail`` rows and a one-line tally; a long sweep shows only the jobs out
    (queued, running) and the failed ones."""
    width = max([len(e.run.label) for e in entries] + [3])
    lines = [f"{'#':>4}  {'state':<10} {'job':<{width}}  detail"]
    for i, entry in enumerate(entries, 1):
        if not everything and entry.state not in ("queued", "running", "busy", "failed", "blocked", "interrupted"):
            continue
        lines.append(f"{i:>4}  {entry.state:<10} {entry.run.label:<{width}}  {entry.detail}".rstrip())
    lines.append(", ".join(f"{n} {state}" for state, n in sorted(counts(entries).items())))
    return lines
