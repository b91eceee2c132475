"""dassl.utils: the stdout tee, meters, checkpoint files, registries and the importable names."""
import gc
import io
import os
import pickle
import re
import sys

import pytest
import torch
import torch.nn as nn

import dassl.utils
from dassl.utils import (
    AverageMeter,
    MetricMeter,
    Registry,
    count_num_param,
    load_checkpoint,
    load_pretrained_weights,
    resume_from_checkpoint,
    save_checkpoint,
    setup_logger,
)

# Every name the contract says CoOp-family code and the engine import from dassl.utils.
CONTRACT_NAMES = [
    "setup_logger", "set_random_seed", "collect_env_info", "load_pretrained_weights", "load_checkpoint",
    "mkdir_if_missing", "listdir_nohidden", "read_json", "write_json", "check_isfile", "Registry",
    "check_availability", "MetricMeter", "AverageMeter", "save_checkpoint", "resume_from_checkpoint",
    "tolist_if_not", "read_image", "count_num_param",
]  # fmt: skip


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_contract_names_are_importable(name):
    assert callable(getattr(dassl.utils, name))


class Console(io.StringIO):
    """A console stream with terminal-like attributes, to check the tee forwards them."""

    encoding = "utf-8"

    def isatty(self):
        return True

    def fileno(self):
        return 42


def use_console(monkeypatch):
    """Make a ``Console`` sys.stdout for the rest of the test (pytest restores its own after).

    Called in the test body: pytest re-installs its capture between fixture setup and the test.
    """
    stream = Console()
    monkeypatch.setattr(sys, "stdout", stream)
    return stream


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_setup_logger_tees_stdout_and_forwards_console_attributes(monkeypatch, tmp_path):
    console = use_console(monkeypatch)
    setup_logger(str(tmp_path))
    print("hello")
    sys.stdout.flush()
    assert console.getvalue() == "hello\n"
    assert read(tmp_path / "log.txt") == "hello\n"
    assert (sys.stdout.isatty(), sys.stdout.fileno(), sys.stdout.encoding) == (True, 42, "utf-8")

    tee = sys.stdout
    sys.stdout = console
    del tee
    gc.collect()
    assert not console.closed  # dropping the tee must not close the real stdout


def test_setup_logger_twice_moves_to_the_new_file(monkeypatch, tmp_path):
    console = use_console(monkeypatch)
    setup_logger(str(tmp_path / "first"))
    print("one")
    setup_logger(str(tmp_path / "second" / "train.log"))
    print("two")
    sys.stdout.flush()
    assert console.getvalue() == "one\ntwo\n"  # no stacked tees: each line reaches the console once
    assert read(tmp_path / "first" / "log.txt") == "one\n"
    assert read(tmp_path / "second" / "train.log") == "two\n"


def test_setup_logger_keeps_an_existing_log(monkeypatch, tmp_path):
    use_console(monkeypatch)
    (tmp_path / "log.txt").write_text("old run\n")
    setup_logger(str(tmp_path))
    print("new run")
    sys.stdout.flush()
    assert (tmp_path / "log.txt").read_text() == "old run\n"
    [new_log] = [name for name in os.listdir(tmp_path) if name != "log.txt"]
    assert re.fullmatch(r"log\.txt-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d", new_log)
    assert read(tmp_path / new_log) == "new run\n"


def test_setup_logger_without_output_changes_nothing(monkeypatch):
    console = use_console(monkeypatch)
    setup_logger(None)
    assert sys.stdout is console


def test_average_meter():
    meter = AverageMeter()
    meter.update(torch.tensor(2.0))
    meter.update(4.0, n=3)
    assert (meter.val, meter.sum, meter.count, meter.avg) == (4.0, 14.0, 4, 3.5)
    ema = AverageMeter(ema=True)
    ema.update(1.0)
    ema.update(1.0)
    assert ema.avg == pytest.approx(0.19)


def test_metric_meter_formats_like_the_progress_line():
    meters = MetricMeter()
    meters.update({"loss": torch.tensor(1.5), "acc": 50.0})
    meters.update({"loss": 0.5, "acc": 100.0})
    meters.update(None)
    assert str(meters) == "loss 0.5000 (1.0000) acc 100.0000 (75.0000)"
    with pytest.raises(TypeError, match="needs a dict"):
        meters.update([1.0])


def test_save_checkpoint_layout(tmp_path, capsys):
    model = nn.DataParallel(nn.Linear(2, 2))
    state = {"state_dict": model.state_dict(), "epoch": 3, "optimizer": None, "scheduler": None, "val_result": None}
    save_checkpoint(state, str(tmp_path / "m"), is_best=True)
    assert sorted(os.listdir(tmp_path / "m")) == ["checkpoint", "model-best.pth.tar", "model.pth.tar-3"]
    assert (tmp_path / "m" / "checkpoint").read_text() == "model.pth.tar-3\n"
    saved = torch.load(tmp_path / "m" / "model.pth.tar-3", weights_only=True)
    assert list(saved["state_dict"]) == ["weight", "bias"]  # "module." stripped
    out = capsys.readouterr().out
    assert f"Checkpoint saved to {tmp_path / 'm' / 'model.pth.tar-3'}\n" in out
    assert f'Best checkpoint saved to "{tmp_path / "m" / "model-best.pth.tar"}"' in out

    save_checkpoint(state, str(tmp_path / "m"), model_name="model-best.pth.tar")
    assert (tmp_path / "m" / "checkpoint").read_text() == "model-best.pth.tar\n"


def test_load_checkpoint_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="None"):
        load_checkpoint(None)
    (tmp_path / "model.pth.tar-10").write_bytes(b"")
    (tmp_path / "checkpoint").write_text("model.pth.tar-10\n")
    missing = str(tmp_path / "model.pth.tar-5")
    with pytest.raises(FileNotFoundError) as info:
        load_checkpoint(missing)
    assert str(info.value) == f'No file at "{missing}"; "{tmp_path}" holds: checkpoint, model.pth.tar-10'


class NotAnOptimizerThing:
    pass


def test_load_checkpoint_refuses_unknown_pickled_objects(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"state_dict": {}, "extra": NotAnOptimizerThing()}, path)
    with pytest.raises(pickle.UnpicklingError, match="not a Dassl checkpoint"):
        load_checkpoint(str(path))


def real_dassl_checkpoint(path, model, epoch):
    """A checkpoint laid out as real Dassl writes it with a warmup scheduler."""
    from dassl.config import get_cfg_default
    from dassl.optim import build_lr_scheduler, build_optimizer

    cfg = get_cfg_default().OPTIM
    cfg.NAME, cfg.LR_SCHEDULER, cfg.WARMUP_EPOCH, cfg.WARMUP_TYPE = "sgd", "cosine", 1, "constant"
    optimizer = build_optimizer(model, cfg)
    scheduler = build_lr_scheduler(optimizer, cfg)
    sched_state = {k: v for k, v in scheduler.state_dict().items() if k != "successor_state"}
    sched_state.update(successor=scheduler.successor, verbose=False)
    state = {
        "state_dict": model.state_dict(),
        "epoch": epoch,
        "optimizer": optimizer.state_dict(),
        "scheduler": sched_state,
        "val_result": None,
    }
    torch.save(state, path)


def test_load_checkpoint_reads_real_dassl_files_with_a_note(tmp_path, capsys):
    path = str(tmp_path / "model.pth.tar-1")
    real_dassl_checkpoint(path, nn.Linear(2, 2), epoch=1)
    checkpoint = load_checkpoint(path)
    assert checkpoint["epoch"] == 1
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Note:")]
    assert notes == [
        f'Note: "{path}" was written by real Dassl (it pickles its LR scheduler), so it is loaded with '
        "weights_only=False; load only checkpoints you trust"
    ]


def test_resume_from_checkpoint_restores_and_reports(tmp_path, capsys):
    source = nn.Linear(2, 2)
    state = {"state_dict": source.state_dict(), "epoch": 2, "optimizer": None, "scheduler": None, "val_result": None}
    save_checkpoint(state, str(tmp_path))
    target = nn.Linear(2, 2)
    assert resume_from_checkpoint(str(tmp_path), target) == 2
    assert torch.equal(target.weight, source.weight)
    out = capsys.readouterr().out
    assert f'Loading checkpoint from "{tmp_path / "model.pth.tar-2"}"\nLoaded model weights\nPrevious epoch: 2\n' in out


def test_resume_names_the_key_and_shapes_that_do_not_fit(tmp_path):
    state = {"state_dict": nn.Linear(3, 2).state_dict(), "epoch": 1, "optimizer": None, "scheduler": None}
    save_checkpoint(state, str(tmp_path))
    with pytest.raises(ValueError, match=r'"weight" has shape \(2, 3\) in the checkpoint but \(2, 4\) in the model'):
        resume_from_checkpoint(str(tmp_path), nn.Linear(4, 2))


def test_resume_without_any_checkpoint_trains_from_scratch(tmp_path, capsys):
    assert resume_from_checkpoint(str(tmp_path), nn.Linear(2, 2)) == 0
    assert capsys.readouterr().out == f"No checkpoint in {tmp_path} loads; train from scratch\n"


def test_load_pretrained_weights_keeps_matching_layers(tmp_path, capsys):
    source = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 5))
    torch.save({"state_dict": {"module." + k: v for k, v in source.state_dict().items()}}, tmp_path / "w.pth")
    target = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))
    load_pretrained_weights(target, str(tmp_path / "w.pth"))
    assert torch.equal(target[0].weight, source[0].weight)
    out = capsys.readouterr().out
    assert "Successfully loaded pretrained weights from" in out
    assert "Layers discarded due to unmatched keys or size: ['1.weight', '1.bias']" in out


def test_count_num_param():
    model = nn.Linear(3, 2)
    assert count_num_param(model) == 8
    assert count_num_param(params=[{"params": list(model.parameters())}]) == 8
    assert count_num_param(params=list(model.parameters())) == 8


def test_registry_require_names_the_closest_entry():
    registry = Registry("TRAINER")

    @registry.register()
    class CoOp:
        pass

    @registry.register()
    class ZeroshotCLIP:
        pass

    assert registry.require("CoOp", "TRAINER.NAME") is CoOp
    with pytest.raises(ValueError) as info:
        registry.require("Coop", "TRAINER.NAME")
    assert str(info.value) == (
        'Unknown trainer "Coop" (TRAINER.NAME); did you mean "CoOp"? '
        "Registered in the TRAINER registry: CoOp, ZeroshotCLIP"
    )
    with pytest.raises(KeyError):
        registry.register(CoOp)
    with pytest.raises(ValueError, match="the EVALUATOR registry is empty"):
        Registry("EVALUATOR").require("Classification", "TEST.EVALUATOR")


def test_load_checkpoint_names_a_truncated_file(tmp_path):
    path = tmp_path / "model.pth.tar-1"
    torch.save({"state_dict": {"w": torch.ones(100)}}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=re.escape(f'Cannot read checkpoint "{path}" (RuntimeError: ')):
        load_checkpoint(str(path))


def test_the_environment_report_lists_the_packages_pip_lists_without_running_pip():
    import subprocess

    from dassl.utils import collect_env_info
    from dassl.utils.tools import installed_packages

    pip = subprocess.run([sys.executable, "-mpip", "list", "--format=freeze"], capture_output=True, text=True,
                         env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    assert pip.returncode == 0, pip.stderr
    assert installed_packages().splitlines() == pip.stdout.strip().splitlines()
    report = collect_env_info()
    assert f"[pip3] torch=={torch.__version__.split('+')[0]}" in report
    assert collect_env_info() is report  # made once per process
