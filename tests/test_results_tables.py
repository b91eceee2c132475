"""``toolkit.results.tables``, ``render``, ``files``, ``plots`` and ``cli``: the tables (one
method's grid, every method side by side with each PLPP variant's difference from its host),
text, Markdown, LaTeX, CSV, JSON, plots and the command line."""
import csv
import json

import numpy as np
import pytest

from result_trees import b2n_folder, b2n_method, eval_log, fewshot, write_run, xd_source
from toolkit import results
from toolkit.results.protocols import PROTOCOLS
from toolkit.results.tables import protocol_tables


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
    assert names == [
        "base2new_bars.png", "fewshot_curves.png", "results.csv", "results.json", "results.md", "results.tex"
    ]
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
    (host,) = data["host_comparisons"]
    assert (host["method"], host["baseline"]) == ("PLPP/vit_b16_ctxv1", "CoOp/vit_b16_ctxv1")
    assert {(r["dataset"], r["metric"]): r["delta"] for r in host["rows"]}[("dtd", "New")] == 4.0

    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| DTD | CoOp/vit_b16_ctxv1 | 79.50 ± 0.41 | 42.00 ± 0.82 | 54.96 |" in markdown
    assert "|  | PLPP/vit_b16_ctxv1 | 80.50 ± 0.41 | 46.00 ± 0.82 | 58.55 |" in markdown
    assert "|  | Δ vs CoOp/vit_b16_ctxv1 | +1.00 | +4.00 | +3.58 |" in markdown
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
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "results.json", "results.md", "results.tex"]
    assert results.main([str(tmp_path), "--protocol", "fewshot", "--trainer", "CoOp"]) == 1  # nothing selected
    assert results.main([str(tmp_path / "absent")]) == 2
    assert results.main([str(tmp_path), "--protocol", "zeroshot"]) == 2
    assert "unknown protocol zeroshot" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Every method side by side
# ---------------------------------------------------------------------------------------------

# trainer: (cfg, shots folder, {dataset: (Base, New)}); two seeds each, 0.5 either side of these
SIDE_BY_SIDE = {
    "PromptSRC_PLPP": ("vit_b16_c2_ep20_batch4_4+4ctx", "shots_16", {"dtd": (83.0, 64.0)}),
    "PromptSRC": ("vit_b16_c2_ep20_batch4_4+4ctx", "shots_16", {"dtd": (83.4, 62.9), "eurosat": (92.9, 73.9)}),
    "IVLP": ("vit_b16_c2_ep5_batch4_2+2ctx", "shots_16", {"dtd": (81.0, 57.0), "eurosat": (95.0, 70.0)}),
    "MaPLe_PLPP": ("vit_b16_c2_ep5_batch4_2ctx", "shots_16", {"dtd": (80.0, 60.0), "eurosat": (94.0, 75.0)}),
    "MaPLe": ("vit_b16_c2_ep5_batch4_2ctx", "shots_16", {"dtd": (80.4, 59.2), "eurosat": (94.1, 73.2)}),
    "KgCoOp_PLPP": ("vit_b16_ep100_ctxv1", "shots_16_8.0", {"dtd": (80.8, 55.0), "eurosat": (86.0, 66.0)}),
    "KgCoOp": ("vit_b16_ep100_ctxv1", "shots_16_8.0", {"dtd": (80.6, 54.1), "eurosat": (85.6, 64.3)}),
    "CoCoOp_PLPP": ("vit_b16_c4_ep10_batch1_ctxv1", "shots_16", {"dtd": (77.5, 57.5), "eurosat": (88.0, 63.0)}),
    "CoCoOp": ("vit_b16_c4_ep10_batch1_ctxv1", "shots_16", {"dtd": (77.0, 56.0), "eurosat": (87.5, 60.0)}),
    "PLPP": ("vit_b16_ctxv1", "shots_16", {"dtd": (80.0, 48.0), "eurosat": (92.0, 60.0)}),
    "CoOp": ("vit_b16_ctxv1", "shots_16", {"dtd": (79.4, 41.2), "eurosat": (92.2, 54.7)}),
}
ZERO_SHOT = {"dtd": (53.2, 59.9), "eurosat": (56.5, 64.1)}


def all_methods(root):
    for trainer, (cfg, shots, values) in SIDE_BY_SIDE.items():
        spread = {d: ((b - 0.5, b + 0.5), (n - 0.5, n + 0.5)) for d, (b, n) in values.items()}
        b2n_method(root, trainer, spread, seeds=(1, 2), cfg=cfg, shots=shots)
    for dataset, accuracies in ZERO_SHOT.items():
        for part, accuracy in zip(("test_base", "test_new"), accuracies):
            folder = b2n_folder(root, part, dataset, "ZeroshotCLIP", "", "vit_b16").parent / "zeroshot"
            write_run(folder, eval_log(accuracy))


def hm(base, new):
    return 2 * base * new / (base + new)


def test_one_table_puts_every_method_side_by_side_with_each_plpp_variant_against_its_host(tmp_path):
    all_methods(tmp_path)
    report = results.collect(str(tmp_path), protocols=["base2new"])
    (table,) = protocol_tables(report, PROTOCOLS["base2new"])
    assert table.header == ["Dataset", "Method", "Base", "New", "HM"]
    blocks = {}
    for row in table.rows:
        name = row[0] or name
        blocks.setdefault(name, []).append(row[1:])
    assert list(blocks) == ["Average (1–2 datasets)", "DTD", "EuroSAT"]  # display names from the catalogue
    kg = "KgCoOp/vit_b16_ep100_ctxv1 shots_16_8.0"
    assert [row[0] for row in blocks["Average (1–2 datasets)"]] == [
        "ZeroshotCLIP/vit_b16",
        "CoOp/vit_b16_ctxv1", "PLPP/vit_b16_ctxv1", "Δ vs CoOp/vit_b16_ctxv1",
        "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1", "CoCoOp_PLPP/vit_b16_c4_ep10_batch1_ctxv1",
        "Δ vs CoCoOp/vit_b16_c4_ep10_batch1_ctxv1",
        kg, "KgCoOp_PLPP/vit_b16_ep100_ctxv1 shots_16_8.0", f"Δ vs {kg}",
        "MaPLe/vit_b16_c2_ep5_batch4_2ctx", "MaPLe_PLPP/vit_b16_c2_ep5_batch4_2ctx",
        "Δ vs MaPLe/vit_b16_c2_ep5_batch4_2ctx",
        "IVLP/vit_b16_c2_ep5_batch4_2+2ctx",
        "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx", "PromptSRC_PLPP/vit_b16_c2_ep20_batch4_4+4ctx",
        "Δ vs PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx (over 1 common dataset)",
    ]
    dtd = {row[0]: row[1:] for row in blocks["DTD"]}
    assert dtd["CoOp/vit_b16_ctxv1"] == ["79.40 ± 0.50", "41.20 ± 0.50", f"{hm(79.4, 41.2):.2f}"]
    assert dtd["ZeroshotCLIP/vit_b16"] == ["53.20", "59.90", f"{hm(53.2, 59.9):.2f}"]
    assert dtd["Δ vs CoOp/vit_b16_ctxv1"] == ["+0.60", "+6.80", f"{hm(80.0, 48.0) - hm(79.4, 41.2):+.2f}"]
    assert dtd[f"Δ vs {kg}"][:2] == ["+0.20", "+0.90"]
    average = {row[0]: row[1:] for row in blocks["Average (1–2 datasets)"]}
    # (80 + 92) / 2 − (79.4 + 92.2) / 2 and (48 + 60) / 2 − (41.2 + 54.7) / 2
    assert average["Δ vs CoOp/vit_b16_ctxv1"][:2] == ["+0.20", "+6.05"]
    assert average["Δ vs PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx (over 1 common dataset)"][:2] == ["-0.40", "+1.10"]
    eurosat = [row[0] for row in blocks["EuroSAT"]]
    assert "PromptSRC_PLPP/vit_b16_c2_ep20_batch4_4+4ctx" not in eurosat
    assert not any("PromptSRC/" in m and "Δ" in m for m in eurosat)
    assert not any(m.startswith("Δ vs ZeroshotCLIP") or m.startswith("Δ vs IVLP") for m in average)


def test_plugin_variants_follow_their_host_each_with_a_delta_row(tmp_path):
    cfg = "vit_b16_ep10_bs4_lr35"  # DePT's CoOp settings, the same for all four
    for trainer, (base, new) in {"CoOp": (80.0, 70.0), "PLPP": (80.5, 72.0), "CoOp_DePT": (83.0, 71.0),
                                 "CoOp_PLPP_DePT": (83.5, 73.0)}.items():
        b2n_method(tmp_path, trainer, {"dtd": ((base,) * 2, (new,) * 2)}, seeds=(1, 2), cfg=cfg)
    report = results.collect(str(tmp_path), protocols=["base2new"])
    (table,) = protocol_tables(report, PROTOCOLS["base2new"])
    dtd = [row[1:] for row in table.rows[[row[0] for row in table.rows].index("DTD"):]]
    assert [row[0] for row in dtd] == [f"CoOp/{cfg}", f"PLPP/{cfg}", f"Δ vs CoOp/{cfg}", f"CoOp_DePT/{cfg}",
                                       f"Δ vs CoOp/{cfg}", f"CoOp_PLPP_DePT/{cfg}", f"Δ vs CoOp/{cfg}"]
    assert [row[1:3] for row in dtd if row[0].startswith("Δ")] == [["+0.50", "+2.00"], ["+3.00", "+1.00"], ["+3.50", "+3.00"]]


def test_side_by_side_table_in_the_terminal_markdown_and_latex(tmp_path, capsys):
    all_methods(tmp_path)
    assert results.main([str(tmp_path), "--protocol", "base2new", "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "Base-to-new generalisation: methods side by side" in printed
    assert "Base-to-new generalisation: CoOp/vit_b16_ctxv1\n" not in printed  # no per-method grids besides it
    line = next(line for line in printed.splitlines() if "Δ vs CoCoOp/" in line)
    assert line.split()[-3:] == ["+0.50", "+2.25", f"{hm(82.75, 60.25) - hm(82.25, 58.0):+.2f}"]
    markdown = (tmp_path / "results" / "results.md").read_text()
    assert "|  | Δ vs CoCoOp/vit_b16_c4_ep10_batch1_ctxv1 | +0.50 | +2.25 |" in markdown
    latex = (tmp_path / "results" / "results.tex").read_text()
    assert r"\caption{Base-to-new generalisation: methods side by side}" in latex
    assert r" & $\Delta$ vs CoCoOp/vit\_b16\_c4\_ep10\_batch1\_ctxv1 & +0.50 & +2.25 & " in latex
    assert r"DTD & ZeroshotCLIP/vit\_b16 & 53.20 & 59.90 & " in latex
    # the table, published vs ours, the reproduction report and the per-seed values
    assert latex.count(r"\begin{table}") == latex.count(r"\end{table}") == 4
