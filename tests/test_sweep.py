"""The sweep's plan is the protocol scripts' runs: the same train.py commands into the same folders
(recorded from the real scripts with a stand-in for train.py), the same states, --dry-run's
table; and the one-line errors. The end-to-end sweeps: test_sweep_local.py, test_sweep_slurm.py."""
import json
import os
import stat
import subprocess
import sys
import time

import pytest

from marks import fast_cases
from runs import REPO
from toolkit.protocols import expand
from toolkit.sweep import cli
from toolkit.sweep.schedule import run_progress

OPTS = ["OPTIM.MAX_EPOCH", "3", "DATALOADER.NUM_WORKERS", "0"]


@pytest.fixture
def recorder(tmp_path):
    """A $PY whose ``train.py`` calls are recorded (and marked finished) instead of run."""
    record = tmp_path / "calls.jsonl"
    stub = tmp_path / "py"
    stub.write_text(f"""#!/usr/bin/env bash
if [ "$1" = train.py ]; then
    {sys.executable} - "$@" <<'EOF'
import json, os, sys
argv = sys.argv[1:]
out = argv[argv.index("--output-dir") + 1]
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "finished.json"), "w").write("{{}}")
open({str(record)!r}, "a").write(json.dumps(argv) + "\\n")
EOF
else
    exec {sys.executable} "$@"
fi
""")
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    data = tmp_path / "data"
    data.mkdir()
    env = dict(os.environ, DATA=str(data), OUTPUT=str(tmp_path / "out"), PY=str(stub), OPTS=" ".join(OPTS))
    env.pop("FORCE", None)

    def run_script(name, *args, **extra):
        done = subprocess.run(["bash", os.path.join(REPO, "scripts", name), *args], env=dict(env, **extra),
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done

    def calls():
        return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []

    return run_script, calls, str(data), str(tmp_path / "out")


def planned(protocol, methods, datasets, seeds, data, out, **kw):
    return [run.command(data, OPTS)[1:] for run in expand(protocol, methods, datasets, seeds, out, opts=OPTS, **kw)]


@pytest.mark.slow
def test_base2new_plan_is_what_the_scripts_run(recorder):
    run_script, calls, data, out = recorder
    for method in ("coop", "plpp"):
        for dataset in ("eurosat", "dtd"):
            for seed in ("1", "2"):
                run_script(f"{method}/base2new_train.sh", dataset, seed)
                run_script(f"{method}/base2new_test.sh", dataset, seed)
    by_hand = calls()
    plan = planned("base2new", ["CoOp", "PLPP"], ["eurosat", "dtd"], [1, 2], data, out)
    assert len(plan) == 16 and sorted(plan) == sorted(by_hand)
    # The training runs come first, and each evaluation names the training folder it loads.
    runs = expand("base2new", ["CoOp", "PLPP"], ["eurosat", "dtd"], [1, 2], out, opts=OPTS)
    assert [r.step for r in runs] == ["train"] * 8 + ["test"] * 8
    assert all(r.needs.output in r.args and "3" == r.args[r.args.index("--load-epoch") + 1] for r in runs[8:])


@pytest.mark.slow
def test_other_protocols_and_a_method_with_its_own_arguments_match_their_scripts(recorder):
    run_script, calls, data, out = recorder
    run_script("kgcoop/base2new_train.sh", "eurosat", SEEDS="1 2")
    run_script("kgcoop/base2new_test.sh", "eurosat", SEEDS="1 2")
    assert sorted(calls()) == sorted(planned("base2new", ["KgCoOp"], ["eurosat"], [1, 2], data, out))

    first = len(calls())
    run_script("plpp/xd_train.sh", "1")
    run_script("plpp/xd_test.sh", "dtd", "1")
    run_script("plpp/xd_test.sh", "imagenet_a", "1")
    run_script("coop/main.sh", "eurosat", "vit_b16_ep50", "end", "16", "1", "False", SEEDS="1")
    run_script("coop/zeroshot.sh", "eurosat", "vit_b16")
    for sub in ("base", "new"):
        run_script("coop/zeroshot.sh", "dtd", "vit_b16", SUB=sub)
    plan = (planned("xd", ["PLPP"], ["dtd"], [1], data, out) + planned("dg", ["PLPP"], ["imagenet_a"], [1], data, out)[1:]
            + planned("fewshot", ["CoOp"], ["eurosat"], [1], data, out, shots=[1])
            + planned("zeroshot", ["ZeroshotCLIP"], ["eurosat"], [1], data, out)
            + planned("base2new", ["ZeroshotCLIP"], ["dtd"], [1, 2], data, out))  # zero-shot CLIP's base-to-new row
    assert sorted(calls()[first:]) == sorted(plan)


def test_dry_run_lists_the_jobs_with_their_state(tmp_path, capsys):
    out = str(tmp_path / "out")
    runs = expand("base2new", ["CoOp", "PLPP"], ["eurosat", "dtd"], [1, 2], out)
    os.makedirs(runs[0].output)
    open(os.path.join(runs[0].output, "finished.json"), "w").close()
    os.makedirs(runs[1].output)  # started, not finished: it resumes
    argv = ["base2new", "--methods", "CoOp", "PLPP", "--datasets", "eurosat", "dtd", "--seeds", "1", "2",
            "--root", str(tmp_path), "--output", out, "--dry-run"]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = lines[1:-1]
    assert len(rows) == 16 and [row.split()[-1] for row in rows] == [r.output for r in runs]
    assert "finished" in rows[0] and "unfinished" in rows[1] and all("to run" in row for row in rows[2:])
    assert lines[-1] == "16 jobs: 1 finished, 14 to run, 1 unfinished"
    assert not os.path.exists(runs[2].output)  # a dry run creates nothing


@pytest.mark.parametrize("argv, message", [
    (["base2new", "--methods", "CoOpp", "--datasets", "eurosat"], "unknown method CoOpp (no configs/trainers/CoOpp/); did you mean CoOp?"),
    (["base2new", "--methods", "CoOp", "--datasets", "eurosatt"], "dataset config not found: configs/datasets/eurosatt.yaml"),
    (["xd", "--methods", "ZeroshotCLIP", "--datasets", "dtd"], "ZeroshotCLIP has no xd runs"),
    (["zeroshot", "--methods", "CoOp", "--datasets", "dtd"], "CoOp has no zeroshot runs"),
    (["base2new", "--methods", "KgCoOp", "--param", "W=1"], "KgCoOp takes no parameter W (its parameters: WEIGHT)"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, message):
    assert cli.main(argv + ["--root", str(tmp_path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_datasets_folder_says_what_to_do(capsys, monkeypatch):
    monkeypatch.delenv("DATA", raising=False)
    assert cli.main(["base2new", "--methods", "CoOp", "--root", "", "--dry-run"]) == 2
    assert "export DATA=/path/to/datasets or pass --root" in capsys.readouterr().err


def test_progress_reads_epoch_and_eta_from_the_run_log(tmp_path):
    (tmp_path / "log.txt").write_text("epoch [1/5] batch [2/4] time 0.1 (0.1) loss 1.0 (1.0) lr 2e-3 eta 0:00:09\n"
                                      "epoch [2/5] batch [1/4] time 0.1 (0.1) loss 0.9 (0.9) lr 2e-3 eta 0:00:07\n")
    assert run_progress(str(tmp_path)) == "epoch 2/5 eta 0:00:07"
    assert run_progress(str(tmp_path / "missing")) == ""


class FakeExecutor:
    """Runs each job at once by writing finished.json into its folder; ``fail`` folders exit 1,
    ``busy`` ones exit BUSY (another run holds them) and that other run finishes them."""

    def __init__(self, fail=(), busy=()):
        self.fail, self.busy, self.order, self.jobs = set(fail), set(busy), [], {}

    def capacity(self):
        return 2

    def submit(self, items):
        jobs = []
        for folder, command, env in items:
            assert command[1] == "train.py" and command[command.index("--output-dir") + 1] == folder
            self.order.append(folder)
            job = type("Job", (), {"job_id": str(len(self.order))})()
            if folder not in self.fail:
                os.makedirs(folder)
                open(os.path.join(folder, "finished.json"), "w").close()
            self.jobs[job.job_id] = 1 if folder in self.fail else 3 if folder in self.busy else 0
            jobs.append(job)
        return jobs

    def poll(self, jobs):
        return {job.job_id: ("done", self.jobs[job.job_id], "") for job in jobs}

    def stop(self, jobs):
        pass


def test_scheduler_runs_evaluations_after_their_training_and_blocks_those_of_failed_ones(tmp_path, capsys):
    from toolkit.sweep.schedule import Scheduler

    runs = expand("base2new", ["CoOp"], ["eurosat"], [1, 2, 3], str(tmp_path))
    os.makedirs(runs[2].output)  # seed 3 was trained before: only its evaluation runs
    open(os.path.join(runs[2].output, "finished.json"), "w").close()
    executor = FakeExecutor(fail={runs[1].output}, busy={runs[3].output})
    scheduler = Scheduler(runs, executor, "/data", OPTS, {}, poll_s=0)
    scheduler.run()
    states = {entry.run.output: entry.state for entry in scheduler.entries}
    assert states == {runs[0].output: "finished", runs[1].output: "failed", runs[2].output: "finished",
                      runs[3].output: "finished", runs[4].output: "blocked", runs[5].output: "finished"}
    assert runs[2].output not in executor.order and runs[4].output not in executor.order
    assert executor.order.index(runs[3].output) > executor.order.index(runs[0].output)
    out = capsys.readouterr().out
    assert "blocked   base2new test CoOp eurosat seed2  (needs " in out
    assert "busy      base2new test CoOp eurosat seed1  (another run holds the folder; waiting)" in out
    assert "finished  base2new test CoOp eurosat seed1  (by another run)" in out


def test_a_job_whose_folder_another_sweep_holds_does_not_start(tmp_path):
    import fcntl

    from runtime.status import BUSY
    from toolkit.sweep.job import LOCK_NAME, TrainJob

    folder = str(tmp_path / "run")
    marker = tmp_path / "started"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w'); raise SystemExit(5)"]
    os.makedirs(folder)
    with open(os.path.join(folder, LOCK_NAME), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert TrainJob()(folder, command, {}) == BUSY and not marker.exists()
    assert TrainJob()(folder, command, {}) == 5 and marker.exists()  # free: it runs, its status comes back
    marker.unlink()
    open(os.path.join(folder, "finished.json"), "w").close()
    assert TrainJob()(folder, command, {}) == 0 and not marker.exists()  # finished meanwhile: never twice


def test_local_executor_runs_one_job_per_visible_gpu(tmp_path, monkeypatch):
    from toolkit.sweep.executors import LocalExecutor

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    executor = LocalExecutor(str(tmp_path / "submitit"))
    assert executor.describe() == "local, one job per GPU (2, 5)" and executor.capacity() == 2
    show = [sys.executable, "-c", "import os; print('gpu', os.environ['CUDA_VISIBLE_DEVICES'])"]
    folders = [str(tmp_path / name) for name in ("a", "b")]
    jobs = executor.submit([(folder, show, {}) for folder in folders])
    assert executor.capacity() == 0
    while not all(state == "done" for state, _, _ in executor.poll(jobs).values()):
        time.sleep(0.1)
    assert executor.capacity() == 2
    assert [open(os.path.join(f, "sweep.log")).read().split("gpu ")[1].split()[0] for f in folders] == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert LocalExecutor(str(tmp_path / "s2"), jobs=3).describe() == "local, 3 job(s) at a time on the CPU"


@pytest.mark.parametrize("scripts,trainer", fast_cases([("cocoop", "CoCoOp"), ("cocoop_plpp", "CoCoOp_PLPP"),
                                                        ("promptsrc", "PromptSRC"), ("promptsrc_plpp", "PromptSRC_PLPP")],
                                                       fast=["cocoop"]))
def test_each_methods_own_base2new_scripts_match_the_plan(recorder, scripts, trainer):
    run_script, calls, data, out = recorder
    for seed in ("1", "2"):
        run_script(f"{scripts}/base2new_train.sh", "eurosat", seed)
        run_script(f"{scripts}/base2new_test.sh", "eurosat", seed)
    assert sorted(calls()) == sorted(planned("base2new", [trainer], ["eurosat"], [1, 2], data, out))


def test_promptsrc_few_shot_script_matches_the_plan_with_its_per_dataset_gpa(recorder):
    run_script, calls, data, out = recorder
    for dataset in ("eurosat", "caltech101"):  # GPA N(45, 5) on EuroSAT, the config's elsewhere
        run_script("promptsrc/few_shot.sh", dataset, "4", SEEDS="1")
    assert sorted(calls()) == sorted(planned("fewshot", ["PromptSRC"], ["eurosat", "caltech101"], [1], data, out, shots=[4]))
    eurosat, caltech = sorted(calls(), key=lambda argv: "eurosat" not in " ".join(argv))
    assert "TRAINER.PROMPTSRC.GPA_MEAN" in eurosat and "TRAINER.PROMPTSRC.GPA_MEAN" not in caltech


DEPT_TRAINERS = ("CoOp_DePT", "CoOp_PLPP_DePT", "CoCoOp_DePT", "KgCoOp_DePT", "MaPLe_DePT", "IVLP_DePT", "PromptSRC_DePT")


@pytest.mark.parametrize("trainer", fast_cases(DEPT_TRAINERS, fast=["CoOp_DePT"]))
def test_dept_base2new_scripts_match_the_plan(recorder, trainer):
    from toolkit.protocols.methods import defaults, scripts_dir

    run_script, calls, data, out = recorder
    row = defaults(trainer)
    folder = scripts_dir(trainer)[len("scripts/"):]
    for step in ("train", "test"):
        if row.seeds_inside:  # KgCoOp's arguments: DATASET [WEIGHT], seeds inside
            run_script(f"{folder}/base2new_{step}{row.script_suffix}.sh", "eurosat", SEEDS="1 2")
        else:
            for seed in ("1", "2"):
                run_script(f"{folder}/base2new_{step}{row.script_suffix}.sh", "eurosat", seed)
    plan = planned("base2new", [trainer], ["eurosat"], [1, 2], data, out)
    assert sorted(calls()) == sorted(plan)
    assert all(f"/{trainer}/{row.base2new}/" in argv[argv.index("--output-dir") + 1] for argv in calls())
