"""dassl.evaluation and dassl.metrics: printed result blocks, macro F1, top-k accuracy."""
import pytest
import torch

from dassl.config import get_cfg_default
from dassl.evaluation import Classification, build_evaluator
from dassl.metrics import compute_accuracy


def logits_for(predictions, num_classes=3):
    return torch.nn.functional.one_hot(torch.tensor(predictions), num_classes).float()


# y_true 0 0 0 1 1 2, y_pred 0 0 1 1 2 2: per-class F1 = 0.8, 0.5, 2/3 -> macro 65.6%.
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def evaluate(cfg, lab2cname=None):
    evaluator = Classification(cfg, lab2cname=lab2cname)
    evaluator.process(logits_for(Y_PRED[:4]), torch.tensor(Y_TRUE[:4]))
    evaluator.process(logits_for(Y_PRED[4:]), torch.tensor(Y_TRUE[4:]))
    return evaluator.evaluate()


def test_result_block_and_values(capsys):
    results = evaluate(get_cfg_default())
    assert capsys.readouterr().out == (
        "=> result\n* total: 6\n* correct: 4\n* accuracy: 66.7%\n* error: 33.3%\n* macro_f1: 65.6%\n"
    )
    assert list(results) == ["accuracy", "error_rate", "macro_f1"]
    assert results["accuracy"] == pytest.approx(200 / 3)
    assert results["macro_f1"] == pytest.approx(100 * (0.8 + 0.5 + 2 / 3) / 3)


def test_counts_use_thousands_separators(capsys):
    evaluator = Classification(get_cfg_default())
    evaluator.process(logits_for([1] * 1500, 2), torch.tensor([1] * 1200 + [0] * 300))
    evaluator.evaluate()
    assert "* total: 1,500\n* correct: 1,200\n" in capsys.readouterr().out


def test_macro_f1_ignores_labels_only_predicted():
    evaluator = Classification(get_cfg_default())
    evaluator.process(logits_for([0, 2]), torch.tensor([0, 0]))  # label 2 never occurs in y_true
    assert evaluator.evaluate()["macro_f1"] == pytest.approx(100 * 2 / 3)


def test_per_class_block(capsys):
    cfg = get_cfg_default()
    cfg.TEST.PER_CLASS_RESULT = True
    results = evaluate(cfg, lab2cname={0: "cat", 1: "dog", 2: "fish"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[6:] == [
        "=> per-class result",
        "* class: 0 (cat)\ttotal: 3\tcorrect: 2\tacc: 66.7%",
        "* class: 1 (dog)\ttotal: 2\tcorrect: 1\tacc: 50.0%",
        "* class: 2 (fish)\ttotal: 1\tcorrect: 1\tacc: 100.0%",
        "* average: 72.2%",
    ]
    assert results["perclass_accuracy"] == pytest.approx((200 / 3 + 50 + 100) / 3)


def test_reset_forgets_previous_batches(capsys):
    evaluator = Classification(get_cfg_default())
    evaluator.process(logits_for([0]), torch.tensor([1]))
    evaluator.reset()
    evaluator.process(logits_for([1]), torch.tensor([1]))
    assert evaluator.evaluate()["accuracy"] == 100.0


def test_confusion_matrix_is_row_normalised(tmp_path):
    cfg = get_cfg_default()
    cfg.TEST.COMPUTE_CMAT = True
    cfg.OUTPUT_DIR = str(tmp_path)
    evaluate(cfg)
    cmat = torch.load(tmp_path / "cmat.pt", weights_only=True)
    expected = torch.tensor([[2 / 3, 1 / 3, 0], [0, 0.5, 0.5], [0, 0, 1]], dtype=torch.float64)
    assert torch.allclose(cmat, expected)


def test_build_evaluator(capsys):
    cfg = get_cfg_default()
    assert isinstance(build_evaluator(cfg, lab2cname={0: "a"}), Classification)
    assert capsys.readouterr().out == "Loading evaluator: Classification\n"
    cfg.TEST.EVALUATOR = "Clasification"
    message = r'Unknown evaluator "Clasification" \(TEST.EVALUATOR\); did you mean "Classification"'
    with pytest.raises(ValueError, match=message):
        build_evaluator(cfg)


def test_compute_accuracy_top_k():
    output = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    target = torch.tensor([1, 2, 2, 0])
    top1, top2 = compute_accuracy(output, target, topk=(1, 2))
    assert top1.shape == (1,) and top1.item() == 50.0 and top2.item() == 75.0
    assert compute_accuracy((output, "extra"), target)[0].item() == 50.0
