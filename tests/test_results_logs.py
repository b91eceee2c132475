"""``toolkit.results.logs``: one run's result from its logs, ours and the reference engines'."""
import pytest

from result_trees import (
    dassl_eval_log,
    dassl_training_log,
    eval_log,
    kgcoop_eval_log,
    kgcoop_training_log,
    result_block,
    training_log,
    write_run,
)
from toolkit.results.logs import read_log, read_run


def write_log(tmp_path, lines, name="log.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("end_signal", ["Finish training", "Finished training"])
def test_training_log_result_is_the_last_accuracy_after_the_end_signal(tmp_path, end_signal):
    lines = training_log(epochs=2, end_signal=end_signal)
    # a validation block printed during training must not count; the final test does
    lines[4:4] = result_block(42.0)
    lines[lines.index("Elapsed: 0:01:02") :] = result_block(80.0) + result_block(81.3)
    reading = read_log(write_log(tmp_path, lines), eval_only=False)
    assert reading.ended
    assert reading.metrics == {"accuracy": 81.3, "error": 18.7, "macro_f1": 80.8}


def test_interrupted_training_log_has_no_result_even_with_a_validation_block(tmp_path):
    path = write_log(tmp_path, training_log(epochs=10, stop_at_epoch=3) + result_block(42.0))
    reading = read_log(path, eval_only=False)
    assert (reading.metrics, reading.ended, reading.progress) == ({}, False, "epoch [3/10]")


def test_eval_only_log_reads_the_result_block(tmp_path):
    path = write_log(tmp_path, eval_log(63.4))
    assert read_log(path, eval_only=True).metrics["accuracy"] == 63.4
    assert read_log(path, eval_only=False).metrics == {}


def test_resumed_run_takes_the_result_from_the_newest_log(tmp_path):
    folder = write_run(tmp_path / "seed1", training_log(epochs=10, stop_at_epoch=4), marker=False)
    write_run(folder, training_log(77.0, epochs=10), name="log.txt-2026-01-02-03-04-05")
    run = read_run(str(folder), "1", eval_only=False)
    assert (run.status, run.metrics["accuracy"], run.older_results) == ("ok", 77.0, ())
    assert run.log == "log.txt-2026-01-02-03-04-05"
    write_run(folder, training_log(70.0, epochs=10), name="log.txt-2026-01-01-00-00-00")
    run = read_run(str(folder), "1", eval_only=False)
    assert run.metrics["accuracy"] == 77.0 and run.older_results == ("log.txt-2026-01-01-00-00-00",)


# ---------------------------------------------------------------------------------------------
# The reference repositories' engines
# ---------------------------------------------------------------------------------------------


def test_dassl_logs_of_the_reference_repositories(tmp_path):
    """Dassl.pytorch (CoOp/CoCoOp, MaPLe, PromptSRC): one decimal, the config dump and dataset
    table before training do not disturb the reading."""
    train = read_log(write_log(tmp_path, dassl_training_log("CoCoOp", "vit_b16_c4_ep10_batch1_ctxv1", 75.24)), False)
    assert train.metrics == {"accuracy": 75.2, "error": 24.8, "macro_f1": 74.7} and train.ended
    evaluation = read_log(write_log(tmp_path, dassl_eval_log("MaPLe", "vit_b16_c2_ep5_batch4_2ctx", 70.06)), True)
    assert evaluation.metrics["accuracy"] == 70.1


def test_kgcoop_fork_logs(tmp_path):
    """KgCoOp's Dassl fork: "Finished training", two decimals, ``epoch [a/b][i/n]`` progress."""
    assert read_log(write_log(tmp_path, kgcoop_training_log(80.734)), False).metrics["accuracy"] == 80.73
    assert read_log(write_log(tmp_path, kgcoop_eval_log(73.6)), True).metrics["error"] == 26.4
    unfinished = read_log(write_log(tmp_path, kgcoop_training_log(0, epochs=100, stop_at_epoch=37)), False)
    assert (unfinished.metrics, unfinished.ended, unfinished.progress) == ({}, False, "epoch [37/100]")


def test_interrupted_reference_run_without_marker_is_unfinished_with_its_progress(tmp_path):
    folder = write_run(tmp_path / "seed1", dassl_training_log("MaPLe", "c", 0, epochs=5, stop_at_epoch=2), marker=False)
    run = read_run(str(folder), "1", eval_only=False)
    assert (run.status, run.detail) == ("unfinished", "no 'Finish training' in the log, last progress epoch [2/5]")


def test_reference_rerun_into_the_same_folder_reads_the_newest_log(tmp_path):
    """MaPLe's and PromptSRC's scripts rerun into an existing folder; Dassl's logger then writes
    ``log.txt-<time>`` beside the first log. The same result twice is not a conflict."""
    folder = tmp_path / "seed2"
    write_run(folder, dassl_training_log("PromptSRC", "c", 0, epochs=20, stop_at_epoch=7), marker=False)
    resumed = dassl_training_log("PromptSRC", "c", 83.9, epochs=20)
    write_run(folder, resumed, marker=False, name="log.txt-2023-08-01-10-00-00")
    run = read_run(str(folder), "2", eval_only=False)
    assert (run.status, run.metrics["accuracy"], run.log) == ("ok", 83.9, "log.txt-2023-08-01-10-00-00")
    evaluated = tmp_path / "test_new"
    for name in ("log.txt", "log.txt-2023-08-01-11-00-00"):
        write_run(evaluated, dassl_eval_log("PromptSRC", "c", 76.1, epoch=20), marker=False, name=name)
    run = read_run(str(evaluated), "2", eval_only=True)
    assert (run.status, run.metrics["accuracy"], run.older_results) == ("ok", 76.1, ())
