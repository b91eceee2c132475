"""Fake output trees for the results command's tests: run folders in the scripts' layouts with
logs as this project's ``train.py`` prints them, and as the reference repositories' ``train.py``
prints them (Dassl.pytorch for CoOp/CoCoOp, MaPLe, IVLP and PromptSRC; KgCoOp's Dassl fork).
No torch, no training."""
from functools import partial

# CoOp, base-to-new, per dataset (benchmarks.md 3.2, CoCoOp paper Table 1): Base, New.
COOP_BASE2NEW = {
    "imagenet": (76.47, 67.88),
    "caltech101": (98.00, 89.81),
    "oxford_pets": (93.67, 95.29),
    "stanford_cars": (78.12, 60.40),
    "oxford_flowers": (97.60, 59.67),
    "food101": (88.33, 82.26),
    "fgvc_aircraft": (40.44, 22.30),
    "sun397": (80.60, 65.89),
    "dtd": (79.44, 41.18),
    "eurosat": (92.19, 54.74),
    "ucf101": (84.69, 56.05),
}


def result_block(accuracy, decimals=None):
    """The evaluator's block; ``decimals`` as the reference engines print them (Dassl.pytorch 1,
    KgCoOp's fork 2), None for the value as given."""
    total = 1000
    correct = round(accuracy * total / 100)
    number = (lambda x: f"{x:.{decimals}f}") if decimals is not None else (lambda x: f"{round(x, 4)}")
    return [
        "=> result",
        f"* total: {total:,}",
        f"* correct: {correct:,}",
        f"* accuracy: {number(accuracy)}%",
        f"* error: {number(100 - accuracy)}%",
        f"* macro_f1: {number(accuracy - 0.5)}%",
    ]


def training_log(accuracy=None, epochs=2, stop_at_epoch=None, end_signal="Finish training"):
    """A training log as train.py prints it; ``stop_at_epoch`` cuts it off (an interrupted run),
    ``accuracy=None`` ends it without a test block."""
    lines = [
        "Setting fixed seed: 1",
        "Loading trainer: CoOp",
        "Loading dataset: DescribableTextures",
        "Building custom CLIP",
    ]
    for epoch in range(1, (stop_at_epoch or epochs) + 1):
        lines.append(
            f"epoch [{epoch}/{epochs}] batch [5/5] time 0.101 (0.350) data 0.000 (0.210) "
            f"loss 1.2345 (1.4000) lr 2.0000e-03 eta 0:00:{epochs - epoch:02d}"
        )
    if stop_at_epoch:
        return lines
    lines += [f"Checkpoint saved to prompt_learner/model.pth.tar-{epochs}", end_signal]
    if accuracy is not None:
        lines += ["Deploy the last-epoch model", "Evaluate on the *test* set"] + result_block(accuracy)
    return lines + ["Elapsed: 0:01:02"]


def eval_log(accuracy):
    return [
        "Setting fixed seed: 1",
        "Loading trainer: CoOp",
        'Loading weights to prompt_learner from "output/model" (epoch = 2)',
        "Evaluate on the *test* set",
    ] + result_block(accuracy)


# ---------------------------------------------------------------------------------------------
# The reference repositories' logs
# ---------------------------------------------------------------------------------------------


def reference_preamble(trainer, cfg, eval_only):
    """What every reference train.py prints before training: the arguments, part of the config
    dump (with its TEST block) and the dataset table."""
    return [
        "Setting fixed seed: 1",
        "***************",
        "** Arguments **",
        "***************",
        f"config_file: configs/trainers/{trainer}/{cfg}.yaml",
        f"eval_only: {eval_only}",
        f"trainer: {trainer}",
        "************",
        "** Config **",
        "************",
        "TEST:",
        "  EVALUATOR: Classification",
        "  FINAL_MODEL: last_step",
        "  NO_TEST: False",
        "  SPLIT: test",
        f"Loading trainer: {trainer}",
        "Loading dataset: DescribableTextures",
        "---------  -------------------",
        "Dataset    DescribableTextures",
        "# classes  24",
        "# test     864",
        "---------  -------------------",
        "Loading CLIP (backbone: ViT-B/16)",
        "Building custom CLIP",
    ]


# How each reference engine prints progress, the end of training and the evaluation.
ENGINES = {
    "dassl": {  # Dassl.pytorch: the CoOp/CoCoOp, MaPLe, IVLP and PromptSRC repositories
        "progress": "epoch [{e}/{E}] batch [{b}/{B}] time 0.201 (0.243) data 0.001 (0.012) loss 1.7139 (1.9372) "
        "acc 50.0000 (41.2500) lr 2.0000e-03 eta 0:01:{left:02d}",
        "saved": "Checkpoint saved to output/prompt_learner/model.pth.tar-{E}",
        "end": ["Finish training", "Deploy the last-epoch model"],
        "evaluate": "Evaluate on the *test* set",
        "decimals": 1,
    },
    "kgcoop": {  # KgCoOp's Dassl fork: tab-separated ``epoch [a/b][i/n]``, "Finished training", 2 decimals
        "progress": "epoch [{e}/{E}][{b}/{B}]\ttime 0.180 (0.233)\tdata 0.000 (0.015)\teta 0:00:{left:02d}\t"
        "loss 2.1032 (2.3150)\tacc 43.7500 (40.6250)\tlr 2.000000e-03",
        "saved": 'Checkpoint saved to "output/prompt_learner/model.pth.tar-{E}"',
        "end": ["Finished training"],
        "evaluate": "Do evaluation on test set",
        "decimals": 2,
    },
}


def reference_training_log(engine, trainer, cfg, accuracy, epochs=2, batches=2, stop_at_epoch=None):
    """A reference ``train.py``'s log; ``stop_at_epoch`` cuts it off (an interrupted run)."""
    style = ENGINES[engine]
    lines = reference_preamble(trainer, cfg, False) + ["No checkpoint found, train from scratch"]
    for epoch in range(1, (stop_at_epoch or epochs) + 1):
        for batch in range(1, batches + 1):
            lines.append(style["progress"].format(e=epoch, E=epochs, b=batch, B=batches, left=epochs - epoch))
    if stop_at_epoch:
        return lines
    lines += [style["saved"].format(E=epochs), *style["end"], style["evaluate"]]
    return lines + result_block(accuracy, style["decimals"]) + ["Elapsed: 0:03:21"]


def reference_eval_log(engine, trainer, cfg, accuracy, epoch=2):
    style = ENGINES[engine]
    return reference_preamble(trainer, cfg, True) + [
        f'Loading weights to prompt_learner from "output/prompt_learner/model.pth.tar-{epoch}" (epoch = {epoch})',
        style["evaluate"],
    ] + result_block(accuracy, style["decimals"])


dassl_training_log = partial(reference_training_log, "dassl")
dassl_eval_log = partial(reference_eval_log, "dassl")
kgcoop_training_log = partial(reference_training_log, "kgcoop", "KgCoOp", "vit_b16_ep100_ctxv1")
kgcoop_eval_log = partial(reference_eval_log, "kgcoop", "KgCoOp", "vit_b16_ep100_ctxv1")


# ---------------------------------------------------------------------------------------------
# Run folders
# ---------------------------------------------------------------------------------------------


def write_run(folder, lines, marker=True, name="log.txt"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")
    if marker:
        (folder / "finished.json").write_text('{"mode": "train"}')
    return folder


def b2n_folder(root, part, dataset, trainer, seed, cfg="vit_b16_ctxv1", shots="shots_16"):
    return root / "base2new" / part / dataset / shots / trainer / cfg / f"seed{seed}"


def b2n(root, part, dataset, trainer, seed, accuracy, cfg="vit_b16_ctxv1", shots="shots_16", **kw):
    lines = training_log(accuracy) if part == "train_base" else eval_log(accuracy)
    return write_run(b2n_folder(root, part, dataset, trainer, seed, cfg, shots), lines, **kw)


def b2n_method(root, trainer, values, seeds=(1, 2, 3), cfg="vit_b16_ctxv1", shots="shots_16"):
    """``values``: dataset -> (Base per seed, New per seed)."""
    for dataset, (bases, news) in values.items():
        for seed, base, new in zip(seeds, bases, news):
            b2n(root, "train_base", dataset, trainer, seed, base, cfg, shots)
            b2n(root, "test_new", dataset, trainer, seed, new, cfg, shots)


def fewshot(root, dataset, trainer, cfg, shots, seed, accuracy, settings="nctx16_cscFalse_ctpend"):
    folder = root / dataset / trainer / f"{cfg}_{shots}shots" / settings / f"seed{seed}"
    return write_run(folder, training_log(accuracy))


def xd_source(root, trainer, seed, accuracy, cfg="vit_b16_ep50_ctxv1"):
    return write_run(root / "imagenet" / trainer / f"{cfg}_16shots" / f"seed{seed}", training_log(accuracy))


def xd_target(root, trainer, dataset, seed, accuracy, cfg="vit_b16_ep50_ctxv1"):
    return write_run(root / "evaluation" / trainer / f"{cfg}_16shots" / dataset / f"seed{seed}", eval_log(accuracy))


def entry(report, protocol, method_label, dataset, column):
    found = [
        e
        for e in report.entries
        if (e.protocol, e.method.label, e.dataset, e.column) == (protocol, method_label, dataset, column)
    ]
    assert len(found) == 1, f"{protocol} {method_label} {dataset} {column}: {len(found)} entries"
    return found[0].summary


def kinds(report):
    return [n.kind for n in report.notes]
