"""The two places a sweep's jobs run, both through submitit: this machine (one job at a time per
visible GPU, or ``--jobs N`` at a time on the CPU) and a SLURM cluster (job arrays with a
concurrency cap, requeued on preemption or time limit).

An executor answers four questions for the scheduler: how many jobs it takes now, submit these,
is this one done (and with which status) or still queued / running, and stop them all.
"""
import contextlib
import os
import signal
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import submitit

from runtime.status import FAILED, INTERRUPTED

from .job import TrainJob

Item = Tuple[str, Sequence[str], Dict[str, str]]  # (run folder, train.py command, extra environment)
FOREVER_MIN = 60 * 24 * 30  # the local executor's time limit: none to speak of


def visible_gpus() -> List[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else what ``nvidia-smi -L`` lists."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g for g in given.split(",") if g.strip() not in ("", "-1")]
    if not shutil.which("nvidia-smi"):
        return []
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    return [str(i) for i, line in enumerate(listed.splitlines()) if line.startswith("GPU ")]


def outcome(job: submitit.Job) -> Tuple[int, str]:
    """The exit status of a finished job and, when the job itself broke, why."""
    try:
        return int(job.result()), ""
    except Exception as e:  # submitit re-raises the worker's failure; the job is over either way
        return FAILED, str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Processes started inside ignore SIGINT (an ignored signal stays ignored across exec, and
    Python then installs no KeyboardInterrupt): Ctrl-C in the terminal reaches the sweep alone,
    which stops its jobs with SIGTERM (they save a checkpoint), instead of submitit's controller
    dying with a traceback and the jobs' results lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class LocalExecutor:
    """Jobs as subprocesses of this machine (submitit's LocalExecutor), one per slot."""

    def __init__(self, folder: str, jobs: int = 0) -> None:
        self.gpus = visible_gpus()
        self.slots: List[Optional[str]] = list(self.gpus) if not jobs and self.gpus else [None] * max(jobs, 1)
        self.executor = submitit.LocalExecutor(folder)
        self.busy: Dict[int, submitit.Job] = {}  # slot -> job

    def describe(self) -> str:
        if any(self.slots):
            return f"local, one job per GPU ({', '.join(self.slots)})"
        return f"local, {len(self.slots)} job(s) at a time on the CPU"

    def capacity(self) -> int:
        return len(self.slots) - len(self.busy)

    def submit(self, items: Sequence[Item]) -> List[submitit.Job]:
        jobs = []
        for folder, command, env in items:
            slot = next(i for i in range(len(self.slots)) if i not in self.busy)
            gpu = self.slots[slot]
            self.executor.update_parameters(timeout_min=FOREVER_MIN, gpus_per_node=1 if gpu else 0,
                                            visible_gpus=[int(gpu)] if gpu else [])
            with sigint_ignored():
                job = self.executor.submit(TrainJob(), folder, list(command), env)
            self.busy[slot] = job
            jobs.append(job)
        return jobs

    def poll(self, jobs: Sequence[submitit.Job]) -> Dict[str, Tuple[str, Optional[int], str]]:
        """Per job id: (``running`` or ``done``, the exit status when done, why it broke)."""
        states = {}
        for job in jobs:
            if job.done():
                states[job.job_id] = ("done", *outcome(job))
                for slot, held in list(self.busy.items()):
                    if held is job:
                        del self.busy[slot]
            else:
                states[job.job_id] = ("running", None, "")
        return states

    def stop(self, jobs: Sequence[submitit.Job]) -> None:
        """SIGTERM through submitit's controller to train.py: it saves a checkpoint and exits."""
        for job in jobs:
            if job._process is not None and job._process.poll() is None:
                job._process.send_signal(signal.SIGTERM)


@dataclass
class SlurmSettings:
    partition: str = ""
    account: str = ""
    time_min: int = 240
    gpus: int = 1
    cpus: int = 4
    mem: str = ""
    sbatch: Dict[str, str] = field(default_factory=dict)  # extra sbatch options, e.g. {"qos": "high"}
    setup: Sequence[str] = ()  # shell lines before the job (module load ..., source venv)


class SlurmExecutor:
    """Jobs as SLURM job arrays (submitit's SlurmExecutor), at most ``parallel`` running at once.

    The state comes from ``squeue`` and submitit's result files (clusters without accounting
    have no ``sacct``); a job that left the queue without a result died (killed, cancelled)."""

    def __init__(self, folder: str, settings: SlurmSettings, parallel: int = 256) -> None:
        self.executor = submitit.SlurmExecutor(folder, max_num_timeout=10)
        params = dict(time=settings.time_min, cpus_per_task=settings.cpus, array_parallelism=max(parallel, 1),
                      job_name="plpp-sweep", stderr_to_stdout=True, signal_delay_s=120,
                      additional_parameters={"requeue": True, **settings.sbatch})
        if settings.gpus:
            params["gpus_per_node"] = settings.gpus
        for key, value in (("partition", settings.partition), ("account", settings.account), ("mem", settings.mem)):
            if value:
                params[key] = value
        if settings.setup:
            params["setup"] = list(settings.setup)
        self.executor.update_parameters(**params)
        self.settings = settings
        self.parallel = parallel
        self.missing: Dict[str, int] = {}  # job id -> polls it has been absent from squeue

    def describe(self) -> str:
        where = f"partition {self.settings.partition}" if self.settings.partition else "the default partition"
        return f"SLURM, {where}, job arrays of at most {self.parallel} running"

    def capacity(self) -> int:
        return 1 << 30  # the array's concurrency cap does the limiting

    def submit(self, items: Sequence[Item]) -> List[submitit.Job]:
        with self.executor.batch():
            jobs = [self.executor.submit(TrainJob(), folder, list(command), env) for folder, command, env in items]
        return jobs

    def queue(self, jobs: Sequence[submitit.Job]) -> Dict[str, str]:
        ids = sorted({job.job_id.split("_")[0] for job in jobs})
        listed = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(ids)], capture_output=True,
                                text=True).stdout if ids else ""
        return dict(line.split(None, 1) for line in listed.splitlines() if line.strip())

    def poll(self, jobs: Sequence[submitit.Job]) -> Dict[str, Tuple[str, Optional[int], str]]:
        queued = self.queue(jobs)
        states = {}
        for job in jobs:
            state = queued.get(job.job_id)
            if job.paths.result_pickle.exists() and state is None:
                states[job.job_id] = ("done", *outcome(job))
            elif state is not None:
                self.missing.pop(job.job_id, None)
                states[job.job_id] = ("running" if state in ("RUNNING", "COMPLETING") else "queued", None, "")
            else:
                self.missing[job.job_id] = self.missing.get(job.job_id, 0) + 1
                gone = self.missing[job.job_id] >= 3
                states[job.job_id] = ("done", INTERRUPTED, "left the SLURM queue without a result (cancelled?)") if gone \
                    else ("running", None, "")
        return states

    def stop(self, jobs: Sequence[submitit.Job]) -> None:
        """``scancel`` (SIGTERM to train.py, which saves a checkpoint first)."""
        ids = sorted({job.job_id for job in jobs})
        if ids:
            subprocess.run(["scancel", "--full", *ids], capture_output=True)
            time.sleep(1)


def partition_nodes(sinfo: str) -> Dict[str, Tuple[int, int]]:
    """``sinfo -h -N -o '%P|%c|%G'`` (one line per node and partition) -> per partition, the most
    CPUs and GPUs one of its nodes has; the default partition (``debug*``) also under ``""``."""
    found: Dict[str, Tuple[int, int]] = {}
    for line in sinfo.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue
        name, cpus, gres = fields[0].strip(), int(fields[1]), fields[2]
        gpus = 0
        for item in gres.split(","):
            kind = item.split("(")[0].split(":")
            if kind[0] == "gpu":
                gpus += int(kind[-1]) if len(kind) > 1 and kind[-1].isdigit() else 1
        for key in {name.rstrip("*"), "" if name.endswith("*") else name.rstrip("*")}:
            old = found.get(key, (0, 0))
            found[key] = (max(old[0], cpus), max(old[1], gpus))
    return found


def partition_problem(nodes: Dict[str, Tuple[int, int]], partition: str, gpus: int, cpus: int) -> str:
    """Why jobs asking ``gpus`` and ``cpus`` per job could never start on ``partition`` ("" default), or ""."""
    if partition not in nodes:
        if not partition:
            return ""
        listed = ", ".join(sorted(n for n in nodes if n)) or "none"
        return f"SLURM has no partition {partition} (sinfo lists: {listed}); pass one of them to --partition"
    name = partition or "the default partition"
    most_cpus, most_gpus = nodes[partition]
    if gpus and not most_gpus:
        return f"{name} has no GPUs (sinfo lists no gpu gres on its nodes); pass --gpus 0 to run the jobs on its CPUs"
    if gpus > most_gpus:
        return f"--gpus {gpus} is more than a node of {name} has ({most_gpus}); pass --gpus {most_gpus} or fewer"
    if cpus > most_cpus:
        return (f"--cpus {cpus} is more than a node of {name} has ({most_cpus}), so the jobs would pend forever; "
                f"pass --cpus {most_cpus} or fewer")
    return ""


def check_partition(partition: str, gpus: int, cpus: int) -> None:
    """Refuse (ValueError) jobs the partition's nodes cannot run, as ``sinfo`` describes them;
    nothing to say when sinfo does not answer."""
    listed = subprocess.run(["sinfo", "-h", "-N", "-o", "%P|%c|%G"], capture_output=True, text=True)
    if listed.returncode == 0:
        problem = partition_problem(partition_nodes(listed.stdout), partition, gpus, cpus)
        if problem:
            raise ValueError(problem)


def slurm_available() -> bool:
    """Whether a SLURM controller answers here."""
    return bool(shutil.which("sbatch")) and subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0
