"""A base-to-new sweep of CoOp and PLPP on two fixture datasets for two seeds through the local
executor (tiny CLIP, one epoch): stopped mid-way, rerun, it finishes only the missing jobs and
ends with the scripts' folders, the scripts' accuracies and the results table."""
import os
import re
import signal
import subprocess
import time

import pytest

from runs import REPO, final_accuracy, make_dataset, read_log

FAST = ["OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
        "DATALOADER.TEST.BATCH_SIZE", "16"]
LAYOUT = "base2new/{part}/{dataset}/shots_16/{method}/vit_b16_ctxv1/seed{seed}"


def expected_folders(out):
    """The folders the protocol scripts make, written out independently of toolkit/protocols."""
    return {os.path.join(out, LAYOUT.format(part=part, dataset=d, method=m, seed=s))
            for part in ("train_base", "test_new") for m in ("CoOp", "PLPP") for d in ("eurosat", "dtd") for s in (1, 2)}


def finished(out):
    return {d for d, _, files in os.walk(out) if "finished.json" in files}


def sweep_command(data, out, python):
    return [python, "-m", "toolkit.sweep", "--python", python, "base2new", "--methods", "CoOp", "PLPP", "--datasets", "eurosat",
            "dtd", "--seeds", "1", "2", "--root", data, "--output", out, "--jobs", "2", "--poll", "0.3", "--opts", *FAST]


@pytest.mark.slow
def test_local_sweep_stopped_and_rerun_equals_the_scripts(tmp_path, tiny_clip_file, warm_python):
    data = make_dataset(make_dataset(str(tmp_path / "data"), "eurosat"), "dtd")
    out = str(tmp_path / "sweep")
    env = dict(os.environ, CLIP_CHECKPOINT=tiny_clip_file)
    log = open(tmp_path / "first.txt", "w+")
    first = subprocess.Popen(sweep_command(data, out, warm_python), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    while len(finished(out)) < 3 and first.poll() is None:
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=300) == 75  # INTERRUPTED: stopped, rerun to continue
    log.seek(0)
    assert "stopped; rerun the same command to continue" in log.read()
    done_first = finished(out)
    assert 3 <= len(done_first) < 16
    stamps = {d: os.path.getmtime(os.path.join(d, "finished.json")) for d in done_first}

    second = subprocess.run(sweep_command(data, out, warm_python), cwd=REPO, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    plan = second.stdout.split("running ")[0]
    assert plan.count(" finished ") == len(done_first)
    submitted = re.findall(r"\] queued\s+(.*)", second.stdout)
    assert len(submitted) == 16 - len(done_first)  # only the missing jobs ran
    assert {d: os.path.getmtime(os.path.join(d, "finished.json")) for d in done_first} == stamps
    assert finished(out) == expected_folders(out)

    # The scripts by hand make the same run (same command, same accuracy) ...
    by_hand = str(tmp_path / "scripts")
    script_env = dict(env, DATA=data, OUTPUT=by_hand, PY=warm_python, OPTS=" ".join(FAST))
    for step in ("base2new_train.sh", "base2new_test.sh"):
        done = subprocess.run(["bash", os.path.join(REPO, "scripts", "plpp", step), "dtd", "2"], env=script_env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    for part in ("train_base", "test_new"):
        run = LAYOUT.format(part=part, dataset="dtd", method="PLPP", seed=2)
        assert final_accuracy(read_log(os.path.join(out, run))) == final_accuracy(read_log(os.path.join(by_hand, run)))
    # ... and the sweep ends with the results table: both methods, both datasets, Base and New over two seeds.
    table = second.stdout.split("toolkit.results")[-1].split("published vs ours")[0]  # ours, not the paper's
    for method in ("CoOp", "PLPP"):
        assert f"{method}/vit_b16_ctxv1" in table
    for name in ("EuroSAT", "DTD"):
        rows = [line for line in table.splitlines() if line.startswith(name)]
        assert rows and all(row.count("±") == 2 for row in rows)
    assert os.path.isfile(os.path.join(out, "results", "results.csv"))
