"""dassl.engine: the TrainerX loop end to end with a tiny registered trainer (TinyProbe)."""
import os
import re
import sys

import pytest
import torch
import torch.nn as nn

from dassl.engine import TrainerBase, TrainerX, build_trainer
from dassl.engine.summary_writer import NullWriter, open_summary_writer
from dassl.utils import AverageMeter, MetricMeter
from dassl_tiny import tiny_cfg

# LR per epoch for E = 4, LR 0.002, one constant warmup epoch at 1e-5, from the contract's
# formula: 1e-5, LR, then LR * (1 + cos(pi * (k - 2) / 4)) / 2 for k = 3, 4.
EXPECTED_LRS = [1e-5, 0.002, 0.0017071067811865474, 0.001]
CHECKPOINT_KEYS = {"state_dict", "epoch", "optimizer", "scheduler", "val_result", "train_state"}
PROGRESS_LINE = re.compile(
    r"epoch \[(\d+)/4\] batch \[(\d+)/3\] time \d+\.\d{3} \(\d+\.\d{3}\) data \d+\.\d{3} \(\d+\.\d{3}\) "
    r"loss \d+\.\d{4} \(\d+\.\d{4}\) acc \d+\.\d{4} \(\d+\.\d{4}\) lr (\d\.\d{4}e-\d\d) eta \d+:\d\d:\d\d"
)


class Interrupt(Exception):
    pass


@pytest.fixture
def paths(tmp_path):
    return str(tmp_path / "images"), str(tmp_path / "out")


def progress(out):
    return [PROGRESS_LINE.fullmatch(line).groups() for line in out.splitlines() if line.startswith("epoch [")]


def interrupt_after_epoch(trainer, epoch_index):
    """Make ``trainer`` stop with Interrupt right after ``epoch_index`` finished (and saved)."""
    finish_epoch = trainer.after_epoch

    def after_epoch():
        finish_epoch()
        if trainer.epoch == epoch_index:
            raise Interrupt

    trainer.after_epoch = after_epoch


def test_train_prints_progress_saves_and_tests(paths, capsys):
    trainer = build_trainer(tiny_cfg(*paths))
    trainer.train()
    out = capsys.readouterr().out
    out_dir = paths[1]

    assert out.startswith("Loading trainer: TinyProbe\nLoading dataset: TinyImages\n")
    assert "No checkpoint found, train from scratch\n" in out
    assert trainer.epoch_lrs == pytest.approx(EXPECTED_LRS, rel=1e-12)
    # PRINT_FREQ 2 with 3 batches per epoch: one line per epoch, at batch 2, with that epoch's LR.
    assert progress(out) == [(str(e + 1), "2", f"{lr:.4e}") for e, lr in enumerate(EXPECTED_LRS)]

    # Only the last epoch is saved by default; the pointer file names it.
    assert sorted(os.listdir(os.path.join(out_dir, "probe"))) == ["checkpoint", "model.pth.tar-4"]
    with open(os.path.join(out_dir, "probe", "checkpoint")) as f:
        assert f.read() == "model.pth.tar-4\n"
    checkpoint = torch.load(os.path.join(out_dir, "probe", "model.pth.tar-4"), weights_only=True)
    assert set(checkpoint) == CHECKPOINT_KEYS
    assert checkpoint["epoch"] == 4 and checkpoint["val_result"] is None
    assert set(checkpoint["state_dict"]) == {"1.weight", "1.bias"}
    # The scheduler stepped after the last epoch too: the stored LR is the one for k = 5.
    assert checkpoint["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.00029289321881345254)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(os.path.join(out_dir, "tensorboard")))

    tail = out[out.rindex("Checkpoint saved to") :].splitlines()
    assert tail[:5] == [
        f"Checkpoint saved to {os.path.join(out_dir, 'probe', 'model.pth.tar-4')}",
        "Finish training",
        "Deploy the last-epoch model",
        "Evaluate on the *test* set",
        "=> result",
    ]
    assert re.fullmatch(r"Elapsed: \d+:\d\d:\d\d", tail[-1])

    # Training again into the finished folder resumes at the end: straight to the final test.
    build_trainer(tiny_cfg(*paths)).train()
    out = capsys.readouterr().out
    assert f"Found checkpoint at {out_dir} (will resume training)\n" in out and "Previous epoch: 4\n" in out
    assert progress(out) == [] and "Finish training\n" in out


def test_resume_mid_run_continues_at_the_next_epoch_with_the_right_lr(paths, capsys):
    opts = ["TRAIN.CHECKPOINT_FREQ", 1, "TRAIN.PRINT_FREQ", 10]
    first = build_trainer(tiny_cfg(*paths, opts))
    interrupt_after_epoch(first, 1)
    with pytest.raises(Interrupt):
        first.train()
    assert first.epoch_lrs == pytest.approx(EXPECTED_LRS[:2], rel=1e-12)
    capsys.readouterr()

    resumed = build_trainer(tiny_cfg(*paths, opts))
    resumed.train()
    out = capsys.readouterr().out
    assert f'Loading checkpoint from "{os.path.join(paths[1], "probe", "model.pth.tar-2")}"' in out
    assert "Loaded optimizer\nLoaded scheduler\nPrevious epoch: 2\n" in out
    assert resumed.epoch_lrs == pytest.approx(EXPECTED_LRS[2:], rel=1e-12)
    # PRINT_FREQ above the number of batches prints every batch.
    assert [line[:2] for line in progress(out)] == [(e, b) for e in ("3", "4") for b in ("1", "2", "3")]
    checkpoint = torch.load(os.path.join(paths[1], "probe", "model.pth.tar-4"), weights_only=True)
    assert checkpoint["epoch"] == 4


def test_interrupted_run_resumes_from_its_last_epoch_with_default_checkpoint_freq(paths, capsys):
    first = build_trainer(tiny_cfg(*paths))  # CHECKPOINT_FREQ 0: only the last epoch is numbered
    interrupt_after_epoch(first, 1)
    with pytest.raises(Interrupt):
        first.train()
    probe_dir = os.path.join(paths[1], "probe")
    assert sorted(os.listdir(probe_dir)) == ["checkpoint", "model-last.pth.tar"]
    capsys.readouterr()

    resumed = build_trainer(tiny_cfg(*paths))
    resumed.train()
    out = capsys.readouterr().out
    assert "Previous epoch: 2\n" in out
    assert resumed.epoch_lrs == pytest.approx(EXPECTED_LRS[2:], rel=1e-12)
    # Finished: Dassl's layout, the resume checkpoint gone.
    assert sorted(os.listdir(probe_dir)) == ["checkpoint", "model.pth.tar-4"]


def test_resume_from_a_real_dassl_checkpoint(paths, capsys):
    first = build_trainer(tiny_cfg(*paths, ["TRAIN.CHECKPOINT_FREQ", 1]))
    interrupt_after_epoch(first, 1)
    with pytest.raises(Interrupt):
        first.train()
    # Rewrite epoch 2 as real Dassl stores it: the inner scheduler object under "successor".
    path = os.path.join(paths[1], "probe", "model.pth.tar-2")
    checkpoint = torch.load(path, weights_only=True)
    sched_state = checkpoint["scheduler"]
    successor_state = sched_state.pop("successor_state")
    first.sched.successor.load_state_dict(successor_state)
    sched_state.update(successor=first.sched.successor, verbose=False)
    torch.save(checkpoint, path)
    capsys.readouterr()

    resumed = build_trainer(tiny_cfg(*paths))
    resumed.train()
    assert "was written by real Dassl" in capsys.readouterr().out
    assert resumed.epoch_lrs == pytest.approx(EXPECTED_LRS[2:], rel=1e-12)


def test_eval_only_loads_an_epoch_and_tests(paths, capsys):
    build_trainer(tiny_cfg(*paths)).train()
    capsys.readouterr()

    trainer = build_trainer(tiny_cfg(*paths))
    trainer.load_model(paths[1], epoch=4)
    accuracy = trainer.test()
    out = capsys.readouterr().out
    assert f"Load {os.path.join(paths[1], 'probe', 'model.pth.tar-4')} to probe (epoch=4)\n" in out
    assert isinstance(accuracy, float) and f"* accuracy: {accuracy:.1f}%\n" in out
    assert trainer._writer is None  # no training, no tensorboard

    missing = os.path.join(paths[1], "probe", "model.pth.tar-9")
    listing = f'No file at "{missing}"; "{os.path.dirname(missing)}" holds: checkpoint, model.pth.tar-4'
    with pytest.raises(FileNotFoundError, match=re.escape(listing)):
        trainer.load_model(paths[1], epoch=9)
    trainer.load_model("")
    assert "load_model() is skipped" in capsys.readouterr().out


def test_best_val_saves_and_deploys_the_best_model(paths, capsys):
    trainer = build_trainer(tiny_cfg(*paths, ["TEST.FINAL_MODEL", "best_val", "OPTIM.MAX_EPOCH", 3]))
    trainer.train()
    out = capsys.readouterr().out
    assert out.count("Evaluate on the *val* set\n") == 3
    best = torch.load(os.path.join(paths[1], "probe", "model-best.pth.tar"), weights_only=True)
    assert set(best) == CHECKPOINT_KEYS and best["val_result"] == trainer.best_result
    deploy = out[out.index("Deploy the model with the best val performance") :]
    best_path = os.path.join(paths[1], "probe", "model-best.pth.tar")
    assert f"Load {best_path} to probe (epoch={best['epoch']}, val_result={best['val_result']:.1f})" in deploy
    assert "Evaluate on the *test* set" in deploy


def test_progress_line_format():
    trainer = TrainerX.__new__(TrainerX)  # only the attributes the line reads
    TrainerBase.__init__(trainer)
    model = nn.Linear(2, 2)
    trainer.register_model("model", model, torch.optim.SGD(model.parameters(), lr=1e-5))
    trainer.epoch, trainer.max_epoch, trainer.batch_idx, trainer.num_batches = 0, 50, 4, 18
    batch_time, data_time, losses = AverageMeter(), AverageMeter(), MetricMeter()
    for seconds, data_seconds, loss, acc in [(0.599, 0.42, 1.5655, 47.5), (0.101, 0.0, 1.2345, 62.5)]:
        batch_time.update(seconds)
        data_time.update(data_seconds)
        losses.update({"loss": loss, "acc": acc})
    # eta = 0.35 s x (13 batches left in this epoch + 49 epochs x 18) = 313 s
    assert trainer._progress_line(batch_time, data_time, losses) == (
        "epoch [1/50] batch [5/18] time 0.101 (0.350) data 0.000 (0.210) "
        "loss 1.2345 (1.4000) acc 62.5000 (55.0000) lr 1.0000e-05 eta 0:05:13"
    )


def test_model_registry_and_update_helpers():
    trainer = TrainerBase()
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    trainer.register_model("head", model, optimizer)
    trainer.register_model("frozen", nn.Linear(2, 1))
    assert trainer.get_model_names() == ["head", "frozen"] and trainer.get_model_names("frozen") == ["frozen"]
    with pytest.raises(AssertionError, match="duplicate"):
        trainer.register_model("head", model)
    with pytest.raises(AssertionError, match='No model registered as "tail"'):
        trainer.get_model_names("tail")

    trainer.set_model_mode("eval")
    assert not model.training
    trainer.set_model_mode("train", names="head")
    assert model.training
    with pytest.raises(KeyError):
        trainer.set_model_mode("validate")

    before = model.weight.detach().clone()
    trainer.model_backward_and_update(model(torch.ones(1, 2)).sum())
    assert torch.allclose(model.weight, before - 0.5)
    assert trainer.get_current_lr() == 0.5
    trainer.update_lr()  # no scheduler registered: nothing to step
    with pytest.raises(FloatingPointError, match="Training diverged at epoch 1: the loss is nan;"):
        trainer.model_backward(torch.tensor(float("nan"), requires_grad=True))


def test_register_model_before_super_init_is_an_error():
    class EarlyTrainer(TrainerBase):
        def __init__(self):
            self.register_model("model", nn.Linear(1, 1))

    with pytest.raises(AttributeError, match="before super"):
        EarlyTrainer()


def test_trainer_without_models_cannot_train(tmp_path):
    with pytest.raises(RuntimeError, match="No model is registered"):
        TrainerBase().resume_model_if_exist(str(tmp_path))


def test_default_build_model_says_to_override_it(paths):
    with pytest.raises(NotImplementedError, match=r"TrainerX.build_model\(\) is missing"):
        TrainerX(tiny_cfg(*paths))


def test_unknown_trainer_names_the_closest(paths):
    cfg = tiny_cfg(*paths, ["TRAINER.NAME", "TinyProb"])
    with pytest.raises(ValueError, match=r'Unknown trainer "TinyProb" \(TRAINER.NAME\); did you mean "TinyProbe"\?'):
        build_trainer(cfg)


def test_summary_writer_falls_back_without_tensorboard(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    writer = open_summary_writer(str(tmp_path))
    assert isinstance(writer, NullWriter)
    writer.add_scalar("train/lr", 0.1, 0)
    assert "tensorboard is not installed" in capsys.readouterr().out
