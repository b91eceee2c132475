"""Runs you can trust, part 5: the environment failing under a run. A full disk during a
checkpoint save and an unreadable checkpoint are problems the user can fix: one line and exit
status 2, never a traceback, and the checkpoints already saved stay as they were."""
import errno
import io
import os
import shutil

import pytest

from reliability import SMALL, one_line, snapshot, train_cli  # noqa: F401  (train_cli: a fixture)
from runs import make_dataset, run_train, train_args
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
        run_train(args(data_root, out))
    finally:
        del os.environ["CLIP_CHECKPOINT"]
    return out


def args(data_root, out, epochs=1, opts=(), flags=()):
    return train_args(data_root, out, dataset="oxford_pets", opts=[*SMALL, "OPTIM.MAX_EPOCH", str(epochs), *opts],
                      flags=flags)


class FullDisk(io.FileIO):
    """A file on a disk that fills up after its first kilobyte (torch.save then fails in C++)."""

    def write(self, data):
        if self.tell() + len(data) > 1024:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_a_full_disk_during_a_checkpoint_save_is_one_line_and_keeps_the_saved_ones(data_root, tmp_path, monkeypatch,
                                                                                      tiny_clip_file, train_cli):
    from dassl.utils import torchtools

    def disk_full_at_epoch_2(path, mode="r", *rest, **kwargs):
        if str(path).endswith("model.pth.tar-2.tmp"):
            return FullDisk(path, "w")
        return open(path, mode, *rest, **kwargs)

    monkeypatch.setattr(torchtools, "open", disk_full_at_epoch_2, raising=False)
    out = tmp_path / "run"
    line = one_line(train_cli(args(data_root, str(out), epochs=2), CLIP_CHECKPOINT=tiny_clip_file), status.BAD_INPUT)
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
