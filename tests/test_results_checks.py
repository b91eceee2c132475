"""``toolkit.results.checks``: the warnings (missing seeds, unfinished runs, logs without a
result, collapsed seeds, partial averages), each saying what to do."""
import shutil

import pytest

from result_trees import b2n_method, entry, training_log, write_run
from toolkit import results
from toolkit.results.checks import collapsed_seeds


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
    assert [seed for seed, _, _ in collapsed_seeds(values)] == collapsed


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
