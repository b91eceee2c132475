"""The sweep through submitit's SLURM executor on a real cluster (CI starts a one-node one with
scripts/dev/local_slurm.sh up): job arrays; a job requeued while it runs (``scontrol requeue``,
as a preemption) finishes with the same result as the uninterrupted run; a job sent submitit's
time-limit signal (USR2) checkpoints, requeues itself and finishes."""
import os
import re
import signal
import subprocess
import time

import pytest
import torch

from runs import REPO, final_accuracy, make_dataset, read_log
from toolkit.sweep.executors import slurm_available

pytestmark = pytest.mark.slow

FAST = ["OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
        "DATALOADER.TEST.BATCH_SIZE", "16"]
LAYOUT = "base2new/{part}/{dataset}/shots_16/{method}/vit_b16_ctxv1/seed{seed}"
TARGET = LAYOUT.format(part="train_base", dataset="eurosat", method="PLPP", seed=1)
SIGNALLED = LAYOUT.format(part="train_base", dataset="dtd", method="CoOp", seed=1)


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster():
    """Asked when these tests run, not when they are collected: without a controller ``sinfo``
    waits about 9 s for an answer, which every pytest process would pay at collection."""
    if not slurm_available():
        pytest.skip("no SLURM cluster here; to run these tests: bash scripts/dev/local_slurm.sh up")


def prompt(run_dir):
    """The learned context in the run's last checkpoint."""
    folder = os.path.join(run_dir, "prompt_learner")
    state = torch.load(os.path.join(folder, "model.pth.tar-1"), map_location="cpu", weights_only=False)["state_dict"]
    return state["ctx"]


def test_slurm_sweep_with_a_requeued_job(tmp_path, tiny_clip_file, warm_python):
    data = make_dataset(make_dataset(str(tmp_path / "data"), "eurosat"), "dtd")
    out = str(tmp_path / "sweep")
    env = dict(os.environ, CLIP_CHECKPOINT=tiny_clip_file)
    # The sweep itself in the warm interpreter; its jobs on the cluster in the real one (sys.executable).
    command = [warm_python, "-m", "toolkit.sweep", "base2new", "--methods", "CoOp", "PLPP", "--datasets", "eurosat",
               "dtd", "--seeds", "1", "--root", data, "--output", out, "--cluster", "slurm", "--gpus", "0", "--cpus", "1",
               "--time", "30", "--jobs", "2", "--poll", "0.5", "--opts", *FAST]
    log = open(tmp_path / "sweep.txt", "w+")
    sweep = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    # As soon as each runs: SIGUSR2 to the CoOp dtd training job (SLURM's warning before the time
    # limit, sent to the job's processes as SLURM does: scancel --signal retries into the requeued
    # run), then requeue the PLPP eurosat one (SIGTERM to train.py, back in the queue).
    for run in (SIGNALLED, TARGET):
        job_log = os.path.join(out, run, "sweep.log")
        deadline = time.time() + 300
        while not (os.path.isfile(job_log) and "SLURM job" in open(job_log).read()) and time.time() < deadline:
            time.sleep(0.2)
        job_id, pid = re.search(r"\(SLURM job (\S+), pid (\d+)\)", open(job_log).read()).groups()
        if run == SIGNALLED:
            os.kill(int(pid), signal.SIGUSR2)
        else:
            done = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr

    assert sweep.wait(timeout=600) == 0, open(tmp_path / "sweep.txt").read()[-3000:]
    log.seek(0)
    output = log.read()
    assert "SLURM, the default partition, job arrays of at most 2 running" in output
    for run in (SIGNALLED, TARGET):  # each ran again after its requeue
        assert len(re.findall(r"^==> .*\(SLURM job ", open(os.path.join(out, run, "sweep.log")).read(), re.M)) == 2
    folders = {os.path.join(out, LAYOUT.format(part=p, dataset=d, method=m, seed=1))
               for p in ("train_base", "test_new") for d in ("eurosat", "dtd") for m in ("CoOp", "PLPP")}
    assert {d for d, _, files in os.walk(out) if "finished.json" in files} == folders
    assert "EuroSAT" in output.split("toolkit.results")[-1]

    # The requeued job's result is the uninterrupted run's (the same script command, run by hand).
    by_hand = str(tmp_path / "scripts")
    done = subprocess.run(["bash", os.path.join(REPO, "scripts", "plpp", "base2new_train.sh"), "eurosat", "1"],
                          env=dict(env, DATA=data, OUTPUT=by_hand, PY=warm_python, OPTS=" ".join(FAST)),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert final_accuracy(read_log(os.path.join(out, TARGET))) == final_accuracy(read_log(os.path.join(by_hand, TARGET)))
    assert torch.equal(prompt(os.path.join(out, TARGET)), prompt(os.path.join(by_hand, TARGET)))
