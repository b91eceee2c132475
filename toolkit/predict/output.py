"""Predictions as files: CSV (header ``path,label_1,prob_1,...``) or JSON (a list of the same records)."""
import csv
import json
import os
from typing import Sequence

from .classifier import Prediction

FORMATS = (".csv", ".json")


def write_predictions(predictions: Sequence[Prediction], path: str, topk: int) -> None:
    """Write one row per image to ``path`` (.csv or .json), through a temporary file."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise ValueError(f"--out must end in .csv or .json, got {path}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    records = [p.record() for p in predictions]
    partial = path + ".partial"
    with open(partial, "w", newline="") as f:
        if extension == ".json":
            json.dump(records, f, indent=1)
            f.write("\n")
        else:
            k = min([topk] + [len(p.labels) for p in predictions])
            fields = ["path"] + [name for i in range(1, k + 1) for name in (f"label_{i}", f"prob_{i}")]
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            for record in records:
                writer.writerow({**record, **{key: f"{value:.6f}" for key, value in record.items() if key.startswith("prob_")}})
    os.replace(partial, path)
