"""What one sweep job runs, on this machine or a SLURM node: the run's ``train.py`` command, its
output appended to ``<run folder>/sweep.log``, its exit status returned.

Stopping and requeueing go through ``train.py``'s own signal handling (runtime.status): SIGTERM
or SIGUSR1 make it save a resumable checkpoint and exit with INTERRUPTED, and the rerun of the
same command resumes. On SLURM the signals come from SLURM itself (preemption, ``scontrol
requeue``, the time limit through submitit's checkpoint hook); locally the sweep's controller
forwards SIGTERM.
"""
import fcntl
import os
import signal
import subprocess
import time
from typing import Dict, Optional, Sequence

import submitit

from runtime.records import is_finished
from runtime.status import BUSY, INTERRUPTED, OK

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOG_NAME = "sweep.log"
LOCK_NAME = ".sweep.lock"  # held by the job while it runs (train.py holds its own)
# After train.py stopped on SLURM's signal, wait this long for SLURM to requeue or cancel the
# job (it kills it after its KillWait) rather than reporting a result the requeued job replaces.
SLURM_GRACE_S = 300
STOP_WAIT_S = 120  # how long train.py gets to save its checkpoint after the stop signal


class TrainJob(submitit.helpers.Checkpointable):
    """A picklable callable: ``TrainJob()(folder, command, env)`` returns train.py's exit status."""

    def __init__(self) -> None:
        self._process: Optional[subprocess.Popen] = None

    def __getstate__(self) -> dict:
        return {}  # the process handle stays on the machine that ran it

    def __setstate__(self, state: dict) -> None:
        self._process = None

    def __call__(self, folder: str, command: Sequence[str], env: Dict[str, str]) -> int:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, LOCK_NAME), "a") as lock:
            try:  # two sweeps over the same folders: the second one's job does not start
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return BUSY
            if is_finished(folder):  # done meanwhile, or a finished SLURM job requeued by hand
                return OK
            return self._train(folder, command, env)

    def _train(self, folder: str, command: Sequence[str], env: Dict[str, str]) -> int:
        on_slurm = os.environ.get("SUBMITIT_EXECUTOR") == "slurm"
        where = f" (SLURM job {slurm_job_id()}, pid {os.getpid()})" if on_slurm else ""
        with open(os.path.join(folder, LOG_NAME), "a") as log:
            log.write(f"==> {time.strftime('%Y-%m-%d %H:%M:%S')}{where} {' '.join(command)}\n")
            log.flush()
            self._process = subprocess.Popen(list(command), cwd=REPO, env=dict(os.environ, **env), stdout=log,
                                             stderr=subprocess.STDOUT, preexec_fn=ignore_submitit_signal)
            previous = None if on_slurm else signal.signal(signal.SIGTERM, self._forward)
            try:
                while self._process.poll() is None:  # not wait(): the signal handlers below poll it too
                    time.sleep(0.5)
            finally:
                if previous is not None:  # the caller's handler again (the job may run in its process)
                    signal.signal(signal.SIGTERM, previous)
            status = self._process.returncode
            log.write(f"==> exit status {status}\n")
        if on_slurm and (status == INTERRUPTED or status < 0):
            time.sleep(SLURM_GRACE_S)  # SLURM is stopping the job: a requeue reruns this call, which resumes
        return status

    def _forward(self, signum: int, frame: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signum)

    def checkpoint(self, folder: str, command: Sequence[str], env: Dict[str, str]) -> submitit.helpers.DelayedSubmission:
        """submitit's hook before the time limit or a preemption: let train.py save its checkpoint,
        then requeue the same call (which resumes)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGUSR1)
            deadline = time.time() + STOP_WAIT_S
            while not exited(self._process) and time.time() < deadline:
                time.sleep(0.2)
        return submitit.helpers.DelayedSubmission(TrainJob(), folder, command, env)


def exited(process: subprocess.Popen) -> bool:
    """Whether ``process`` ended; inside a signal handler, where the interrupted ``poll`` may hold
    Popen's lock, ``/proc`` tells a zombie apart."""
    if process.poll() is not None:
        return True
    try:
        with open(f"/proc/{process.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def ignore_submitit_signal() -> None:
    """In train.py: ignore SIGUSR2, submitit's warning before the time limit, which SLURM sends to
    every process of the job; the worker answers it (``checkpoint``) by asking train.py to stop."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def slurm_job_id() -> str:
    """``<array job>_<task>`` for an array task (as squeue and scontrol name it), else the job id."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", "?")


def last_line(folder: str) -> str:
    """What train.py said last in the job's log: its last ``error:`` line, else its last line."""
    path = os.path.join(folder, LOG_NAME)
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 8192))
            lines = [line.strip() for line in f.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line and not line.startswith("==> ")]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or [""])[-1]
