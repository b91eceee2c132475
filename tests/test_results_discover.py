"""``toolkit.results.discover``: runs found in the output layouts of this project's scripts and of
the reference repositories' scripts (KaiyangZhou/CoOp for CoCoOp, MaPLe/IVLP, PromptSRC, KgCoOp),
with logs in each one's format and no ``finished.json``."""
import pytest

from result_trees import (
    b2n_folder,
    b2n_method,
    dassl_eval_log,
    dassl_training_log,
    entry,
    eval_log,
    kgcoop_eval_log,
    kgcoop_training_log,
    kinds,
    training_log,
    write_run,
)
from toolkit import results

COCOOP_CFG = "vit_b16_c4_ep10_batch1_ctxv1"
COCOOP = {"dtd": ((77.4, 76.9, 78.0), (56.0, 55.1, 57.2)), "eurosat": ((87.5, 88.1, 86.9), (60.0, 62.3, 61.4))}


def reference_b2n(root, trainer, cfg, values, shots="shots_16", seeds=(1, 2, 3)):
    """A base-to-new tree as the reference scripts leave it: Dassl.pytorch's logs, no marker."""
    for dataset, (bases, news) in values.items():
        for seed, base, new in zip(seeds, bases, news):
            folder = b2n_folder(root, "train_base", dataset, trainer, seed, cfg, shots)
            write_run(folder, dassl_training_log(trainer, cfg, base), marker=False)
            folder = b2n_folder(root, "test_new", dataset, trainer, seed, cfg, shots)
            write_run(folder, dassl_eval_log(trainer, cfg, new), marker=False)


def numbers(report):
    return {
        (e.protocol, e.method.label, e.dataset, e.column): (e.summary.mean, e.summary.values) for e in report.entries
    }


def test_cocoop_runs_made_here_and_by_the_reference_repository_read_alike(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "reference"
    b2n_method(ours, "CoCoOp", COCOOP, cfg=COCOOP_CFG)
    reference_b2n(theirs, "CoCoOp", COCOOP_CFG, COCOOP)
    here, there = results.collect(str(ours)), results.collect(str(theirs))
    assert numbers(here) == numbers(there) != {}
    label = f"CoCoOp/{COCOOP_CFG}"
    assert entry(there, "base2new", label, "eurosat", "New").values == {"1": 60.0, "2": 62.3, "3": 61.4}
    assert entry(there, "base2new", label, "average", "Base").over == ("dtd", "eurosat")
    assert kinds(there) == kinds(here) == ["partial-average"]


def test_cocoop_reference_cross_dataset_and_domain_generalisation_layout(tmp_path):
    """``output/imagenet/CoCoOp/<cfg>_16shots/seed<S>`` then ``output/evaluation/CoCoOp/...``."""
    for seed, source in ((1, 71.0), (2, 71.4)):
        folder = tmp_path / "imagenet" / "CoCoOp" / f"{COCOOP_CFG}_16shots" / f"seed{seed}"
        write_run(folder, dassl_training_log("CoCoOp", COCOOP_CFG, source, epochs=10), marker=False)
        for dataset, accuracy in (("caltech101", 94.4), ("imagenet_sketch", 48.8)):
            folder = tmp_path / "evaluation" / "CoCoOp" / f"{COCOOP_CFG}_16shots" / dataset / f"seed{seed}"
            write_run(folder, dassl_eval_log("CoCoOp", COCOOP_CFG, accuracy + seed / 10, epoch=10), marker=False)
    report = results.collect(str(tmp_path))
    label = f"CoCoOp/{COCOOP_CFG}"
    assert entry(report, "xd", label, "imagenet", "accuracy").mean == pytest.approx(71.2)
    assert entry(report, "xd", label, "caltech101", "accuracy").mean == pytest.approx(94.55)
    assert entry(report, "dg", label, "imagenet_sketch", "accuracy").values == {"1": 48.9, "2": 49.0}
    assert set(kinds(report)) == {"partial-average"}


def test_kgcoop_reference_layout_keeps_its_weight_folder_as_the_variant(tmp_path):
    """KgCoOp's scripts write ``shots_16_<WEIGHT>`` and loop the seeds; its Dassl fork prints
    "Finished training" and two decimals. The PLPP variant run here in the same layout pairs with it."""
    for seed, base, new in ((1, 80.71, 73.55), (2, 80.79, 73.61), (3, 80.69, 73.64)):
        write_run(b2n_folder(tmp_path, "train_base", "dtd", "KgCoOp", seed, "vit_b16_ep100_ctxv1", "shots_16_8.0"),
                  kgcoop_training_log(base), marker=False)
        write_run(b2n_folder(tmp_path, "test_new", "dtd", "KgCoOp", seed, "vit_b16_ep100_ctxv1", "shots_16_8.0"),
                  kgcoop_eval_log(new), marker=False)
    for seed in (1, 2, 3):
        folder = b2n_folder(tmp_path, "train_base", "dtd", "KgCoOp_PLPP", seed, "vit_b16_ep100_ctxv1", "shots_16_8.0")
        write_run(folder, training_log(81.0))
        folder = b2n_folder(tmp_path, "test_new", "dtd", "KgCoOp_PLPP", seed, "vit_b16_ep100_ctxv1", "shots_16_8.0")
        write_run(folder, eval_log(74.0))
    report = results.collect(str(tmp_path))
    label = "KgCoOp/vit_b16_ep100_ctxv1 shots_16_8.0"
    assert entry(report, "base2new", label, "dtd", "Base").values == {"1": 80.71, "2": 80.79, "3": 80.69}
    assert entry(report, "base2new", label, "dtd", "New").mean == pytest.approx(73.6)
    (host,) = report.hosts
    assert (host.method.trainer, host.baseline.label) == ("KgCoOp_PLPP", label)
    assert {(d.dataset, d.column): round(d.value - d.baseline, 4) for d in host.deltas if d.column != "HM"} == {
        ("dtd", "Base"): 0.27, ("dtd", "New"): 0.4, ("average", "Base"): 0.27, ("average", "New"): 0.4
    }


def test_maple_and_ivlp_reference_runs_resumed_into_the_same_folder(tmp_path):
    """MaPLe's scripts rerun into an existing folder to resume: ``log.txt`` keeps the interrupted
    attempt, ``log.txt-<time>`` the finished one; the evaluation may be run twice."""
    cfgs = {"MaPLe": "vit_b16_c2_ep5_batch4_2ctx", "IVLP": "vit_b16_c2_ep5_batch4_2+2ctx"}
    for trainer, cfg in cfgs.items():
        for seed in (1, 2, 3):
            folder = b2n_folder(tmp_path, "train_base", "dtd", trainer, seed, cfg)
            write_run(folder, dassl_training_log(trainer, cfg, 0, epochs=5, stop_at_epoch=3), marker=False)
            write_run(folder, dassl_training_log(trainer, cfg, 80.0 + seed, epochs=5), marker=False,
                      name="log.txt-2023-03-01-12-00-00")
            folder = b2n_folder(tmp_path, "test_new", "dtd", trainer, seed, cfg)
            for name in ("log.txt", "log.txt-2023-03-01-13-00-00"):
                write_run(folder, dassl_eval_log(trainer, cfg, 59.0 + seed, epoch=5), marker=False, name=name)
    report = results.collect(str(tmp_path))
    for trainer, cfg in cfgs.items():
        assert entry(report, "base2new", f"{trainer}/{cfg}", "dtd", "Base").mean == pytest.approx(82.0)
        assert entry(report, "base2new", f"{trainer}/{cfg}", "dtd", "New").mean == pytest.approx(61.0)
    assert set(kinds(report)) == {"partial-average"}


def test_promptsrc_reference_layouts(tmp_path):
    """PromptSRC: base-to-new as MaPLe's, few-shot without a settings folder, and the evaluation
    of given weights under ``few_shot/`` (eval-only logs) kept apart as its own variant."""
    cfg = "vit_b16_c2_ep20_batch4_4+4ctx"
    reference_b2n(tmp_path, "PromptSRC", cfg, {"dtd": ((83.0, 83.4, 83.8), (62.8, 62.9, 63.0))})
    few = "vit_b16_c2_ep50_batch4_4+4ctx_few_shot"
    for seed in (1, 2, 3):
        folder = tmp_path / "dtd" / "PromptSRC" / f"{few}_4shots" / f"seed{seed}"
        write_run(folder, dassl_training_log("PromptSRC", few, 60.0 + seed, epochs=50), marker=False)
        folder = tmp_path / "few_shot" / "dtd" / "PromptSRC" / f"{few}_4shots" / f"seed{seed}"
        write_run(folder, dassl_eval_log("PromptSRC", few, 65.0 + seed, epoch=50), marker=False)
    report = results.collect(str(tmp_path))
    assert entry(report, "base2new", f"PromptSRC/{cfg}", "dtd", "Base").mean == pytest.approx(83.4)
    assert entry(report, "fewshot", f"PromptSRC/{few}", "dtd", "4 shots").mean == pytest.approx(62.0)
    assert entry(report, "fewshot", f"PromptSRC/{few} few_shot", "dtd", "4 shots").mean == pytest.approx(67.0)
    assert "unfinished" not in kinds(report) and "missing-seed" not in kinds(report)


def test_coop_reference_cross_dataset_layout_with_its_settings_folder(tmp_path):
    """CoOp's main.sh trains ImageNet into ``imagenet/CoOp/<cfg>_16shots/<settings>/seed<S>`` and
    eval.sh evaluates it into ``evaluation/CoOp/<cfg>_16shots/<settings>/<dataset>/seed<S>``. A
    few-shot ImageNet run that no evaluation names stays out of the cross-dataset table."""
    settings = "nctx16_cscFalse_ctpend"
    for seed in (1, 2, 3):
        folder = tmp_path / "imagenet" / "CoOp" / "vit_b16_ep50_16shots" / settings / f"seed{seed}"
        write_run(folder, dassl_training_log("CoOp", "vit_b16_ep50", 71.0 + seed / 10, epochs=50), marker=False)
        for dataset, accuracy in (("caltech101", 93.7), ("imagenetv2", 64.2)):
            folder = tmp_path / "evaluation" / "CoOp" / "vit_b16_ep50_16shots" / settings / dataset / f"seed{seed}"
            write_run(folder, dassl_eval_log("CoOp", "vit_b16_ep50", accuracy, epoch=50), marker=False)
        folder = tmp_path / "imagenet" / "CoOp" / "rn50_16shots" / settings / f"seed{seed}"
        write_run(folder, dassl_training_log("CoOp", "rn50", 63.0, epochs=50), marker=False)
    report = results.collect(str(tmp_path))
    label = f"CoOp/vit_b16_ep50 {settings}"
    for protocol in ("xd", "dg"):
        assert entry(report, protocol, label, "imagenet", "accuracy").mean == pytest.approx(71.2)
    assert entry(report, "xd", label, "caltech101", "accuracy").values == {"1": 93.7, "2": 93.7, "3": 93.7}
    assert entry(report, "dg", label, "imagenetv2", "accuracy").mean == pytest.approx(64.2)
    assert entry(report, "fewshot", f"CoOp/rn50 {settings}", "imagenet", "16 shots").mean == pytest.approx(63.0)
    assert {e.method.label for e in report.entries if e.protocol in ("xd", "dg")} == {label}
    assert "missing-run" not in kinds(report)
