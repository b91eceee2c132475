"""One run folder's result, read from its logs as CoOp's ``parse_test_res.py`` reads them.

The result is the last ``* <metric>: X%`` line after the end signal: "Finish training" (this
project's engine, Dassl.pytorch, so the CoOp/CoCoOp, MaPLe and PromptSRC repositories) or
"Finished training" (KgCoOp's Dassl fork, which also prints two decimals and
``epoch [a/b][i/n]`` progress), or "=> result" for evaluation-only runs. A validation block
printed during training therefore never counts. The reference repositories write no
``finished.json``; a run of theirs is told finished by its log alone.
"""
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from runtime.records import FINISHED_MARKER, recorded_settings

TRAIN_END_SIGNALS = ("Finish training", "Finished training")
EVAL_END_SIGNALS = ("=> result",)
METRIC_LINE = re.compile(r"^\* (\w+): ([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)%$")
PROGRESS = re.compile(r"epoch \[\d+/\d+\]")


@dataclass
class LogReading:
    metrics: Dict[str, float]  # ``* name: X%`` lines after the end signal; the last of each wins
    ended: bool  # the end signal was seen
    progress: str  # the last "epoch [a/b]" before it, to tell how far an unfinished run got


def read_log(path: str, eval_only: bool) -> LogReading:
    signals = EVAL_END_SIGNALS if eval_only else TRAIN_END_SIGNALS
    metrics: Dict[str, float] = {}
    ended, progress = False, ""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line in signals:
                ended = True
            elif ended and (match := METRIC_LINE.match(line)):
                metrics[match.group(1)] = float(match.group(2))
            elif not ended and (match := PROGRESS.search(line)):
                progress = match.group(0)
    return LogReading(metrics, ended, progress)


def log_files(folder: str) -> List[str]:
    """Oldest first: a rerun into the same folder writes ``log.txt-<time>`` next to ``log.txt``
    (Dassl's logger; MaPLe's and PromptSRC's scripts rerun into an existing folder to resume)."""
    names = [n for n in os.listdir(folder) if n == "log.txt" or n.startswith("log.txt-")]
    return sorted(names, key=lambda n: (n != "log.txt", n))


@dataclass
class Run:
    folder: str
    seed: str
    metrics: Dict[str, float] = field(default_factory=dict)
    status: str = "ok"  # ok | unfinished | no-result | no-log
    detail: str = ""  # why it is not ok
    log: str = ""  # the log file the result comes from
    older_results: Tuple[str, ...] = ()  # older logs holding a different result
    settings: Optional[Dict[str, Any]] = None  # its config.yaml (runtime.records.recorded_settings)


def read_run(folder: str, seed: str, eval_only: bool) -> Run:
    """The run's result and its recorded settings."""
    run = read_result(folder, seed, eval_only)
    run.settings = recorded_settings(folder)
    return run


def read_result(folder: str, seed: str, eval_only: bool) -> Run:
    """The newest log with a result wins (an interrupted first attempt leaves one without)."""
    logs = log_files(folder)
    if not logs:
        return Run(folder, seed, status="no-log", detail="no log.txt")
    readings = [(name, read_log(osp.join(folder, name), eval_only)) for name in logs]
    with_result = [(name, reading) for name, reading in readings if reading.metrics]
    if with_result:
        name, reading = with_result[-1]
        older = tuple(n for n, r in with_result[:-1] if r.metrics != reading.metrics)
        return Run(folder, seed, reading.metrics, log=name, older_results=older)
    signal = (EVAL_END_SIGNALS if eval_only else TRAIN_END_SIGNALS)[0]
    newest = readings[-1][1]
    if newest.ended or osp.isfile(osp.join(folder, FINISHED_MARKER)):
        return Run(folder, seed, status="no-result", detail=f"no '* <metric>: X%' line after '{signal}'")
    progress = f", last progress {newest.progress}" if newest.progress else ""
    return Run(folder, seed, status="unfinished", detail=f"no '{signal}' in the log{progress}")
