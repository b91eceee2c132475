"""train.py as a user runs it: CoOp's flags, and one-line errors (no traceback) for bad names."""
import os
import subprocess
import sys

import pytest

from reliability import one_line, train_cli as in_process  # noqa: F401  (in_process: a fixture)
from runs import REPO, make_dataset, train_args

COOP_FLAGS = ["--root", "--output-dir", "--resume", "--seed", "--source-domains", "--target-domains", "--transforms",
              "--config-file", "--dataset-config-file", "--trainer", "--backbone", "--head", "--eval-only",
              "--model-dir", "--load-epoch", "--no-train"]


def train_cli(*argv: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(REPO, "train.py"), *argv], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


def test_help_lists_coops_flags_and_trailing_opts():
    done = train_cli("--help")
    assert done.returncode == 0, done.stderr
    for flag in COOP_FLAGS:
        assert flag in done.stdout, flag
    assert "opts" in done.stdout


@pytest.mark.parametrize("change,message", [
    ({"trainer": "Coop"}, 'Unknown trainer "Coop" (TRAINER.NAME); did you mean "CoOp"?'),
    ({"opts": ["TRAINER.COOP.N_CTXS", "4"]},
     "Unknown config key TRAINER.COOP.N_CTXS on the command line; did you mean TRAINER.COOP.N_CTX?"),
    ({"dataset_yaml": "DATASET:\n  NAME: EuroSat\n"}, 'Unknown dataset "EuroSat" (DATASET.NAME); did you mean "EuroSAT"?'),
    ({"dataset_yaml": "DATASET:\n  NAME: EuroSAT\n  NUM_SHOT: 4\n"}, "Unknown config key DATASET.NUM_SHOT in {yaml}; did you mean DATASET.NUM_SHOTS?"),
])
def test_bad_names_fail_in_one_line_naming_the_closest(tmp_path, clip_checkpoint, in_process, change, message):
    root = make_dataset(str(tmp_path / "data"))
    out = tmp_path / "out"
    argv = train_args(root, str(out), opts=change.get("opts", ()))
    argv[argv.index("--trainer") + 1] = change.get("trainer", "CoOp")
    yaml = tmp_path / "dataset.yaml"
    if "dataset_yaml" in change:
        yaml.write_text(change["dataset_yaml"])
        argv[argv.index("--dataset-config-file") + 1] = str(yaml)

    # train.py's entry point in this process (a fresh interpreter per case costs a torch import;
    # test_help_lists_coops_flags_and_trailing_opts runs the real train.py).
    assert one_line(in_process(argv), 2).startswith(f"error: {message.format(yaml=yaml)}")
