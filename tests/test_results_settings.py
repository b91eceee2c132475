"""``toolkit.results`` never averages runs trained with different settings: seeds whose
``config.yaml`` differ (beyond folders, workers and the seed) become rows of their own, labelled
by what differs; results.json/.csv say which settings each number came from; an ablation grid's
points get an ablation table and a plot; the tables still print when ROOT/results is read-only."""
import csv
import json
import os

import pytest
import yaml

from result_trees import b2n, entry, fewshot, kinds
from toolkit import results
from toolkit.results.cli import main


def record(folder, seed, epochs, **more):
    """A config.yaml as train.py writes it: the settings that matter and some that do not."""
    config = {"SEED": seed, "OUTPUT_DIR": str(folder), "DATASET": {"ROOT": f"/data{seed}", "NAME": "EuroSAT"},
              "DATALOADER": {"NUM_WORKERS": seed}, "TEST": {"FEATURE_CACHE_DIR": f"/cache{seed}"},
              "OPTIM": {"MAX_EPOCH": epochs, "LR": 0.002}, **more}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))


def issue_case(root, epochs=(3, 3, 1)):
    """Seeds 1-2 at OPTIM.MAX_EPOCH 3, seed 3 at 1 (issue 20): once one row of 42.67 ± 16.03."""
    for seed, epoch, base, new in zip((1, 2, 3), epochs, (60.0, 58.0, 10.0), (50.0, 52.0, 20.0)):
        for part, accuracy in (("train_base", base), ("test_new", new)):
            record(b2n(root, part, "eurosat", "CoOp", seed, accuracy), seed, epoch)


def test_seeds_trained_with_other_settings_are_separate_rows_never_one_mean(tmp_path):
    issue_case(tmp_path)
    report = results.collect(str(tmp_path))
    three = entry(report, "base2new", "CoOp/vit_b16_ctxv1 [OPTIM.MAX_EPOCH=3]", "eurosat", "Base")
    one = entry(report, "base2new", "CoOp/vit_b16_ctxv1 [OPTIM.MAX_EPOCH=1]", "eurosat", "Base")
    assert three.values == {"1": 60.0, "2": 58.0} and one.values == {"3": 10.0}
    assert not [e for e in report.entries if e.method.point == ""]  # no row mixes them
    assert kinds(report)[0] == "settings-differ"
    assert "different settings (OPTIM.MAX_EPOCH)" in report.notes[0].message
    assert "seed 1, 2: OPTIM.MAX_EPOCH=3; seed 3: OPTIM.MAX_EPOCH=1" in report.notes[0].message
    text = results.report_text(report)
    assert "59.00 ± 1.00" in text and "42.67" not in text


def test_the_files_record_the_settings_of_each_number(tmp_path):
    issue_case(tmp_path)
    assert main([str(tmp_path), "--no-plots"]) == 0
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    base = {e["point"]: e for e in data["entries"] if e["dataset"] == "eurosat" and e["metric"] == "Base"}
    assert set(base) == {"OPTIM.MAX_EPOCH=3", "OPTIM.MAX_EPOCH=1"}
    epochs = {data["settings"][sid]["OPTIM.MAX_EPOCH"] for sid in base["OPTIM.MAX_EPOCH=3"]["settings"]}
    assert epochs == {3} and {data["settings"][s]["OPTIM.MAX_EPOCH"] for s in base["OPTIM.MAX_EPOCH=1"]["settings"]} == {1}
    assert all("SEED" not in s and "OUTPUT_DIR" not in s for s in data["settings"].values())
    assert all(run["settings"] in data["settings"] for run in data["runs"])
    with open(tmp_path / "results" / "results.csv") as f:
        rows = [row for row in csv.DictReader(f) if row["dataset"] == "eurosat" and row["metric"] == "Base"]
    assert sorted(row["point"] for row in rows) == ["OPTIM.MAX_EPOCH=1", "OPTIM.MAX_EPOCH=3"]
    assert all(row["settings"] and set(row["settings"].split()) <= set(data["settings"]) for row in rows)


def test_settings_that_cannot_change_a_result_do_not_split(tmp_path):
    issue_case(tmp_path, epochs=(3, 3, 3))  # only the seed, folders, workers and cache folder differ
    report = results.collect(str(tmp_path))
    assert entry(report, "base2new", "CoOp/vit_b16_ctxv1", "eurosat", "Base").n == 3
    assert "settings-differ" not in kinds(report)


def test_an_evaluation_goes_with_its_training_runs_settings(tmp_path):
    """The evaluations were made with the same overrides; only the training runs differ."""
    for seed, epoch in ((1, 3), (2, 1)):
        record(b2n(tmp_path, "train_base", "eurosat", "CoOp", seed, 60.0 + seed), seed, epoch)
        record(b2n(tmp_path, "test_new", "eurosat", "CoOp", seed, 50.0 + seed), seed, 3)
    report = results.collect(str(tmp_path))
    assert entry(report, "base2new", "CoOp/vit_b16_ctxv1 [OPTIM.MAX_EPOCH=1]", "eurosat", "New").values == {"2": 52.0}
    assert entry(report, "base2new", "CoOp/vit_b16_ctxv1 [OPTIM.MAX_EPOCH=3]", "eurosat", "HM").mean > 0


def test_a_seed_without_records_is_not_averaged_with_recorded_ones(tmp_path):
    issue_case(tmp_path, epochs=(3, 3, 3))
    for part in ("train_base", "test_new"):
        os.remove(tmp_path / "base2new" / part / "eurosat" / "shots_16" / "CoOp" / "vit_b16_ctxv1" / "seed3" / "config.yaml")
    report = results.collect(str(tmp_path))
    assert entry(report, "base2new", "CoOp/vit_b16_ctxv1 [settings not recorded]", "eurosat", "Base").n == 1


def grid_tree(root):
    """A 2 x 2 grid (OPTIM.LR x OPTIM.MAX_EPOCH), two seeds, two datasets; (0.2, 2) is the best."""
    points = [(lr, epochs) for lr in ("0.1", "0.2") for epochs in ("1", "2")]
    for i, (lr, epochs) in enumerate(points):
        cfg = f"vit_b16_ctxv1@OPTIM.LR={lr},OPTIM.MAX_EPOCH={epochs}"
        for seed in (1, 2):
            for dataset in ("eurosat", "dtd"):
                b2n(root, "train_base", dataset, "PLPP", seed, 60 + 3 * i + seed, cfg)
                b2n(root, "test_new", dataset, "PLPP", seed, 50 + i + 2 * seed, cfg)
    return points


def test_a_grid_makes_an_ablation_table_with_the_best_row_marked(tmp_path):
    points = grid_tree(tmp_path)
    assert main([str(tmp_path)]) == 0
    table = (tmp_path / "results" / "results.md").read_text().split("ablation of PLPP/vit_b16_ctxv1")[1].split("###")[0]
    rows = [line for line in table.splitlines() if line.startswith("| 0.")]
    assert [row.split(" | ")[:2] for row in rows] == [["| " + lr, epochs] for lr, epochs in points]
    assert rows[-1].endswith("| best |") and sum("best |" in row for row in rows) == 1
    assert "70.50 ± 0.50" in rows[-1]  # Base: 60 + 9 + {1, 2} on both datasets, std over the seeds
    assert (tmp_path / "results" / "ablation.png").stat().st_size > 0
    report = results.collect(str(tmp_path))
    assert entry(report, "base2new", "PLPP/vit_b16_ctxv1 [OPTIM.LR=0.1,OPTIM.MAX_EPOCH=2]", "dtd", "Base").n == 2


def test_tables_still_print_when_the_results_folder_cannot_be_written(tmp_path, capsys):
    issue_case(tmp_path, epochs=(3, 3, 3))
    (tmp_path / "results").write_text("a file where the folder would go")
    assert main([str(tmp_path), "--no-plots"]) == 2
    out, err = capsys.readouterr()
    assert "EuroSAT" in out and "42.67 ± 23.11" in out and "Files:" not in out
    assert len(err.strip().splitlines()) == 1 and f"could not write the results files to {tmp_path / 'results'}" in err
    assert "--out" in err


@pytest.mark.parametrize("point, values", [
    ("OPTIM.LR=0.1,OPTIM.MAX_EPOCH=2", {"OPTIM.LR": "0.1", "OPTIM.MAX_EPOCH": "2"}),
    ("INPUT.SIZE=[224, 224],OPTIM.LR=0.1", {"INPUT.SIZE": "[224, 224]", "OPTIM.LR": "0.1"}),
    ("settings not recorded", {"settings": "settings not recorded"}),
])
def test_point_labels_read_back(point, values):
    from toolkit.results.ablation import point_values

    assert point_values(point) == values


def test_few_shot_grid_folders_read_back_as_points(tmp_path):
    for lr, bonus in (("0.1", 0.0), ("0.2", 5.0)):
        for shots in (1, 4):
            for seed in (1, 2):
                fewshot(tmp_path, "dtd", "CoOp", f"vit_b16@OPTIM.LR={lr}", shots, seed, 40 + 5 * shots + bonus + seed)
    report = results.collect(str(tmp_path), protocols=["fewshot"])
    assert entry(report, "fewshot", "CoOp/vit_b16 nctx16_cscFalse_ctpend [OPTIM.LR=0.2]", "dtd", "4 shots").mean == 66.5
    table = results.report_text(report).split("ablation of CoOp/vit_b16 nctx16_cscFalse_ctpend")[1]
    rows = [line.split() for line in table.splitlines()[3:5]]
    assert rows == [["0.1", "46.50", "±", "0.50", "61.50", "±", "0.50", "2", "1"],
                    ["0.2", "51.50", "±", "0.50", "66.50", "±", "0.50", "2", "1", "best"]]
