"""``toolkit.results.aggregate``: per-seed values into mean ± population std, HM, published-style
averages, zero-shot rows, few-shot curves, cross-dataset and DG tables, PLPP variants' hosts."""
import numpy as np
import pytest

from result_trees import (
    COOP_BASE2NEW,
    b2n,
    b2n_method,
    entry,
    eval_log,
    fewshot,
    kinds,
    training_log,
    write_run,
    xd_source,
    xd_target,
)
from toolkit import results
from toolkit.results.aggregate import host_of, host_trainer
from toolkit.results.discover import Method

# ---------------------------------------------------------------------------------------------
# Base-to-new
# ---------------------------------------------------------------------------------------------


def test_base2new_per_seed_values_mean_population_std_and_hm(tmp_path):
    b2n_method(tmp_path, "PLPP", {"dtd": ((80.1, 81.3, 79.9), (55.2, 57.0, 56.1))})
    report = results.collect(str(tmp_path))
    base = entry(report, "base2new", "PLPP/vit_b16_ctxv1", "dtd", "Base")
    new = entry(report, "base2new", "PLPP/vit_b16_ctxv1", "dtd", "New")
    hm = entry(report, "base2new", "PLPP/vit_b16_ctxv1", "dtd", "HM")
    assert base.values == {"1": 80.1, "2": 81.3, "3": 79.9} and base.n == 3
    assert base.mean == pytest.approx(80.4333, abs=1e-4)
    assert base.std == pytest.approx(np.std([80.1, 81.3, 79.9], ddof=0))
    assert base.std != pytest.approx(np.std([80.1, 81.3, 79.9], ddof=1))
    assert new.mean == pytest.approx(56.1)
    assert hm.mean == pytest.approx(2 * base.mean * new.mean / (base.mean + new.mean)) and hm.std is None
    text = results.report_text(report)
    assert "80.43 ± 0.62" in text and "56.10 ± 0.73" in text and "ddof=0" in text
    assert report.notes[-1].kind == "partial-average"  # one dataset of eleven


def test_average_row_reproduces_the_published_coop_row(tmp_path):
    b2n_method(tmp_path, "CoOp", {d: ((b,), (n,)) for d, (b, n) in COOP_BASE2NEW.items()}, seeds=(1,))
    report = results.collect(str(tmp_path))
    averages = {c: entry(report, "base2new", "CoOp/vit_b16_ctxv1", "average", c) for c in ("Base", "New", "HM")}
    assert [round(averages[c].mean, 2) for c in ("Base", "New", "HM")] == [82.69, 63.22, 71.66]
    assert averages["HM"].over == tuple(COOP_BASE2NEW)
    # the mean of the per-dataset HMs (70.83) is what the papers do NOT report
    per_dataset_hms = [entry(report, "base2new", "CoOp/vit_b16_ctxv1", d, "HM").mean for d in COOP_BASE2NEW]
    assert round(float(np.mean(per_dataset_hms)), 2) == 70.83
    assert "Average (11 datasets)" in results.report_text(report)
    assert report.notes == []


def test_average_over_fewer_datasets_is_labelled_and_warned(tmp_path):
    b2n_method(tmp_path, "CoOp", {d: ((b,), (n,)) for d, (b, n) in list(COOP_BASE2NEW.items())[:9]}, seeds=(1,))
    report = results.collect(str(tmp_path))
    assert "Average (9 datasets)" in results.report_text(report)
    assert [n.message for n in report.notes] == [
        "base2new CoOp/vit_b16_ctxv1 (Base, New, HM): average over 9 of the 11 datasets "
        "(missing: eurosat, ucf101); not comparable with published averages"
    ]


def test_eval_only_base_runs_replace_the_training_runs_final_test(tmp_path):
    b2n_method(tmp_path, "PLPP", {"eurosat": ((80.0,), (60.0,))}, seeds=(1,))
    b2n(tmp_path, "test_base", "eurosat", "PLPP", 1, 82.0)
    report = results.collect(str(tmp_path))
    assert entry(report, "base2new", "PLPP/vit_b16_ctxv1", "eurosat", "Base").mean == 82.0


def test_zero_shot_clip_runs_fill_base2new_and_cross_dataset_rows(tmp_path):
    for part, accuracy in (("test_base", 53.2), ("test_new", 59.9)):
        folder = tmp_path / "base2new" / part / "dtd" / "shots_16" / "ZeroshotCLIP" / "vit_b16" / "zeroshot"
        write_run(folder, eval_log(accuracy))
    write_run(tmp_path / "ZeroshotCLIP" / "vit_b16" / "imagenet", eval_log(66.7))
    write_run(tmp_path / "ZeroshotCLIP" / "vit_b16" / "caltech101", eval_log(93.0))
    report = results.collect(str(tmp_path))
    hm = entry(report, "base2new", "ZeroshotCLIP/vit_b16", "dtd", "HM").mean
    assert hm == pytest.approx(2 * 53.2 * 59.9 / (53.2 + 59.9))
    assert entry(report, "xd", "ZeroshotCLIP/vit_b16", "imagenet", "accuracy").values == {"zeroshot": 66.7}
    assert entry(report, "xd", "ZeroshotCLIP/vit_b16", "average", "accuracy").mean == 93.0
    assert entry(report, "fewshot", "ZeroshotCLIP/vit_b16", "caltech101", "zero-shot").mean == 93.0
    assert "missing-seed" not in kinds(report)


# ---------------------------------------------------------------------------------------------
# Few-shot, cross-dataset, domain generalisation
# ---------------------------------------------------------------------------------------------


def test_fewshot_table_joins_coops_epoch_configs_into_one_curve(tmp_path):
    for dataset, one_shot, sixteen in (
        ("caltech101", (87.0, 88.0, 89.0), (95.0, 95.2, 95.4)),
        ("dtd", (44.0, 45.0, 46.0), (63.0, 64.0, 65.0)),
    ):
        for seed in (1, 2, 3):
            fewshot(tmp_path, dataset, "CoOp", "rn50_ep50", 1, seed, one_shot[seed - 1])
            fewshot(tmp_path, dataset, "CoOp", "rn50", 16, seed, sixteen[seed - 1])
    report = results.collect(str(tmp_path), protocols=["fewshot"])
    label = "CoOp/rn50 nctx16_cscFalse_ctpend"
    assert entry(report, "fewshot", label, "dtd", "1 shot").values == {"1": 44.0, "2": 45.0, "3": 46.0}
    assert entry(report, "fewshot", label, "caltech101", "16 shots").mean == pytest.approx(95.2)
    assert entry(report, "fewshot", label, "average", "1 shot").mean == pytest.approx(66.5)
    assert entry(report, "fewshot", label, "average", "16 shots").mean == pytest.approx((95.2 + 64.0) / 2)
    text = results.report_text(report)
    assert "configs: 1 shot: rn50_ep50; 16 shots: rn50" in text
    assert "Average (2 datasets)" in text


def test_fewshot_configs_kept_apart_when_they_overlap_and_selected_by_cfg(tmp_path):
    for cfg in ("vit_b16", "vit_b16_ep50"):  # two recipes at the same shots: two methods
        fewshot(tmp_path, "dtd", "CoOp", cfg, 16, 1, 70.0)
    fewshot(tmp_path, "dtd", "PLPP", "vit_b16_ep50", 4, 1, 60.0)  # one config: keeps its name
    write_run(
        tmp_path / "dtd" / "PromptSRC" / "vit_b16_c2_ep50_batch4_4+4ctx_few_shot_4shots" / "seed1", training_log(62.0)
    )
    labels = {e.method.label for e in results.collect(str(tmp_path)).entries}
    assert labels == {
        "CoOp/vit_b16 nctx16_cscFalse_ctpend",
        "CoOp/vit_b16_ep50 nctx16_cscFalse_ctpend",
        "PLPP/vit_b16_ep50 nctx16_cscFalse_ctpend",
        "PromptSRC/vit_b16_c2_ep50_batch4_4+4ctx_few_shot",  # PromptSRC's layout has no settings folder
    }
    selected = results.collect(str(tmp_path), trainers=["coop"], cfgs=["vit_b16_ep50"])
    assert {e.method.label for e in selected.entries} == {"CoOp/vit_b16_ep50 nctx16_cscFalse_ctpend"}


def test_cross_dataset_and_domain_generalisation_tables(tmp_path):
    for seed, source in zip((1, 2, 3), (71.2, 71.5, 71.8)):
        xd_source(tmp_path, "PLPP", seed, source)
        for dataset, accuracy in (
            ("caltech101", 93.0 + seed),
            ("dtd", 40.0 + seed),
            ("imagenetv2", 64.0),
            ("imagenet_sketch", 48.0),
        ):
            xd_target(tmp_path, "PLPP", dataset, seed, accuracy)
    report = results.collect(str(tmp_path))
    method = "PLPP/vit_b16_ep50_ctxv1"
    for protocol in ("xd", "dg"):
        assert entry(report, protocol, method, "imagenet", "accuracy").mean == pytest.approx(71.5)
    assert entry(report, "xd", method, "caltech101", "accuracy").mean == pytest.approx(95.0)
    assert entry(report, "xd", method, "average", "accuracy").mean == pytest.approx((95.0 + 42.0) / 2)
    assert entry(report, "dg", method, "average", "accuracy").mean == pytest.approx(56.0)
    assert entry(report, "dg", method, "average", "accuracy").over == ("imagenetv2", "imagenet_sketch")
    text = results.report_text(report)
    assert "ImageNet (source)" in text and "Average (2 targets)" in text
    assert kinds(report) == ["partial-average", "partial-average"]


# ---------------------------------------------------------------------------------------------
# PLPP variants and their hosts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trainer, host",
    [("PLPP", "CoOp"), ("CoCoOp_PLPP", "CoCoOp"), ("KgCoOp_PLPP", "KgCoOp"), ("MaPLe_PLPP", "MaPLe"),
     ("PromptSRC_PLPP", "PromptSRC"), ("NewMethod_PLPP", "NewMethod"), ("CoOp", ""), ("ZeroshotCLIP", ""),
     ("CoOp_DePT", "CoOp"), ("MaPLe_DePT", "MaPLe"), ("CoOp_PLPP_DePT", "CoOp"), ("KgCoOp_PLPP_DePT", "KgCoOp")],
)
def test_host_is_the_trainer_name_without_its_plugins(trainer, host):
    assert host_trainer(trainer) == host


def test_host_run_has_the_same_variant_and_config_when_there_is_one():
    kg = [Method("KgCoOp", "vit_b16_ep100_ctxv1", f"shots_16_{w}") for w in ("8.0", "1.0")]
    coop = [Method("CoOp", "vit_b16_ctxv1"), Method("CoOp", "vit_b16_ep50_ctxv1")]
    assert host_of(Method("KgCoOp_PLPP", "vit_b16_ep100_ctxv1", "shots_16_8.0"), kg + coop) == kg[0]
    assert host_of(Method("PLPP", "vit_b16_ep50_ctxv1"), kg + coop) == coop[1]
    assert host_of(Method("PLPP", "rn50"), kg + coop) is None  # two CoOp runs, neither with its config
    assert host_of(Method("PLPP", "rn50"), kg + coop[:1]) == coop[0]  # the only CoOp run
    assert host_of(Method("CoCoOp_PLPP", "vit_b16_c4_ep10_batch1_ctxv1"), kg + coop) is None


def test_a_grid_points_host_is_the_host_at_the_same_point():
    coop = [Method("CoOp", "vit_b16_ctxv1", point=p) for p in ("OPTIM.LR=0.1", "OPTIM.LR=0.2")]
    assert host_of(Method("PLPP", "vit_b16_ctxv1", point="OPTIM.LR=0.2"), coop) == coop[1]
    assert host_of(Method("PLPP", "vit_b16_ctxv1", point="OPTIM.LR=0.3"), coop[:1]) == coop[0]  # else the host's run
