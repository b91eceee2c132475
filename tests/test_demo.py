"""The README's first command, on the tiny CLIP: PLPP and CoOp learn the base classes."""
import json
import os

from toolkit import demo


def test_demo_trains_both_methods_above_chance_and_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CLIP_CHECKPOINT", raising=False)
    monkeypatch.setattr(demo, "REAL_CLIP", str(tmp_path / "no-real-weights.pt"))
    monkeypatch.setattr(demo, "TINY_CLIP", str(tmp_path / "tiny.pt"))
    output = str(tmp_path / "demo")

    assert demo.main(["--output", output, "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "CLIP: a tiny random-weight CLIP" in out
    assert "epoch 30/30: training loss" in out and "Base-to-new generalisation" in out

    with open(os.path.join(output, "results", "results.json")) as f:
        summary = json.load(f)
    base = {
        row["method"]: row["mean"]
        for row in summary["entries"]
        if row["dataset"] == "shapes" and row["metric"] == "Base"
    }
    assert set(base) == {"CoOp/vit_b16_ep50_ctxv1", "PLPP/vit_b16_ep50_ctxv1"}
    assert all(accuracy > 20.0 for accuracy in base.values())  # 5 base classes: chance is 20%
    assert os.path.getsize(os.path.join(output, "results", "base2new_bars.png")) > 0
