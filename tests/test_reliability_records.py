"""Runs you can trust, part 2: a call that fails changes nothing in its output folder and says
why in one line with train.py's exit status; one run per folder; evaluations and resumes never
rewrite a training run's records; a full disk, an unreadable checkpoint or a read-only feature
cache cost no traceback. Calls go through train.py's entry point in this process (its
exit status and stderr are what a shell sees), so they cost no torch import."""
import errno
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from reliability import SMALL, FullDisk, one_line, snapshot, train_cli  # noqa: F401  (train_cli: a fixture)
from runs import REPO, make_dataset, run_train, train_args
from runtime import status


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("data")), "oxford_pets")


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory, tiny_clip_file):
    """A finished one-epoch CoOp run."""
    out = str(tmp_path_factory.mktemp("trained") / "run")
    os.environ["CLIP_CHECKPOINT"] = tiny_clip_file
    try:
        run_train(train_args(data_root, out, dataset="oxford_pets", opts=[*SMALL, "OPTIM.MAX_EPOCH", "1"]))
    finally:
        del os.environ["CLIP_CHECKPOINT"]
    return out


@pytest.fixture
def run_folder(trained, tmp_path):
    """A copy of the trained run to point calls at, and its snapshot before them."""
    out = str(tmp_path / "run")
    shutil.copytree(trained, out)
    return out, snapshot(out)


def args(data_root, out, opts=(), flags=()):
    return train_args(data_root, out, dataset="oxford_pets", opts=[*SMALL, "OPTIM.MAX_EPOCH", "1", *opts], flags=flags)


def test_a_failing_call_changes_nothing_in_a_run_folder_nor_creates_a_new_one(data_root, run_folder, tmp_path,
                                                                                 train_cli):
    out, before = run_folder
    done = train_cli(args(data_root, out), CLIP_CHECKPOINT=str(tmp_path / "missing.pt"))
    assert one_line(done, status.BAD_INPUT).startswith(f"error: CLIP checkpoint not found: {tmp_path / 'missing.pt'}")
    assert snapshot(out) == before

    fresh = tmp_path / "new" / "run"
    done = train_cli(args(data_root, str(fresh)), CLIP_CHECKPOINT=str(tmp_path / "missing.pt"))
    assert done[0] == status.BAD_INPUT and not (tmp_path / "new").exists()


def test_evaluation_into_a_training_folder_is_refused(data_root, run_folder, tiny_clip_file, train_cli):
    out, before = run_folder
    done = train_cli(args(data_root, out, flags=["--eval-only", "--model-dir", out, "--load-epoch", "1"]),
                     CLIP_CHECKPOINT=tiny_clip_file)
    assert one_line(done, status.BAD_INPUT) == (
        f"error: --output-dir {out} holds a training run; give the evaluation a folder of its own "
        f"(e.g. --output-dir {out}_eval), so the training records stay as they are")
    assert snapshot(out) == before


def test_evaluation_records_into_its_own_folder(data_root, run_folder, tmp_path, clip_checkpoint):
    out, before = run_folder
    evaluation = str(tmp_path / "eval")
    run_train(args(data_root, evaluation, flags=["--eval-only", "--model-dir", out, "--load-epoch", "1"]))
    assert snapshot(out) == before
    with open(os.path.join(evaluation, "environment.json")) as f:
        assert json.load(f)["mode"] == "eval"
    with open(os.path.join(evaluation, "finished.json")) as f:
        assert json.load(f)["mode"] == "eval"


def test_resuming_with_other_settings_is_refused_with_the_differences(data_root, run_folder, tiny_clip_file, train_cli):
    out, before = run_folder
    done = train_cli(args(data_root, out, opts=["OPTIM.LR", "0.5", "TRAINER.COOP.N_CTX", "8"]), CLIP_CHECKPOINT=tiny_clip_file)
    line = one_line(done, status.BAD_INPUT)
    assert line.startswith(f"error: {out} holds a run trained with other settings (OPTIM.LR: 0.002 -> 0.5; "
                           "TRAINER.COOP.N_CTX: 4 -> 8); rerun with its settings"), line
    assert line.endswith("or start over in a new --output-dir")
    assert snapshot(out) == before


def test_resuming_with_only_harmless_changes_appends_to_the_record(data_root, run_folder, clip_checkpoint):
    out, before = run_folder
    run_train(args(data_root, out, opts=["DATALOADER.NUM_WORKERS", "1", "TRAIN.PRINT_FREQ", "7"]))
    after = snapshot(out)
    assert after["config.yaml"] == before["config.yaml"]  # the settings it trained with
    with open(os.path.join(out, "environment.json")) as f:
        record = json.load(f)
    assert record["mode"] == "train" and len(record["resumed"]) == 1


def test_a_second_run_into_a_busy_folder_fails_at_once_naming_the_holder(data_root, run_folder, tiny_clip_file, train_cli):
    from runtime.lock import folder_lock

    out, before = run_folder
    with folder_lock(out):
        done = train_cli(args(data_root, out), CLIP_CHECKPOINT=tiny_clip_file)
    line = one_line(done, status.BUSY)
    assert line.startswith(f"error: {out} is in use by another run (PID {os.getpid()} on {socket.gethostname()}, since ")
    assert snapshot(out) == before  # the lock file went with its holder


def test_the_lock_is_released_on_any_exit_and_blocks_while_held(tmp_path):
    from runtime.lock import FolderBusy, folder_lock

    out = str(tmp_path / "a" / "b")
    with pytest.raises(ZeroDivisionError):
        with folder_lock(out):
            with pytest.raises(FolderBusy):
                with folder_lock(out):
                    pass
            1 / 0
    assert not (tmp_path / "a").exists()  # created for the run, left empty: removed
    # A holder killed with SIGKILL: the kernel releases its lock, the stale file does not block.
    killed = subprocess.run([sys.executable, "-c", "import os, signal, sys; sys.path.insert(0, sys.argv[1]); "
                             "from runtime.lock import folder_lock; l = folder_lock(sys.argv[2]); l.__enter__(); "
                             "os.kill(os.getpid(), signal.SIGKILL)", REPO, out])
    assert killed.returncode == -9 and os.path.exists(os.path.join(out, ".run.lock"))
    with folder_lock(out):
        pass


@pytest.mark.parametrize("case", ["missing resume", "flag after overrides", "malformed yaml", "truncated split"])
def test_bad_input_is_one_line_naming_the_file_and_what_to_do(data_root, tmp_path, tiny_clip_file, train_cli, case):
    out = str(tmp_path / "out")
    argv = args(data_root, out)
    if case == "missing resume":
        argv = args(data_root, out, flags=["--resume", str(tmp_path / "typo")])
        expected = f"error: --resume {tmp_path / 'typo'} does not exist; give the output folder of the run to resume"
    elif case == "flag after overrides":
        argv = argv + ["--eval-only"]
        expected = ("error: --eval-only comes after the KEY VALUE config overrides, where it would be read as a "
                    "config key; put train.py's flags before the overrides")
    elif case == "malformed yaml":
        config = tmp_path / "broken.yaml"
        config.write_text("DATASET:\n  NAME: OxfordPets\n  NUM_SHOTS: [1, 2\n")
        argv[argv.index("--dataset-config-file") + 1] = str(config)
        expected = f"error: Config file {config} is not valid YAML at line 4, column 1 ("
    else:
        root = str(tmp_path / "data")
        shutil.copytree(data_root, root)
        split = os.path.join(root, "oxford_pets", "split_zhou_OxfordPets.json")
        with open(split) as f:
            text = f.read()
        with open(split, "w") as f:
            f.write(text[:200])
        argv[argv.index("--root") + 1] = root
        expected = f"error: {split} is not valid JSON (Expecting "
    line = one_line(train_cli(argv, CLIP_CHECKPOINT=tiny_clip_file), status.BAD_INPUT)
    assert line.startswith(expected), line
    if case == "truncated split":
        assert "download it again, or delete it" in line
    assert not os.path.exists(out)


# A full disk and unreadable checkpoints are problems the user can fix: one line, exit status 2,
# and the checkpoints already saved stay as they were.


def test_a_full_disk_during_a_checkpoint_save_is_one_line_and_keeps_the_saved_ones(data_root, tmp_path, monkeypatch,
                                                                                      tiny_clip_file, train_cli):
    from dassl.utils import torchtools

    def disk_full_at_epoch_2(path, mode="r", *rest, **kwargs):
        if str(path).endswith("model.pth.tar-2.tmp"):
            return FullDisk(path, "w")
        return open(path, mode, *rest, **kwargs)

    monkeypatch.setattr(torchtools, "open", disk_full_at_epoch_2, raising=False)
    out = tmp_path / "run"
    line = one_line(train_cli(args(data_root, str(out), opts=["OPTIM.MAX_EPOCH", "2"]), CLIP_CHECKPOINT=tiny_clip_file), status.BAD_INPUT)
    folder = out / "prompt_learner"
    assert line == (f'error: Cannot save "{folder / "model.pth.tar-2"}" (No space left on device); free space on '
                    f"the disk of {folder} and rerun the same command (it continues from the last checkpoint saved)")
    assert not list(out.rglob("*.tmp")) and not (out / "finished.json").exists()
    assert torchtools.load_checkpoint(str(folder / "model-last.pth.tar"))["epoch"] == 1  # the resume point of epoch 1


@pytest.mark.parametrize("damage", ["truncated", "not a checkpoint"])
def test_an_unreadable_checkpoint_to_evaluate_is_one_line(data_root, trained, tmp_path, tiny_clip_file, train_cli, damage):
    trained = shutil.copytree(trained, str(tmp_path / "run"))
    checkpoint = os.path.join(trained, "prompt_learner", "model.pth.tar-1")
    with open(checkpoint, "rb") as f:
        data = f.read()
    with open(checkpoint, "wb") as f:
        f.write(data[: len(data) // 2] if damage == "truncated" else b"not a torch file\n" * 10)
    before = snapshot(trained)
    evaluation = str(tmp_path / "eval")
    done = train_cli(args(data_root, evaluation, flags=["--eval-only", "--model-dir", trained, "--load-epoch", "1"]),
                     CLIP_CHECKPOINT=tiny_clip_file)
    line = one_line(done, status.BAD_INPUT)
    assert line.startswith(f'error: Cannot read checkpoint "{checkpoint}" (' if damage == "truncated"
                           else f'error: Cannot load "{checkpoint}" with weights_only=True'), line
    assert snapshot(trained) == before


def test_a_read_only_feature_cache_folder_costs_a_training_run_nothing(data_root, tmp_path, monkeypatch, clip_checkpoint):
    from trainers import feature_cache

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))

    monkeypatch.setattr(feature_cache.tempfile, "mkstemp", read_only)
    monkeypatch.setenv("PLPP_FEATURE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    run_train(args(data_root, str(out)))
    assert (out / "finished.json").exists()
    assert (out / "log.txt").read_text().count("Note: cannot write the image-feature cache") == 1


def test_the_results_are_in_log_txt_on_disk_before_the_run_is_marked_finished(data_root, trained, tmp_path,
                                                                              clip_checkpoint, monkeypatch):
    """A run stopped right after its finished.json must not count as finished without its accuracy
    (the results read it from log.txt, which the stdout tee writes through a buffer)."""
    from runtime import records

    seen = {}
    write = records._write_atomically

    def marking(path, text):
        if path.endswith(records.FINISHED_MARKER):
            with open(os.path.join(os.path.dirname(path), "log.txt")) as f:
                seen[os.path.dirname(path)] = "* accuracy:" in f.read()
        write(path, text)

    monkeypatch.setattr(records, "_write_atomically", marking)
    trained_now, evaluated = str(tmp_path / "train"), str(tmp_path / "eval")
    run_train(args(data_root, trained_now))
    run_train(args(data_root, evaluated, flags=["--eval-only", "--model-dir", trained, "--load-epoch", "1"]))
    assert seen == {trained_now: True, evaluated: True}
