"""The protocol scripts end to end: base-to-new for two seeds on a fixture dataset with the tiny
CLIP, then the results command's table; skip, resume and --force."""
import os
import subprocess
import sys

import pytest

from runs import REPO, make_dataset
from toolkit import results

FAST = "OPTIM.MAX_EPOCH 2 DATALOADER.NUM_WORKERS 0 DATALOADER.TRAIN_X.BATCH_SIZE 8 DATALOADER.TEST.BATCH_SIZE 16"


@pytest.fixture
def script_env(tmp_path, tiny_clip_file):
    env = dict(os.environ, DATA=make_dataset(str(tmp_path / "data")), OUTPUT=str(tmp_path / "output"),
               PY=sys.executable, CLIP_CHECKPOINT=tiny_clip_file, OPTS=FAST)
    env.pop("FORCE", None)
    return env


@pytest.fixture
def training_env(script_env, warm_python):
    """For scripts that train: their runs start in the warm interpreter (testing/warm_python.py)."""
    return dict(script_env, PY=warm_python)


def script(env, name, *args):
    return subprocess.run(["bash", os.path.join(REPO, "scripts", name), *args], env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_base2new_scripts_for_two_seeds_then_results_table(training_env, capsys):
    script_env = training_env
    for seed in ("1", "2"):
        for step in ("base2new_train.sh", "base2new_test.sh"):
            done = script(script_env, f"plpp/{step}", "eurosat", seed)
            assert done.returncode == 0, done.stderr[-2000:]

    layout = os.path.join(script_env["OUTPUT"], "base2new", "{}", "eurosat", "shots_16", "PLPP", "vit_b16_ctxv1", "seed{}")
    for part in ("train_base", "test_new"):
        for seed in (1, 2):
            assert os.path.isfile(os.path.join(layout.format(part, seed), "finished.json"))
    # The test script loaded the last epoch of the run as configured (OPTS: 2), not a fixed number.
    with open(os.path.join(layout.format("test_new", 1), "log.txt")) as f:
        assert "model.pth.tar-2" in f.read()

    assert results.main([script_env["OUTPUT"], "--protocol", "base2new", "--no-plots"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.lower().startswith("eurosat"))
    assert row.count("±") == 2  # Base and New as mean ± std over the two seeds


@pytest.mark.slow
def test_finished_jobs_are_skipped_unfinished_resume_and_force_reruns(training_env):
    script_env = training_env
    first = script(script_env, "coop/base2new_train.sh", "eurosat", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    run_dir = os.path.join(script_env["OUTPUT"], "base2new", "train_base", "eurosat", "shots_16", "CoOp", "vit_b16_ctxv1", "seed1")

    skipped = script(script_env, "coop/base2new_train.sh", "eurosat", "1")
    assert skipped.returncode == 0 and skipped.stdout.startswith(f"skip: {run_dir} is finished")

    os.remove(os.path.join(run_dir, "finished.json"))  # as if the run had been interrupted
    resumed = script(script_env, "coop/base2new_train.sh", "eurosat", "1")
    assert resumed.returncode == 0 and f"resume: {run_dir} holds an unfinished run" in resumed.stdout
    assert os.path.isfile(os.path.join(run_dir, "finished.json"))

    forced = script(script_env, "coop/base2new_train.sh", "eurosat", "1", "--force")
    assert forced.returncode == 0 and "force: previous results kept in" in forced.stdout
    kept = [name for name in os.listdir(os.path.dirname(run_dir)) if name.startswith("seed1.replaced-")]
    assert len(kept) == 1 and os.path.isfile(os.path.join(os.path.dirname(run_dir), kept[0], "log.txt"))


def test_scripts_explain_missing_inputs(script_env):
    unset = dict(script_env)
    del unset["DATA"]
    done = script(unset, "plpp/base2new_train.sh", "eurosat", "1")
    assert done.returncode == 2 and "DATA is not set" in done.stderr

    done = script(script_env, "plpp/base2new_train.sh", "eurosat")
    assert done.returncode == 2 and "usage: bash" in done.stderr and "DATASET SEED" in done.stderr

    done = script(script_env, "plpp/base2new_train.sh", "eurosatt", "1")
    assert done.returncode == 2 and "dataset config not found" in done.stderr and "eurosat" in done.stderr

    done = script(script_env, "plpp/base2new_test.sh", "eurosat", "1")
    assert done.returncode == 2 and "first run: bash scripts/plpp/base2new_train.sh eurosat 1" in done.stderr
