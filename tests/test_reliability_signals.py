"""Runs you can trust, part 3: SIGTERM/SIGUSR1 (what SLURM sends before preemption) save a
resumable checkpoint and exit with status 75, the rerun ending bitwise as an uninterrupted run;
Ctrl-C stops without a traceback; a diverging run stops in one line and never saves bad weights."""
import os
import signal

import pytest
import torch

from reliability import SMALL, one_line, snapshot, train_cli  # noqa: F401  (train_cli: a fixture)
from runs import epoch_losses, final_accuracy, make_dataset, read_log, run_train, train_args
from runtime import status

EPOCHS = ["OPTIM.MAX_EPOCH", "3"]  # 3 steps per epoch


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("data")), "oxford_pets")


def args(data_root, out, opts=(), flags=()):
    return train_args(data_root, out, dataset="oxford_pets", opts=[*SMALL, *EPOCHS, *opts], flags=flags)


@pytest.fixture(scope="module")
def uninterrupted(data_root, tmp_path_factory, tiny_clip_file):
    out = str(tmp_path_factory.mktemp("uninterrupted") / "run")
    os.environ["CLIP_CHECKPOINT"] = tiny_clip_file
    try:
        run_train(args(data_root, out))
    finally:
        del os.environ["CLIP_CHECKPOINT"]
    return out


def signal_after_step(monkeypatch, signum, step):
    """Send ``signum`` to this process right after training step ``step``."""
    from dassl.engine.trainer import TrainerX

    steps = {"n": 0}
    check_step = TrainerX.check_step

    def checked(self, loss_summary):
        check_step(self, loss_summary)
        steps["n"] += 1
        if steps["n"] == step:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(TrainerX, "check_step", checked)


def log_files(out):
    return sorted(f for f in os.listdir(out) if f.startswith("log.txt"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, pytest.param(signal.SIGUSR1, marks=pytest.mark.slow)])  # one path
def test_a_stop_signal_mid_epoch_saves_and_the_rerun_is_bitwise_uninterrupted(data_root, uninterrupted, tmp_path,
                                                                                clip_checkpoint, train_cli, monkeypatch,
                                                                                signum):
    reference = uninterrupted

    out = str(tmp_path / "stopped")
    with monkeypatch.context() as patch:
        signal_after_step(patch, signum, 5)  # epoch 2, batch 2
        line = one_line(train_cli(args(data_root, out)), status.INTERRUPTED)
    checkpoint = os.path.join(out, "prompt_learner", "model-last.pth.tar")
    assert line == (f"Stopped by {signal.Signals(signum).name} at epoch 2, batch 2; {checkpoint} holds it: "
                    "rerun the same command to continue")
    assert not os.path.exists(os.path.join(out, "finished.json"))
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] == 1 and saved["train_state"]["batch"] == 2

    run_train(args(data_root, out))
    expected = torch.load(os.path.join(reference, "prompt_learner", "model.pth.tar-3"), weights_only=True)["state_dict"]
    got = torch.load(os.path.join(out, "prompt_learner", "model.pth.tar-3"), weights_only=True)["state_dict"]
    assert all(torch.equal(expected[key], got[key]) for key in expected)
    with open(os.path.join(out, log_files(out)[-1])) as f:
        resumed_log = f.read()
    assert "Previous epoch: 1 (and 2 batches of the next)" in resumed_log
    # Epoch 2's running average continues from the 2 steps done before the stop.
    assert epoch_losses(resumed_log) == epoch_losses(read_log(reference))[1:]
    assert final_accuracy(resumed_log) == final_accuracy(read_log(reference))


def test_a_stop_signal_before_training_stops_at_once_and_writes_nothing(data_root, tmp_path, clip_checkpoint,
                                                                          train_cli, monkeypatch):
    import dassl.engine

    build_trainer = dassl.engine.build_trainer

    def build_then_signal(cfg):
        trainer = build_trainer(cfg)
        os.kill(os.getpid(), signal.SIGTERM)
        return trainer

    monkeypatch.setattr(dassl.engine, "build_trainer", build_then_signal)
    out = tmp_path / "out"
    line = one_line(train_cli(args(data_root, str(out))), status.INTERRUPTED)
    assert line == "Stopped by SIGTERM outside the training loop (nothing to save); rerun the same command to continue"
    assert not out.exists()


def test_ctrl_c_stops_without_a_traceback(data_root, tmp_path, clip_checkpoint, train_cli, monkeypatch):
    signal_after_step(monkeypatch, signal.SIGINT, 4)
    out = str(tmp_path / "out")
    line = one_line(train_cli(args(data_root, out)), status.CTRL_C)
    assert line == "Stopped by Ctrl-C; rerun the same command to continue from the last saved epoch"
    assert os.path.isfile(os.path.join(out, "prompt_learner", "model-last.pth.tar"))  # epoch 1


def test_a_diverging_run_stops_in_one_line_and_saves_no_bad_weights(data_root, tmp_path, clip_checkpoint, train_cli):
    out = str(tmp_path / "out")
    line = one_line(train_cli(args(data_root, out, opts=["OPTIM.LR", "1e37"])), status.DIVERGED)
    last_good = os.path.join(out, "prompt_learner", "model-last.pth.tar")
    assert line.startswith("error: Training diverged at epoch 2, batch 1: prompt_learner.ctx holds values up to ")
    assert line.endswith(f"nothing of this epoch was saved and the last good checkpoint is {last_good}. Train again "
                         "with a lower OPTIM.LR in a new --output-dir (resuming repeats the same steps)")
    assert sorted(os.listdir(os.path.join(out, "prompt_learner"))) == ["checkpoint", "model-last.pth.tar"]
    assert torch.load(last_good, weights_only=True)["state_dict"]["ctx"].abs().max() < 1
    assert not os.path.exists(os.path.join(out, "finished.json"))


def test_a_nan_loss_stops_in_one_line(data_root, tmp_path, clip_checkpoint, train_cli, monkeypatch):
    from trainers.prompting import PromptTrainer

    compute_loss = PromptTrainer.compute_loss
    monkeypatch.setattr(PromptTrainer, "compute_loss",
                        lambda self, batch: (compute_loss(self, batch)[0] * float("nan"), {}))
    line = one_line(train_cli(args(data_root, str(tmp_path / "out"))), status.DIVERGED)
    assert line.startswith("error: Training diverged at epoch 1, batch 1: the loss is nan; nothing of this epoch was "
                           "saved and no checkpoint was saved.")


def test_evaluating_a_diverged_checkpoint_fails_in_one_line(data_root, tmp_path, clip_checkpoint, train_cli):
    model_dir = str(tmp_path / "model")
    run_train(args(data_root, model_dir, opts=["OPTIM.MAX_EPOCH", "1"]))
    path = os.path.join(model_dir, "prompt_learner", "model.pth.tar-1")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["state_dict"]["ctx"].fill_(2.79e38)  # what round 1 saved with OPTIM.LR 1e37
    torch.save(checkpoint, path)
    before = snapshot(model_dir)

    out = str(tmp_path / "eval")
    line = one_line(train_cli(args(data_root, out, flags=["--eval-only", "--model-dir", model_dir, "--load-epoch", "1"])),
                    status.BAD_INPUT)
    assert line == (f'error: Checkpoint "{path}" is unusable: ctx holds values up to 2.79e+38, so the run that wrote '
                    "it diverged; train again with a lower OPTIM.LR")
    assert not os.path.exists(out) and snapshot(model_dir) == before
