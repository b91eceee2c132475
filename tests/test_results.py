"""``python -m toolkit.results``: fake output trees in the scripts' layouts, with logs in the
format the evaluator prints, read back into per-seed values, mean ± std, HM, published-style
averages, warnings, files and plots. No torch, no training."""

import csv
import json
import shutil

import numpy as np
import pytest

from toolkit import results

# CoOp, base-to-new, per dataset (benchmarks.md 3.2, CoCoOp paper Table 1): Base, New.
COOP_BASE2NEW = {
    "imagenet": (76.47, 67.88),
    "caltech101": (98.00, 89.81),
    "oxford_pets": (93.67, 95.29),
    "stanford_cars": (78.12, 60.40),
    "oxford_flowers": (97.60, 59.67),
    "food101": (88.33, 82.26),
    "fgvc_aircraft": (40.44, 22.30),
    "sun397": (80.60, 65.89),
    "dtd": (79.44, 41.18),
    "eurosat": (92.19, 54.74),
    "ucf101": (84.69, 56.05),
}


def result_block(accuracy):
    total = 1000
    correct = round(accuracy * total / 100)
    return [
        "=> result",
        f"* total: {total:,}",
        f"* correct: {correct:,}",
        f"* accuracy: {accuracy}%",
        f"* error: {100 - accuracy:.1f}%",
        f"* macro_f1: {accuracy - 0.5:.1f}%",
    ]


def training_log(accuracy=None, epochs=2, stop_at_epoch=None, end_signal="Finish training"):
    """A training log as train.py prints it; ``stop_at_epoch`` cuts it off (an interrupted run),
    ``accuracy=None`` ends it without a test block."""
    lines = [
        "Setting fixed seed: 1",
        "Loading trainer: CoOp",
        "Loading dataset: DescribableTextures",
        "Building custom CLIP",
    ]
    for epoch in range(1, (stop_at_epoch or epochs) + 1):
        lines.append(
            f"epoch [{epoch}/{epochs}] batch [5/5] time 0.101 (0.350) data 0.000 (0.210) "
            f"loss 1.2345 (1.4000) lr 2.0000e-03 eta 0:00:{epochs - epoch:02d}"
        )
    if stop_at_epoch:
        return lines
    lines += [f"Checkpoint saved to prompt_learner/model.pth.tar-{epochs}", end_signal]
    if accuracy is not None:
        lines += ["Deploy the last-epoch model", "Evaluate on the *test* set"] + result_block(accuracy)
    return lines + ["Elapsed: 0:01:02"]


def eval_log(accuracy):
    return [
        "Setting fixed seed: 1",
        "Loading trainer: CoOp",
        'Loading weights to prompt_learner from "output/model" (epoch = 2)',
        "Evaluate on the *test* set",
    ] + result_block(accuracy)


def write_run(folder, lines, marker=True, name="log.txt"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")
    if marker:
        (folder / "finished.json").write_text('{"mode": "train"}')
    return folder


def b2n(root, part, dataset, trainer, seed, accuracy, cfg="vit_b16_ctxv1", **kw):
    folder = root / "base2new" / part / dataset / "shots_16" / trainer / cfg / f"seed{seed}"
    lines = training_log(accuracy) if part == "train_base" else eval_log(accuracy)
    return write_run(folder, lines, **kw)


def b2n_method(root, trainer, values, seeds=(1, 2, 3)):
    """``values``: dataset -> (Base per seed, New per seed)."""
    for dataset, (bases, news) in values.items():
        for seed, base, new in zip(seeds, bases, news):
            b2n(root, "train_base", dataset, trainer, seed, base)
            b2n(root, "test_new", dataset, trainer, seed, new)


def fewshot(root, dataset, trainer, cfg, shots, seed, accuracy, settings="nctx16_cscFalse_ctpend"):
    folder = root / dataset / trainer / f"{cfg}_{shots}shots" / settings / f"seed{seed}"
    return write_run(folder, training_log(accuracy))


def xd_source(root, trainer, seed, accuracy, cfg="vit_b16_ep50_ctxv1"):
    return write_run(root / "imagenet" / trainer / f"{cfg}_16shots" / f"seed{seed}", training_log(accuracy))


def xd_target(root, trainer, dataset, seed, accuracy, cfg="vit_b16_ep50_ctxv1"):
    return write_run(root / "evaluation" / trainer / f"{cfg}_16shots" / dataset / f"seed{seed}", eval_log(accuracy))


def entry(report, protocol, method_label, dataset, column):
    found = [
        e
        for e in report.entries
        if (e.protocol, e.method.label, e.dataset, e.column) == (protocol, method_label, dataset, column)
    ]
    assert len(found) == 1, f"{protocol} {method_label} {dataset} {column}: {len(found)} entries"
    return found[0].summary


def kinds(report):
    return [n.kind for n in report.notes]


# ---------------------------------------------------------------------------------------------
# Reading logs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("end_signal", ["Finish training", "Finished training"])
def test_training_log_result_is_the_last_accuracy_after_the_end_signal(tmp_path, end_signal):
    lines = training_log(epochs=2, end_signal=end_signal)
    # a validation block printed during training must not count; the final test does
    lines[4:4] = result_block(42.0)
    lines[lines.index("Elapsed: 0:01:02") :] = result_block(80.0) + result_block(81.3)
    path = tmp_path / "log.txt"
    path.write_text("\n".join(lines))
    reading = results.read_log(str(path), eval_only=False)
    assert reading.ended
    assert reading.metrics == {"accuracy": 81.3, "error": 18.7, "macro_f1": 80.8}


def test_interrupted_training_log_has_no_result_even_with_a_validation_block(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("\n".join(training_log(epochs=10, stop_at_epoch=3) + result_block(42.0)))
    reading = results.read_log(str(path), eval_only=False)
    assert (reading.metrics, reading.ended, reading.progress) == ({}, False, "epoch [3/10]")


def test_eval_only_log_reads_the_result_block(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("\n".join(eval_log(63.4)))
    assert results.read_log(str(path), eval_only=True).metrics["accuracy"] == 63.4
    assert results.read_log(str(path), eval_only=False).metrics == {}


def test_resumed_run_takes_the_result_from_the_newest_log(tmp_path):
    folder = write_run(tmp_path / "seed1", training_log(epochs=10, stop_at_epoch=4), marker=False)
    write_run(folder, training_log(77.0, epochs=10), name="log.txt-2026-01-02-03-04-05")
    run = results.read_run(str(folder), "1", eval_only=False)
    assert (run.status, run.metrics["accuracy"], run.older_results) == ("ok", 77.0, ())
    assert run.log == "log.txt-2026-01-02-03-04-05"
    write_run(folder, training_log(70.0, epochs=10), name="log.txt-2026-01-01-00-00-00")
    run = results.read_run(str(folder), "1", eval_only=False)
    assert run.metrics["accuracy"] == 77.0 and run.older_results == ("log.txt-2026-01-01-00-00-00",)


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
# Warnings
# ---------------------------------------------------------------------------------------------


def test_missing_seed_unfinished_run_and_log_without_accuracy_are_warned(tmp_path):
    values = ((79.0, 79.5, 80.0), (41.0, 42.0, 43.0))
    b2n_method(tmp_path, "CoOp", {"dtd": values, "eurosat": values, "ucf101": values})
    method_dir = "shots_16/CoOp/vit_b16_ctxv1"
    shutil.rmtree(tmp_path / f"base2new/test_new/dtd/{method_dir}/seed3")
    interrupted = write_run(
        tmp_path / f"base2new/train_base/eurosat/{method_dir}/seed2", training_log(epochs=10, stop_at_epoch=3)
    )
    (interrupted / "finished.json").unlink()
    write_run(tmp_path / f"base2new/train_base/ucf101/{method_dir}/seed2", training_log(None))
    report = results.collect(str(tmp_path))
    assert [(n.kind, n.message) for n in report.notes if n.kind != "partial-average"] == [
        (
            "unfinished",
            f"base2new/train_base/eurosat/{method_dir}/seed2: unfinished run (no 'Finish training' in the log, "
            "last progress epoch [3/10]); still running, or rerun its script to resume",
        ),
        (
            "no-result",
            f"base2new/train_base/ucf101/{method_dir}/seed2: no result "
            "(no '* accuracy: X%' line after 'Finish training')",
        ),
        (
            "missing-seed",
            "base2new CoOp/vit_b16_ctxv1 dtd (test_new): seed 3 missing, other runs of this method have "
            "seeds 1, 2, 3; e.g. run base2new_test.sh dtd 3",
        ),
    ]
    # the numbers that exist are still reported, with the smaller seed count shown
    assert entry(report, "base2new", "CoOp/vit_b16_ctxv1", "eurosat", "Base").values == {"1": 79.0, "3": 80.0}
    assert entry(report, "base2new", "CoOp/vit_b16_ctxv1", "dtd", "New").n == 2
    assert "41.50 ± 0.50 (n=2)" in results.report_text(report)


def test_runs_of_the_reference_repositories_parse_without_finished_marker(tmp_path):
    for seed in (1, 2, 3):
        b2n(tmp_path, "train_base", "dtd", "MaPLe", seed, 80.0 + seed, cfg="vit_b16_c2_ep5_batch4_2ctx", marker=False)
        b2n(tmp_path, "test_new", "dtd", "MaPLe", seed, 59.0 + seed, cfg="vit_b16_c2_ep5_batch4_2ctx", marker=False)
    report = results.collect(str(tmp_path))
    assert entry(report, "base2new", "MaPLe/vit_b16_c2_ep5_batch4_2ctx", "dtd", "New").mean == pytest.approx(61.0)
    assert kinds(report) == ["partial-average"]


@pytest.mark.parametrize(
    "values, collapsed",
    [
        ({"1": 12.0, "2": 15.2, "3": 63.4}, ["1", "2"]),  # user research #7, CoOp on DTD
        ({"1": 80.9, "2": 81.2, "3": 80.5}, []),
        ({"1": 81.0, "2": 81.1, "3": 74.0}, ["3"]),  # 7 points below two close seeds
        ({"1": 81.0, "2": 81.1, "3": 78.0}, []),  # 3 points: noise, not a collapse
        ({"1": 70.0, "2": 50.0}, ["2"]),
    ],
)
def test_collapsed_seed_rule(values, collapsed):
    assert [seed for seed, _, _ in results.collapsed_seeds(values)] == collapsed


def test_collapsed_seed_is_warned_and_kept_in_the_mean(tmp_path):
    b2n_method(tmp_path, "CoOp", {"dtd": ((79.0, 79.5, 80.0), (12.0, 15.2, 63.4))})
    report = results.collect(str(tmp_path))
    collapsed = [n.message for n in report.notes if n.kind == "collapsed-seed"]
    head, tail = "base2new CoOp/vit_b16_ctxv1 dtd New: seed", "collapsed run? (it is included in the mean)"
    assert collapsed == [
        f"{head} 1 = 12.0 is 27.3 points below the other seeds' median (39.3); {tail}",
        f"{head} 2 = 15.2 is 22.5 points below the other seeds' median (37.7); {tail}",
    ]
    assert entry(report, "base2new", "CoOp/vit_b16_ctxv1", "dtd", "New").mean == pytest.approx(30.2)


# ---------------------------------------------------------------------------------------------
# Comparison, files, plots, command line
# ---------------------------------------------------------------------------------------------


def two_methods(root):
    b2n_method(
        root,
        "CoOp",
        {"dtd": ((79.0, 79.5, 80.0), (41.0, 42.0, 43.0)), "eurosat": ((92.0, 92.2, 92.4), (54.0, 55.0, 56.0))},
    )
    b2n_method(root, "PLPP", {"dtd": ((80.0, 80.5, 81.0), (45.0, 46.0, 47.0))})
    for seed in (1, 2):
        for shots, accuracy in ((1, 50.0), (4, 60.0), (16, 70.0)):
            fewshot(root, "dtd", "PLPP", "vit_b16", shots, seed, accuracy + seed)


def test_baseline_comparison_uses_common_datasets(tmp_path):
    two_methods(tmp_path)
    report = results.collect(str(tmp_path), protocols=["base2new"], trainers=["PLPP"], baseline="CoOp")
    (comparison,) = report.comparisons
    deltas = {(d.dataset, d.column): round(d.value - d.baseline, 4) for d in comparison.deltas}
    assert deltas[("dtd", "Base")] == 1.0 and deltas[("dtd", "New")] == 4.0
    assert deltas[("average", "New")] == 4.0  # eurosat, which PLPP lacks, is left out of both averages
    assert ("eurosat", "Base") not in deltas
    text = results.report_text(report)
    assert "PLPP/vit_b16_ctxv1 vs CoOp/vit_b16_ctxv1" in text and "Average (1 common dataset)" in text


def test_files_hold_tables_per_seed_values_and_warnings(tmp_path):
    two_methods(tmp_path)
    report = results.collect(str(tmp_path))
    files = results.write_outputs(report, str(tmp_path / "out"))
    names = sorted(p.rsplit("/", 1)[-1] for p in files)
    assert names == ["base2new_bars.png", "fewshot_curves.png", "results.csv", "results.json", "results.md"]
    for png in ("base2new_bars.png", "fewshot_curves.png"):
        data = (tmp_path / "out" / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000

    with open(tmp_path / "out" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    dtd_new = next(
        r
        for r in rows
        if (r["protocol"], r["method"], r["dataset"], r["metric"]) == ("base2new", "PLPP/vit_b16_ctxv1", "dtd", "New")
    )
    assert (dtd_new["mean"], dtd_new["n"], dtd_new["seed1"], dtd_new["seed3"]) == ("46.0", "3", "45.0", "47.0")
    assert float(dtd_new["std"]) == pytest.approx(np.std([45.0, 46.0, 47.0]), abs=1e-4)
    fewshot_16 = next(
        r for r in rows if r["protocol"] == "fewshot" and r["dataset"] == "dtd" and r["metric"] == "16 shots"
    )
    assert (fewshot_16["shots"], fewshot_16["seed3"]) == ("16", "")

    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["warnings"] == [{"kind": n.kind, "message": n.message} for n in report.notes] != []
    assert len(data["runs"]) == 3 * 2 * 2 + 3 * 2 + 3 * 2
    assert sorted(data["files"]) == sorted(files)

    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| DTD | 80.50 ± 0.41 | 46.00 ± 0.82 | 58.55 |" in markdown
    assert "![fewshot_curves.png](fewshot_curves.png)" in markdown
    assert "| PLPP/vit_b16_ctxv1 | DTD | New | 45.0 | 46.0 | 47.0 |" in markdown


def test_no_plot_without_its_data(tmp_path):
    xd_source(tmp_path, "PLPP", 1, 71.0)
    files = results.write_outputs(results.collect(str(tmp_path)), str(tmp_path / "out"))
    assert not [f for f in files if f.endswith(".png")]


def test_command_line(tmp_path, capsys):
    two_methods(tmp_path)
    out = tmp_path / "tables"
    argv = [str(tmp_path), "--out", str(out), "--protocol", "base2new", "--trainer", "PLPP", "--baseline", "CoOp"]
    assert results.main(argv + ["--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "Base-to-new generalisation: PLPP/vit_b16_ctxv1 vs CoOp/vit_b16_ctxv1" in printed
    assert "Few-shot" not in printed
    assert str(out / "results.md") in printed
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "results.json", "results.md"]
    assert results.main([str(tmp_path), "--protocol", "fewshot", "--trainer", "CoOp"]) == 1  # nothing selected
    assert results.main([str(tmp_path / "absent")]) == 2
    assert results.main([str(tmp_path), "--protocol", "zeroshot"]) == 2
    assert "unknown protocol zeroshot" in capsys.readouterr().err
