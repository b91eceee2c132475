"""The frozen image-feature cache: same logits as without it, a new entry whenever a key part
changes, safe concurrent fills, and only trainers with a frozen, unprompted image tower use it."""
import errno
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from reliability import FullDisk
from runs import REPO, build_trainer, make_dataset, train_args
from testing.tiny_clip import save_tiny_clip
from trainers.feature_cache import FeatureStore, cache_dir


@pytest.fixture
def data_root(tmp_path):
    return make_dataset(str(tmp_path / "data"))


def build(data_root, out, trainer="CoOp", opts=()):
    config = {"KgCoOp": "vit_b16_ep100_ctxv1", "CoCoOp": "vit_b16_c4_ep10_batch1"}.get(trainer.split("_")[0], "vit_b16_ep50")
    return build_trainer(train_args(data_root, out, trainer=trainer, config=config, opts=["TRAINER.COOP.N_CTX", "4", *opts]))


def evaluate(trainer, enabled=True, split="test"):
    """(logits of every batch, number of images the image tower encoded) of one evaluation."""
    trainer.cfg.defrost()
    trainer.cfg.TEST.FEATURE_CACHE = enabled
    logits, encoded = [], []
    process = trainer.evaluator.process
    trainer.evaluator.process = lambda mo, gt: (logits.append(mo.clone()), process(mo, gt))
    handle = trainer.image_tower().register_forward_hook(lambda _m, inputs, _o: encoded.append(inputs[0].shape[0]))
    try:
        trainer.test(split)
    finally:
        handle.remove()
        del trainer.evaluator.process
    return torch.cat(logits), sum(encoded)


def cache_files(directory):
    return sorted(os.path.join(d, f) for d, _, files in os.walk(directory) for f in files)


@pytest.mark.parametrize("name", ["CoOp", "ZeroshotCLIP", "KgCoOp", "CoCoOp"])
def test_cached_logits_equal_uncached(name, data_root, tmp_path, clip_checkpoint, monkeypatch, capsys):
    monkeypatch.setenv("PLPP_FEATURE_CACHE_DIR", str(tmp_path / "cache"))
    trainer = build(data_root, str(tmp_path / "out"), trainer=name)
    n_test = len(trainer.dm.dataset.test)

    plain, encoded = evaluate(trainer, enabled=False)
    assert encoded == n_test and cache_files(tmp_path / "cache") == []

    filled, encoded = evaluate(trainer)  # first evaluation: computes and stores
    assert encoded == n_test and "computed and cached at" in capsys.readouterr().out
    assert len(cache_files(tmp_path / "cache")) == 1

    reused, encoded = evaluate(trainer)  # later ones never run the image tower
    assert encoded == 0 and "read from" in capsys.readouterr().out
    assert torch.equal(filled, plain) and torch.equal(reused, plain)


def test_another_trainer_and_seed_reuse_the_entry(data_root, tmp_path, clip_checkpoint, monkeypatch):
    """What a sweep gains: PLPP reads the features CoOp stored (any trainer, any seed)."""
    monkeypatch.setenv("PLPP_FEATURE_CACHE_DIR", str(tmp_path / "cache"))
    coop = build(data_root, str(tmp_path / "coop"))
    evaluate(coop)
    plpp = build(data_root, str(tmp_path / "plpp"), trainer="PLPP", opts=["OPTIM.MAX_EPOCH", "2"])
    plain, _ = evaluate(plpp, enabled=False)
    cached, encoded = evaluate(plpp)
    assert encoded == 0 and torch.equal(cached, plain)
    assert len(cache_files(tmp_path / "cache")) == 1


def test_changed_key_parts_make_new_entries(data_root, tmp_path, clip_checkpoint, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("PLPP_FEATURE_CACHE_DIR", str(cache))
    out = str(tmp_path / "out")
    n_test = len(build(data_root, out).dm.dataset.test)

    def encoded_by_fresh_run(opts=()):
        return evaluate(build(data_root, out, opts=opts))[1]

    assert encoded_by_fresh_run() == n_test
    assert encoded_by_fresh_run() == 0

    # The test transform (normalisation constants).
    assert encoded_by_fresh_run(["INPUT.PIXEL_MEAN", "[0.5, 0.5, 0.5]"]) == n_test
    # The image list: another class subset, then one image rewritten in place.
    subset = build(data_root, out, opts=["DATASET.SUBSAMPLE_CLASSES", "base"])
    assert evaluate(subset)[1] == len(subset.dm.dataset.test) < n_test
    image = build(data_root, out).dm.dataset.test[0].impath
    with open(image, "ab") as f:
        f.write(b"\0")  # same path, new size and modification time
    assert encoded_by_fresh_run() == n_test
    # The CLIP weights.
    monkeypatch.setenv("CLIP_CHECKPOINT", save_tiny_clip(str(tmp_path / "other.pt"), fmt="jit", seed=1))
    assert encoded_by_fresh_run() == n_test
    assert encoded_by_fresh_run() == 0
    assert len(cache_files(cache)) == 5


def test_an_image_rewritten_with_its_old_size_and_mtime_is_not_read_stale(data_root, tmp_path, clip_checkpoint,
                                                                          monkeypatch):
    monkeypatch.setenv("PLPP_FEATURE_CACHE_DIR", str(tmp_path / "cache"))
    out = str(tmp_path / "out")
    trainer = build(data_root, out)
    evaluate(trainer)
    test = trainer.dm.dataset.test
    image, other = test[0].impath, next(item.impath for item in test if item.label != test[0].label)
    stat = os.stat(image)
    with open(other, "rb") as f:
        replacement = f.read()
    with open(image, "wb") as f:  # another class's picture, padded or cut to the old size
        f.write(replacement[: stat.st_size].ljust(stat.st_size, b"\0"))
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(image).st_size == stat.st_size and os.stat(image).st_mtime_ns == stat.st_mtime_ns
    fresh = build(data_root, out)
    logits, encoded = evaluate(fresh)
    assert encoded == len(test)  # computed again from the new bytes, not read stale
    assert torch.equal(logits, evaluate(fresh, enabled=False)[0])


@pytest.mark.parametrize("problem", ["read-only", "full"])
def test_a_cache_folder_that_cannot_be_written_costs_one_note_and_no_run(problem, data_root, tmp_path, clip_checkpoint,
                                                                          monkeypatch, capsys):
    from trainers import feature_cache

    cache = tmp_path / "cache"
    monkeypatch.setenv("PLPP_FEATURE_CACHE_DIR", str(cache))
    if problem == "read-only":  # root ignores file modes: refuse the write as a read-only mount does
        def mkstemp(*args, **kwargs):
            raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))
        monkeypatch.setattr(feature_cache.tempfile, "mkstemp", mkstemp)
        reason = "PermissionError: [Errno 30] Read-only file system"
    else:
        monkeypatch.setattr(feature_cache.os, "fdopen", lambda fd, mode: FullDisk(fd, "w"))
        reason = "RuntimeError: [enforce fail at inline_container.cc"
    trainer = build(data_root, str(tmp_path / "out"))
    plain, _ = evaluate(trainer, enabled=False)
    capsys.readouterr()
    for _ in range(2):
        logits, _ = evaluate(trainer)
        assert torch.equal(logits, plain)
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1 and notes[0].startswith(f"Note: cannot write the image-feature cache in {cache} ({reason}")
    assert notes[0].endswith("this run evaluates without it (TEST.FEATURE_CACHE_DIR sets another folder, "
                             "TEST.FEATURE_CACHE False turns it off)")
    assert not [path for path in cache_files(cache) if path.endswith(".pt")]


def test_val_split_is_cached_apart_from_test(data_root, tmp_path, clip_checkpoint, monkeypatch):
    monkeypatch.setenv("PLPP_FEATURE_CACHE_DIR", str(tmp_path / "cache"))
    trainer = build(data_root, str(tmp_path / "out"))
    evaluate(trainer, split="val")
    plain, _ = evaluate(trainer, enabled=False, split="val")
    cached, encoded = evaluate(trainer, split="val")
    assert encoded == 0 and torch.equal(cached, plain)
    assert [os.path.basename(p).split("-")[0] for p in cache_files(tmp_path / "cache")] == ["val"]


def test_cache_dir_config_wins_over_environment(tmp_path, monkeypatch):
    from runtime.config import default_config

    cfg = default_config()
    assert cfg.TEST.FEATURE_CACHE is True
    monkeypatch.setenv("PLPP_FEATURE_CACHE_DIR", str(tmp_path / "env"))
    assert cache_dir(cfg) == str(tmp_path / "env")
    cfg.TEST.FEATURE_CACHE_DIR = str(tmp_path / "cfg")
    assert cache_dir(cfg) == str(tmp_path / "cfg")
    monkeypatch.delenv("PLPP_FEATURE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cfg.TEST.FEATURE_CACHE_DIR = ""
    assert cache_dir(cfg) == str(tmp_path / "xdg" / "plpp-toolkit" / "features")


def test_unreadable_entry_is_recomputed(tmp_path, capsys):
    store = FeatureStore(str(tmp_path))
    key = {"dataset": "EuroSAT", "split": "test", "n_images": 3}
    path = store.save(key, torch.ones(3, 4))
    assert torch.equal(store.load(key), torch.ones(3, 4))
    with open(path, "r+b") as f:
        f.truncate(10)
    assert store.load(key) is None and "computing them again" in capsys.readouterr().out


@pytest.mark.slow
def test_two_processes_filling_at_once_leave_a_valid_entry(tmp_path, warm_python):
    """Two writers of the same entry race on purpose; each also reads it back after every write.
    Readers only ever see a whole file, and no temporary file is left behind."""
    start = tmp_path / "start"
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {REPO!r})
        import torch
        from trainers.feature_cache import FeatureStore
        store = FeatureStore({str(tmp_path / "cache")!r})
        key = {{"dataset": "EuroSAT", "split": "test", "n_images": 2000}}
        features = torch.arange(2000 * 256, dtype=torch.float32).view(2000, 256)
        while not os.path.exists({str(start)!r}):
            time.sleep(0.01)
        for _ in range(10):
            store.save(key, features)
            loaded = store.load(key)
            assert loaded is not None and torch.equal(loaded, features)
        print("ok")
    """)
    writers = [subprocess.Popen([warm_python, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    start.touch()
    results = [w.communicate(timeout=120) for w in writers]
    for writer, (stdout, stderr) in zip(writers, results):
        assert writer.returncode == 0 and stdout.strip() == "ok", stderr
    files = cache_files(tmp_path / "cache")
    assert len(files) == 1 and files[0].endswith(".pt")
    key = {"dataset": "EuroSAT", "split": "test", "n_images": 2000}
    assert torch.equal(FeatureStore(str(tmp_path / "cache")).load(key), torch.arange(2000 * 256, dtype=torch.float32).view(2000, 256))


def test_only_trainers_with_a_frozen_unprompted_image_tower_opt_in():
    from dassl.engine import TRAINER_REGISTRY

    import trainers  # noqa: F401  (registers every trainer)

    registered = TRAINER_REGISTRY._obj_map
    frozen = {"ZeroshotCLIP", "ZeroshotCLIP2", "CoOp", "PLPP", "KgCoOp", "KgCoOp_PLPP", "CoCoOp", "CoCoOp_PLPP"}
    prompted = {"MaPLe", "MaPLe_PLPP", "IVLP", "IVLP_PLPP", "PromptSRC", "PromptSRC_PLPP"}
    for name in frozen:
        assert registered[name].frozen_image_tower is True, name
    for name in prompted & set(registered):
        assert not getattr(registered[name], "frozen_image_tower", False), name


def test_a_loader_that_cannot_be_cached_leaves_the_whole_evaluation_plain(data_root, tmp_path, clip_checkpoint, monkeypatch):
    """One swapped model_inference serves val and test: a test loader that is not a sequential
    DataLoader (here a list of batches, as predict passes) keeps both on the image tower."""
    monkeypatch.setenv("PLPP_FEATURE_CACHE_DIR", str(tmp_path / "cache"))
    trainer = build(data_root, str(tmp_path / "out"))
    plain, _ = evaluate(trainer, enabled=False)
    trainer.test_loader = list(trainer.test_loader)
    listed, encoded = evaluate(trainer)
    assert encoded == len(trainer.dm.dataset.test) and torch.equal(listed, plain)
    assert cache_files(tmp_path / "cache") == []
