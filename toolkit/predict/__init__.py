"""Use a learned prompt: classify images with a finished run, from Python or the shell.

    python -m toolkit.predict RUN_DIR IMAGE_OR_FOLDER... [--topk K] [--classnames FILE] [--out predictions.csv]
    python -m toolkit.predict.export RUN_DIR --out features.pt [--classnames FILE]

    from toolkit.predict import PromptClassifier
    predictions = PromptClassifier.from_run(run_dir).predict(["image.jpg", "folder/"], topk=5)

Works for every trainer: the run folder's recorded trainer, config, class names and checkpoint
rebuild exactly the model its evaluation scored (``run.py``).
"""
from .classifier import Prediction, PromptClassifier
from .output import write_predictions

__all__ = ["Prediction", "PromptClassifier", "write_predictions"]
