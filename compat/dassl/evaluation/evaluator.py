"""The ``Classification`` evaluator: accuracy, error, macro F1 and optional per-class results.

Macro F1 and the confusion matrix are computed here (no scikit-learn); they equal
``f1_score(average="macro", labels=<labels present in y_true>)`` and
``confusion_matrix(normalize="true")``.
"""
import os.path as osp
from collections import Counter, OrderedDict, defaultdict
from typing import Dict, List, Optional

import torch
from yacs.config import CfgNode

from .build import EVALUATOR_REGISTRY


class EvaluatorBase:
    """Accumulates model outputs over a split with ``process`` and reports with ``evaluate``."""

    def __init__(self, cfg: CfgNode):
        self.cfg = cfg

    def reset(self) -> None:
        raise NotImplementedError

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        raise NotImplementedError

    def evaluate(self) -> Dict[str, float]:
        raise NotImplementedError


def macro_f1_score(y_true: List[int], y_pred: List[int]) -> float:
    """Mean F1 over the labels present in ``y_true``, in [0, 1].

    Per label F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (#true + #predicted).
    """
    true_counts, pred_counts = Counter(y_true), Counter(y_pred)
    hits = Counter(t for t, p in zip(y_true, y_pred) if t == p)
    scores = [2 * hits[label] / (true_counts[label] + pred_counts[label]) for label in true_counts]
    return sum(scores) / len(scores)


def row_normalized_confusion_matrix(y_true: List[int], y_pred: List[int]) -> torch.Tensor:
    """Confusion matrix over the sorted labels seen in either list; each row sums to 1 (or 0)."""
    labels = sorted(set(y_true) | set(y_pred))
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    cells = torch.tensor([index[t] * n + index[p] for t, p in zip(y_true, y_pred)], dtype=torch.long)
    counts = torch.bincount(cells, minlength=n * n).reshape(n, n).double()
    return counts / counts.sum(dim=1, keepdim=True).clamp(min=1)


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Top-1 classification results, printed in Dassl's format (parsed by parse_test_res.py)."""

    def __init__(self, cfg: CfgNode, lab2cname: Optional[Dict[int, str]] = None, **kwargs):
        super().__init__(cfg)
        if cfg.TEST.PER_CLASS_RESULT and lab2cname is None:
            raise ValueError("TEST.PER_CLASS_RESULT needs class names: pass lab2cname to Classification")
        self._lab2cname = lab2cname
        self.reset()

    def reset(self) -> None:
        self._correct = 0
        self._total = 0
        self._y_true: List[int] = []
        self._y_pred: List[int] = []
        self._per_class_res = defaultdict(list) if self.cfg.TEST.PER_CLASS_RESULT else None

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        """``mo``: logits [batch, num_classes]; ``gt``: labels [batch]."""
        pred = mo.max(1)[1]
        matches = pred.eq(gt).int()
        self._correct += int(matches.sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.cpu().tolist())
        self._y_pred.extend(pred.cpu().tolist())
        if self._per_class_res is not None:
            for label, match in zip(gt.cpu().tolist(), matches.cpu().tolist()):
                self._per_class_res[label].append(match)

    def evaluate(self) -> "OrderedDict[str, float]":
        """Print the result block and return the percentages (accuracy first)."""
        acc = 100.0 * self._correct / self._total
        err = 100.0 - acc
        macro_f1 = 100.0 * macro_f1_score(self._y_true, self._y_pred)
        results = OrderedDict(accuracy=acc, error_rate=err, macro_f1=macro_f1)
        print(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%"
        )

        if self._per_class_res is not None:
            results["perclass_accuracy"] = self._report_per_class()

        if self.cfg.TEST.COMPUTE_CMAT:
            save_path = osp.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(row_normalized_confusion_matrix(self._y_true, self._y_pred), save_path)
            print(f"Confusion matrix is saved to {save_path}")

        return results

    def _report_per_class(self) -> float:
        print("=> per-class result")
        accs = []
        for label in sorted(self._per_class_res):
            res = self._per_class_res[label]
            correct, total = sum(res), len(res)
            acc = 100.0 * correct / total
            accs.append(acc)
            print(
                f"* class: {label} ({self._lab2cname[label]})\t"
                f"total: {total:,}\tcorrect: {correct:,}\tacc: {acc:.1f}%"
            )
        mean_acc = sum(accs) / len(accs)
        print(f"* average: {mean_acc:.1f}%")
        return mean_acc
