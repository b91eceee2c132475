"""Runs you can trust, part 1: a run killed at any moment (SIGKILL mid-epoch, during a checkpoint
write, before the first checkpoint) and rerun with the same command ends bitwise where the
uninterrupted run ends, for every trainer; resume takes the newest checkpoint that loads."""
import os
import subprocess

import pytest
import torch

from runs import REPO, epoch_losses, final_accuracy, make_dataset, read_log, train_args
from testing.tiny_clip import save_tiny_clip

EPOCHS = 3  # 12 training images (2 shots x 6 classes), batches of 4: 3 steps per epoch
SMALL = ["DATALOADER.TRAIN_X.BATCH_SIZE", "4", "DATALOADER.TEST.BATCH_SIZE", "24", "OPTIM.MAX_EPOCH", str(EPOCHS),
         "DATASET.NUM_SHOTS", "2"]
DEEP = 3  # blocks of the tiny CLIP for deep-prompt trainers
IVLP_DEPTHS = ["TRAINER.IVLP.PROMPT_DEPTH_TEXT", str(DEEP), "TRAINER.IVLP.PROMPT_DEPTH_VISION", str(DEEP)]

# One line per trainer: (trainer, config, its own overrides, CLIP blocks). A trainer whose
# config is not in configs/trainers yet is skipped.
TRAINERS = {
    "CoOp": ("CoOp", "vit_b16_ep50", ["TRAINER.COOP.N_CTX", "4"], 1),
    "PLPP": ("PLPP", "vit_b16_ep50", ["TRAINER.COOP.N_CTX", "4"], 1),
    "CoOp-CSC": ("CoOp", "vit_b16_ep50", ["TRAINER.COOP.N_CTX", "4", "TRAINER.COOP.CSC", "True"], 1),
    "KgCoOp": ("KgCoOp", "vit_b16_ep100_ctxv1", [], 1),
    "CoCoOp": ("CoCoOp", "vit_b16_c4_ep10_batch1_ctxv1", [], 1),
    "MaPLe": ("MaPLe", "vit_b16_c2_ep5_batch4_2ctx", ["TRAINER.MAPLE.PROMPT_DEPTH", "3"], DEEP),
    "IVLP": ("IVLP", "vit_b16_c2_ep20_batch4_4+4ctx", IVLP_DEPTHS, DEEP),
    "PromptSRC": ("PromptSRC", "vit_b16_c2_ep20_batch4_4+4ctx",
                  ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "3", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "3"], DEEP),
    # Plug-in trainers: PLPP's regulariser on a deep host; DePT's head, a model of its own (own
    # optimiser and scheduler, own checkpoint folder), with PLPP on CoOp (on the base classes, as
    # DePT's head needs; 4 shots of 3 classes keep 3 steps per epoch).
    "IVLP_PLPP": ("IVLP_PLPP", "vit_b16_c2_ep20_batch4_4+4ctx", IVLP_DEPTHS, DEEP),
    "CoOp_PLPP_DePT": ("CoOp_PLPP_DePT", "vit_b16_ep10_bs4_lr35",
                       ["TRAINER.COOP.N_CTX", "4", "DATASET.SUBSAMPLE_CLASSES", "base", "DATASET.NUM_SHOTS", "4"], 1),
}
# The interrupted runs, in order, each a rerun of the same command: killed mid-epoch 1 (nothing
# saved yet), killed while writing the very first checkpoint, killed mid-epoch 2, killed while
# writing the final checkpoint; the fifth run finishes. Saving, resuming and replaying are the
# engine's (one code path for every trainer), so CoOp goes through all of them; every other
# trainer is killed mid-epoch 2 and finishes, which checks that its own state (prompts, deep
# prompts, PromptSRC's running prompt average, PLPP's regulariser) is saved and restored.
KILLS = ["batch:2", "save:1", "batch:5", "save:2", ""]
KILLS_PER_TRAINER = ["batch:5", ""]


def trainer_params():
    for name, (trainer, config, opts, layers) in TRAINERS.items():
        present = os.path.isfile(os.path.join(REPO, "configs", "trainers", trainer, f"{config}.yaml"))
        yield pytest.param(trainer, config, opts, layers, KILLS if name == "CoOp" else KILLS_PER_TRAINER, id=name,
                           marks=[pytest.mark.slow] + ([] if present else [pytest.mark.skip(reason=f"{trainer} has not landed")]))


def kill_run(argv, kill_at: str, clip: str, python: str) -> subprocess.CompletedProcess:
    """train.py through tests/kill_points.py in a new process (``python``: the warm interpreter)."""
    env = dict(os.environ, CLIP_CHECKPOINT=clip, KILL_AT=kill_at, PLPP_DEBUG="")
    return subprocess.run([python, os.path.join(REPO, "tests", "kill_points.py"), *argv], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=600)


def final_state(out: str, model: str = "") -> dict:
    folders = [model] if model else [f for f in os.listdir(out) if os.path.isfile(os.path.join(out, f, f"model.pth.tar-{EPOCHS}"))]
    assert folders, os.listdir(out)
    return {f"{folder}/{key}": value for folder in folders for key, value in
            torch.load(os.path.join(out, folder, f"model.pth.tar-{EPOCHS}"), weights_only=True)["state_dict"].items()}


def newest_log(out: str) -> str:
    logs = sorted((f for f in os.listdir(out) if f.startswith("log.txt")), key=lambda f: (f != "log.txt", f))
    with open(os.path.join(out, logs[-1])) as f:
        return f.read()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("data")), "oxford_pets")


@pytest.mark.parametrize("trainer,config,opts,layers,kills", list(trainer_params()))
def test_a_run_killed_anywhere_ends_bitwise_as_the_uninterrupted_one(data_root, tmp_path, monkeypatch, warm_python,
                                                                       trainer, config, opts, layers, kills):
    clip = save_tiny_clip(str(tmp_path / "clip.pt"), fmt="jit" if layers == 1 else "state_dict", layers=layers)
    monkeypatch.setenv("CLIP_CHECKPOINT", clip)

    def args(out):
        return train_args(data_root, out, trainer=trainer, dataset="oxford_pets", config=config, opts=[*SMALL, *opts])

    reference = str(tmp_path / "uninterrupted")
    # A subprocess like the interrupted runs: the same torch thread count (the reduction order of
    # large CPU matmuls follows it), whatever earlier tests did to this process.
    assert kill_run(args(reference), "", clip, warm_python).returncode == 0
    reference_log = read_log(reference)

    out = str(tmp_path / "interrupted")
    for kill_at in kills:
        done = kill_run(args(out), kill_at, clip, warm_python)
        assert done.returncode == (-9 if kill_at else 0), (kill_at, done.stderr[-3000:])
        if kill_at.startswith("save"):  # killed mid-write: a partial file, the older checkpoints intact
            assert any(f.endswith(".tmp") for _, _, files in os.walk(out) for f in files)

    expected, got = final_state(reference), final_state(out)
    assert set(expected) == set(got)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    log = newest_log(out)
    assert final_accuracy(log) == final_accuracy(reference_log)
    # The last run resumed from the last saved epoch: the same losses from there on as uninterrupted.
    resumed_from = 2 if "save:2" in kills else 1
    assert f"Previous epoch: {resumed_from}" in log
    assert epoch_losses(log) == epoch_losses(reference_log)[resumed_from:]


# ---- which checkpoint a rerun resumes from ---------------------------------------------------

@pytest.fixture(scope="module")
def two_epoch_folder(data_root, tmp_path_factory, tiny_clip_file, warm_python):
    """A CoOp folder after 2 of 3 epochs saved as numbered checkpoints (model.pth.tar-1, -2)."""
    out = str(tmp_path_factory.mktemp("two") / "run")
    done = kill_run(train_args(data_root, out, dataset="oxford_pets", opts=[*SMALL, "TRAINER.COOP.N_CTX", "4",
                                                                           "TRAIN.CHECKPOINT_FREQ", "1"]),
                    "batch:7", tiny_clip_file, warm_python)
    assert done.returncode == -9, done.stderr[-2000:]
    assert sorted(os.listdir(os.path.join(out, "prompt_learner"))) == ["checkpoint", "model.pth.tar-1", "model.pth.tar-2"]
    return out


def copy_folder(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


def resume_line(data_root, out, capsys):
    from dassl.engine import build_trainer
    from runtime import cli

    args = cli.parse_args(train_args(data_root, out, dataset="oxford_pets",
                                     opts=[*SMALL, "TRAINER.COOP.N_CTX", "4", "TRAIN.CHECKPOINT_FREQ", "1"]))
    trainer = build_trainer(cli.setup_cfg(args))
    capsys.readouterr()
    start = trainer.resume_model_if_exist(out)
    return start, capsys.readouterr().out


@pytest.mark.slow  # the folder comes from a killed train.py (a subprocess)
@pytest.mark.parametrize("damage,start,skipped", [
    ("empty pointer", 2, ""),
    ("pointer to a missing file", 2, ""),
    ("truncated newest", 1, "model.pth.tar-2 ("),
    ("non-finite newest", 1, "model.pth.tar-2 (ctx holds NaN"),
    ("partial tmp", 2, ""),
    ("all unreadable", 0, "model.pth.tar-1 ("),
])
def test_resume_takes_the_newest_checkpoint_that_loads(data_root, two_epoch_folder, tmp_path, clip_checkpoint, capsys,
                                                       damage, start, skipped):
    out = copy_folder(two_epoch_folder, str(tmp_path / "run"))
    folder = os.path.join(out, "prompt_learner")
    pointer, newest = os.path.join(folder, "checkpoint"), os.path.join(folder, "model.pth.tar-2")
    if damage == "empty pointer":
        open(pointer, "w").close()
    elif damage == "pointer to a missing file":
        with open(pointer, "w") as f:
            f.write("model.pth.tar-9\n")
    elif damage in ("truncated newest", "all unreadable"):
        for path in [newest] + ([os.path.join(folder, "model.pth.tar-1")] if damage == "all unreadable" else []):
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
    elif damage == "non-finite newest":
        checkpoint = torch.load(newest, weights_only=True)
        checkpoint["state_dict"]["ctx"][0, 0] = float("nan")
        torch.save(checkpoint, newest)
    else:
        with open(os.path.join(folder, "model.pth.tar-3.tmp"), "wb") as f:
            f.write(b"partial")

    resumed_at, out_text = resume_line(data_root, out, capsys)
    assert resumed_at == start
    skip_lines = [line for line in out_text.splitlines() if line.startswith("Skipped checkpoints")]
    if skipped:
        assert len(skip_lines) == 1 and skipped in skip_lines[0], out_text
    else:
        assert not skip_lines, out_text
    if start == 0:
        assert f"No checkpoint in {out} loads; train from scratch" in out_text


@pytest.mark.slow
def test_a_checkpoint_without_rng_state_resumes_best_effort_in_one_line(data_root, two_epoch_folder, tmp_path,
                                                                          clip_checkpoint, capsys):
    out = copy_folder(two_epoch_folder, str(tmp_path / "run"))
    for epoch in (1, 2):  # as real Dassl (and round 1) wrote them: no train_state
        path = os.path.join(out, "prompt_learner", f"model.pth.tar-{epoch}")
        checkpoint = torch.load(path, weights_only=True)
        del checkpoint["train_state"]
        torch.save(checkpoint, path)
    resumed_at, text = resume_line(data_root, out, capsys)
    assert resumed_at == 2
    notes = [line for line in text.splitlines() if "holds no random-number state" in line]
    assert len(notes) == 1 and "resuming is best effort" in notes[0]
