"""Sweeps know the settings of their runs: an ablation grid puts each point in folders of its own
and toolkit.results makes its ablation table; a finished run made with other settings is never
taken as this sweep's; before anything runs, one line refuses overrides that contradict the
protocol or each other, shots and seeds that are not a protocol's, a mistyped config key and a
SLURM partition that cannot run the jobs. A job stopped by Ctrl-C says interrupted, and each
job's rerun hint keeps --opts and --output. Jobs are not trained: a stand-in executor writes what
train.py would leave (its config.yaml from train.py's own merge, a log, finished.json)."""
import argparse
import os
import re
import subprocess
import sys

import pytest

from result_trees import eval_log, training_log
from runtime.cli import build_parser as train_parser
from runtime.cli import setup_cfg
from toolkit.protocols.__main__ import main as protocols_main
from toolkit.sweep import cli, executors
from toolkit.sweep.schedule import Scheduler, table

GRID = ["--grid", "OPTIM.LR=0.001,0.002", "--grid", "OPTIM.MAX_EPOCH=1,2"]


@pytest.fixture(scope="module")
def defaults():
    from runtime.config import default_config

    return default_config()


class RecordingExecutor:
    """Each job done at once, as train.py leaves its folder; the accuracy follows the settings
    (1000·LR + 2·epochs + seed/10 above 50), so the best grid point is LR 0.002, 2 epochs."""

    def __init__(self, defaults):
        self.defaults, self.done = defaults, []

    def describe(self):
        return "stand-in"

    def capacity(self):
        return 4

    def submit(self, items):
        jobs = []
        for folder, command, env in items:
            args = train_parser().parse_args(command[2:])
            cfg = setup_cfg(args, self.defaults)
            accuracy = 50 + 1000 * cfg.OPTIM.LR + 2 * cfg.OPTIM.MAX_EPOCH + cfg.SEED / 10
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "config.yaml"), "w") as f:
                f.write(cfg.dump())
            with open(os.path.join(folder, "log.txt"), "w") as f:
                f.write("\n".join(eval_log(accuracy) if args.eval_only else training_log(accuracy)) + "\n")
            open(os.path.join(folder, "finished.json"), "w").write('{"mode": "train"}')
            self.done.append(folder)
            jobs.append(type("Job", (), {"job_id": str(len(self.done))})())
        return jobs

    def poll(self, jobs):
        return {job.job_id: ("done", 0, "") for job in jobs}

    def stop(self, jobs):
        pass


def sweep(tmp_path, monkeypatch, defaults, *extra):
    executor = RecordingExecutor(defaults)
    monkeypatch.setattr(cli, "LocalExecutor", lambda folder, jobs: executor)
    argv = ["base2new", "--methods", "CoOp", "--datasets", "eurosat", "--seeds", "1", "2", "--root", str(tmp_path),
            "--output", str(tmp_path / "out"), "--poll", "0", *extra]
    return cli.main(argv), executor


def test_a_2x2_grid_makes_4_folders_per_seed_and_an_ablation_table_of_4_rows(tmp_path, monkeypatch, defaults, capfd):
    import signal

    handlers = [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)]
    status, executor = sweep(tmp_path, monkeypatch, defaults, *GRID)
    assert status == 0 and len(executor.done) == 16
    assert [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)] == handlers  # none left behind
    for seed in (1, 2):
        trained = {os.path.relpath(f, tmp_path / "out") for f in executor.done if "train_base" in f and f.endswith(f"seed{seed}")}
        assert trained == {f"base2new/train_base/eurosat/shots_16/CoOp/vit_b16_ctxv1@OPTIM.LR={lr},OPTIM.MAX_EPOCH={e}/seed{seed}"
                           for lr in ("0.001", "0.002") for e in ("1", "2")}
    out = capfd.readouterr().out
    ablation = out.split("ablation of CoOp/vit_b16_ctxv1")[1].split("\n\n")[0]
    rows = [line for line in ablation.splitlines() if re.match(r"0\.00[12] ", line)]
    assert len(rows) == 4 and rows[-1].split()[:2] == ["0.002", "2"] and rows[-1].endswith("best")
    assert "56.15 ± 0.05" in rows[-1]  # 50 + 2 + 4 + seed/10 over seeds 1 and 2

    # A second sweep with other --opts into the same output is refused: it would report these runs as its own.
    status, executor = sweep(tmp_path, monkeypatch, defaults, *GRID, "--opts", "OPTIM.WEIGHT_DECAY", "0.01")
    err = capfd.readouterr().err
    assert status == 2 and executor.done == [] and len(err.strip().splitlines()) == 1
    assert "16 run folder(s) hold runs made with other settings than asked for now (OPTIM.WEIGHT_DECAY: 0.0005 -> 0.01" in err
    assert "pass another --output to keep both, or --force to replace them" in err


def test_a_sweep_without_grid_keeps_the_scripts_folders_and_refuses_other_opts_later(tmp_path, monkeypatch, defaults, capfd):
    status, executor = sweep(tmp_path, monkeypatch, defaults, "--opts", "OPTIM.MAX_EPOCH", "1")
    assert status == 0 and sorted(os.path.relpath(f, tmp_path / "out") for f in executor.done)[:2] == [
        "base2new/test_new/eurosat/shots_16/CoOp/vit_b16_ctxv1/seed1",
        "base2new/test_new/eurosat/shots_16/CoOp/vit_b16_ctxv1/seed2"]
    status, executor = sweep(tmp_path, monkeypatch, defaults)  # without the override: another experiment
    assert status == 2 and executor.done == [] and "OPTIM.MAX_EPOCH: 1 -> 200" in capfd.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["fewshot", "--methods", "CoOp", "--shots", "1", "4", "--opts", "DATASET.NUM_SHOTS", "2"],
     "--opts sets DATASET.NUM_SHOTS, which the fewshot protocol sets for CoOp itself; the shots are the fewshot "
     "protocol's argument (the sweep's --shots"),
    (["fewshot", "--methods", "CoOp", "--shots", "0"], "0 shots: a few-shot run needs 1 or more images per class"),
    (["fewshot", "--methods", "CoOp", "--shots", "-1"], "-1 shots: a few-shot run needs 1 or more images per class"),
    (["base2new", "--methods", "CoOp", "--shots", "4"], "--shots is for the fewshot protocol; base2new runs on"),
    (["xd", "--methods", "CoOp", "--shots", "4"], "--shots is for the fewshot protocol; xd runs on"),
    (["base2new", "--methods", "CoOp", "--seeds", "1", "-1"], "seed -1 is negative"),
    (["base2new", "--methods", "CoOp", "--grid", "OPTIM.LR=0.1", "--opts", "OPTIM.LR", "0.2"],
     "OPTIM.LR is set both by --opts and by --grid"),
    (["base2new", "--methods", "CoOp", "--grid", "lr=0.1,0.2"], "--grid takes KEY=V1,V2,... with a config key"),
    (["base2new", "--methods", "CoOp", "--grid", "OPTIM.LR=0.1,a/b"], "value 'a/b' cannot name a folder"),
    (["base2new", "--methods", "CoOp", "--grid", "OPTIM.LR=0.1,0.1"], "--grid OPTIM.LR lists a value twice"),
    (["base2new", "--methods", "KgCoOp", "--grid", "TRAINER.KGCOOP.W=1,8"], "(its script arguments go in --param: WEIGHT)"),
])
def test_contradicting_settings_are_refused_in_one_line(tmp_path, capsys, argv, message):
    assert cli.main(argv + ["--datasets", "eurosat", "--root", str(tmp_path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_mistyped_config_key_is_found_before_the_sweep_starts(tmp_path, capsys):
    argv = ["base2new", "--methods", "CoOp", "PLPP", "--datasets", "eurosat", "--root", str(tmp_path),
            "--output", str(tmp_path / "out"), "--opts", "OPTIM.MAX_EPOCHS", "1"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Unknown config key OPTIM.MAX_EPOCHS on the command line; did you mean OPTIM.MAX_EPOCH?" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, opts, message", [
    (["fewshot", "--trainer", "CoOp", "--dataset", "eurosat", "--shots", "0"], "", "0 shots"),
    (["fewshot", "--trainer", "CoOp", "--dataset", "eurosat", "--shots", "4"], "DATASET.NUM_SHOTS 2",
     "OPTS sets DATASET.NUM_SHOTS, which the fewshot protocol sets for CoOp itself"),
    (["base2new_train", "--trainer", "CoOp", "--dataset", "eurosat", "--seed", "-1"], "", "seed -1 is negative"),
])
def test_the_scripts_refuse_the_same(tmp_path, capsys, monkeypatch, args, opts, message):
    monkeypatch.setenv("OPTS", opts)
    assert protocols_main(args + ["--root", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


class StoppedExecutor:
    """Jobs run until stopped; then submitit reports what a worker killed by Ctrl-C leaves."""

    def __init__(self):
        self.stopped = False

    def capacity(self):
        return 8

    def submit(self, items):
        return [type("Job", (), {"job_id": str(i)})() for i, _ in enumerate(items)]

    def poll(self, jobs):
        state = ("done", 1, "lost sys.stderr") if self.stopped else ("running", None, "")
        return {job.job_id: state for job in jobs}

    def stop(self, jobs):
        self.stopped = True


def test_jobs_stopped_by_ctrl_c_are_interrupted_and_their_rerun_keeps_opts_and_output(tmp_path, capsys):
    from toolkit.protocols import expand

    opts = ["OPTIM.MAX_EPOCH", "3"]
    runs = expand("base2new", ["CoOp"], ["eurosat"], [1, 2], str(tmp_path / "out"), opts=opts)
    scheduler = Scheduler(runs[:2], StoppedExecutor(), str(tmp_path), opts, {}, poll_s=0)
    scheduler.submit()
    scheduler.update()
    os.makedirs(runs[1].output)  # seed 2 finished just before the stop; its controller's answer is lost
    open(os.path.join(runs[1].output, "finished.json"), "w").close()
    scheduler.stop(wait_s=5)
    assert [e.state for e in scheduler.entries] == ["interrupted", "finished"]
    assert "lost sys.stderr" not in "\n".join(table(scheduler.entries))
    args = cli.build_parser().parse_args(["base2new", "--methods", "CoOp", "--datasets", "eurosat", "--root", "/data",
                                          "--output", str(tmp_path / "out"), "--opts", *opts])
    assert cli.summary(scheduler.entries, args, [], 0.0) == 1
    out = capsys.readouterr().out
    assert "interrupted: base2new train CoOp eurosat seed1: stopped; resumes on rerun" in out
    assert (f"rerun: python -m toolkit.sweep base2new --methods CoOp --datasets eurosat --seeds 1 --root /data "
            f"--output {tmp_path / 'out'} --opts OPTIM.MAX_EPOCH 3") in out


def test_local_jobs_leave_ctrl_c_to_the_sweep():
    """Ctrl-C reaches every process of the terminal's group: the jobs ignore it, and the sweep
    stops them with SIGTERM (a checkpoint each) instead of submitit's controller dying."""
    import signal
    import sys

    show = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"]
    before = signal.getsignal(signal.SIGINT)
    with executors.sigint_ignored():
        inside = subprocess.run(show, capture_output=True, text=True).stdout.strip()
    assert inside == "True" and signal.getsignal(signal.SIGINT) is before
    assert subprocess.run(show, capture_output=True, text=True).stdout.strip() == "False"


def test_a_grid_jobs_rerun_names_its_point(tmp_path):
    from toolkit.protocols import expand
    from toolkit.sweep.plan import rerun_command

    run = expand("fewshot", ["CoOp"], ["dtd"], [2], "/out", shots=[4], point=(("OPTIM.LR", "0.1"),))[0]
    args = argparse.Namespace(protocol="fewshot", datasets=["dtd"], cfg="", param=[], root="/data", output="/out", opts=[],
                              python=sys.executable)
    assert rerun_command(args, run) == ("python -m toolkit.sweep fewshot --methods CoOp --datasets dtd --seeds 2 "
                                        "--shots 4 --root /data --output /out --grid OPTIM.LR=0.1")
    args.python = "/opt/venv/bin/python"  # another Python for train.py: the rerun keeps it
    assert "--output /out --python /opt/venv/bin/python --grid" in rerun_command(args, run)
    assert run.output == "/out/dtd/CoOp/vit_b16_ep100@OPTIM.LR=0.1_4shots/nctx16_cscFalse_ctpend/seed2"


SINFO = """debug*|2|(null)
debug*|2|(null)
gpu|32|gpu:a100:4(S:0-1)
gpu|64|gpu:a100:4(S:0-1),gpu:v100:2
"""


@pytest.mark.parametrize("partition, gpus, cpus, message", [
    ("", 1, 1, "the default partition has no GPUs (sinfo lists no gpu gres on its nodes); pass --gpus 0"),
    ("debug", 1, 1, "debug has no GPUs"),
    ("debug", 0, 4, "--cpus 4 is more than a node of debug has (2), so the jobs would pend forever; pass --cpus 2"),
    ("gpu", 8, 4, "--gpus 8 is more than a node of gpu has (6); pass --gpus 6 or fewer"),
    ("gpus", 1, 4, "SLURM has no partition gpus (sinfo lists: debug, gpu); pass one of them to --partition"),
    ("gpu", 6, 64, ""),
    ("", 0, 2, ""),
])
def test_slurm_partitions_that_cannot_run_the_jobs(partition, gpus, cpus, message):
    nodes = executors.partition_nodes(SINFO)
    assert nodes == {"debug": (2, 0), "": (2, 0), "gpu": (64, 6)}
    problem = executors.partition_problem(nodes, partition, gpus, cpus)
    assert message in problem if message else problem == ""


def test_a_cpu_partition_with_the_default_gpus_is_refused_before_submitting(tmp_path, monkeypatch, capsys):
    answered = subprocess.CompletedProcess([], 0, stdout=SINFO, stderr="")
    monkeypatch.setattr(cli, "slurm_available", lambda: True)
    monkeypatch.setattr(executors.subprocess, "run", lambda command, **kw: answered)
    argv = ["base2new", "--methods", "CoOp", "--datasets", "eurosat", "--root", str(tmp_path), "--cluster", "slurm"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "has no GPUs" in err and "--gpus 0" in err and len(err.strip().splitlines()) == 1
