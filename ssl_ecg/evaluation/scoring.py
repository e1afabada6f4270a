"""One protocol's probe fits and their scores: per window, or per record when the task
aggregates."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import torch

from ssl_ecg.evaluation.features import _design
from ssl_ecg.evaluation.finetune import FinetuneSetup, finetune_predict
from ssl_ecg.evaluation.loading import label_fraction, patient_holdout
from ssl_ecg.evaluation.models import Model
from ssl_ecg.evaluation.probes import fit_predict
from ssl_ecg.tasks import LabelledWindows, TaskData

PROTOCOLS = ("linear", "knn", "finetune")
AGGREGATES = ("window", "record", "max")
VAL_FRACTION = 0.2  # patients held out of training for fine-tuning's model selection


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How a model is scored: the probe, its inputs and its budget."""

    name: str = "linear"  # linear | knn | finetune
    k: int = 10  # kNN neighbours
    finetune_steps: int = 300
    seed: int = 0
    n_boot: int = 1000


def _key(feature: str, fraction: float) -> str:
    return f"{feature}|{fraction}"


def _predict(
    model: Model, task: TaskData, how: Protocol, feature: str, fraction: float,
    z_train: np.ndarray | None, z_test: np.ndarray | None, dev: torch.device,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any] | None]:  # fmt: skip
    """(indices of the training windows used, test probabilities, what fine-tuning selected
    or None) of one probe fit."""
    if how.name == "finetune":
        return _finetune(model, task, how, fraction, dev)
    idx = label_fraction(task.train, fraction, how.seed, task.aggregate != "window")
    x_train = _design(feature, z_train, task.train)
    x_test = _design(feature, z_test, task.test)
    proba = fit_predict(how.name, x_train[idx], task.train.y[idx], x_test, len(task.classes),
                        task.multilabel, how.k, how.seed)  # fmt: skip
    return idx, proba, None


def _finetune(
    model: Model, task: TaskData, how: Protocol, fraction: float, dev: torch.device
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fine-tune a copy of the encoder, the checkpoint chosen on the task's validation windows
    or, without them, on a seeded 20 % of the training patients held out before the labelled
    fraction is drawn (macro AUROC of the task's scoring units)."""
    from ssl_ecg.metrics import point_scores

    assert model.encoder is not None
    pool = np.arange(len(task.train))
    val = task.val
    if val is None:
        held = patient_holdout(task.train, VAL_FRACTION, how.seed)
        pool, val = np.flatnonzero(~held), task.train.subset(np.flatnonzero(held))
    by_record = task.aggregate != "window"
    idx = pool[label_fraction(task.train.subset(pool), fraction, how.seed, by_record)]

    def val_score(proba: np.ndarray) -> float | None:
        y, p, _ = scoring_units(val, proba, task.aggregate)
        return point_scores(y, p, task.classes, task.scored, task.multilabel)["macro_auroc"]

    setup = FinetuneSetup(how.finetune_steps, how.seed, random_crops=task.random_crops)
    proba, info = finetune_predict(copy.deepcopy(model.encoder), task.train.subset(idx),
                                   task.test, len(task.classes), task.multilabel, setup, dev,
                                   val if len(val) else None, val_score)  # fmt: skip
    info["validation"] = "task" if task.val is not None else f"{VAL_FRACTION:.0%} of train patients"
    return idx, proba, info


def scoring_units(
    windows: LabelledWindows, proba: np.ndarray, aggregate: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, proba, patients)`` of what is scored: the windows themselves, or one row per
    record (``"record"``: the mean of its windows' probabilities; ``"max"``: their maximum per
    class), in sorted record order."""
    if aggregate == "window":
        return windows.y, proba, windows.patients
    names, rec = np.unique(windows.records.astype(str), return_inverse=True)
    rec = rec.ravel()
    proba = np.asarray(proba, dtype=np.float64)
    if aggregate == "max":
        out = np.full((names.size, proba.shape[1]), -np.inf)
        np.maximum.at(out, rec, proba)
    else:
        out = np.zeros((names.size, proba.shape[1]))
        np.add.at(out, rec, proba)
        out /= np.bincount(rec, minlength=names.size)[:, None]
    first = np.unique(rec, return_index=True)[1]  # (R,) first window of each record
    return windows.y[first], out, windows.patients[first]


def _report(task: TaskData, proba: np.ndarray, how: Protocol, n_boot: int | None = None) -> dict:
    """The scores of test probabilities (windows, or records when the task aggregates), with
    ``also``: macro AUROC under the task's further aggregations."""
    from ssl_ecg.metrics import report

    boot = how.n_boot if n_boot is None else n_boot
    y, p, groups = scoring_units(task.test, proba, task.aggregate)
    r = report(y, p, task.classes, task.scored, task.multilabel, groups, boot, how.seed)
    r["unit"] = "window" if task.aggregate == "window" else f"record ({task.aggregate})"
    r["also"] = {}
    for agg in task.also_aggregate:
        y, p, groups = scoring_units(task.test, proba, agg)
        other = report(y, p, task.classes, task.scored, task.multilabel, groups, boot, how.seed)
        r["also"][agg] = {"macro_auroc": other["macro_auroc"], "ci": other.get("ci", {}).get(
            "macro_auroc")}  # fmt: skip
    return r


def _score(
    model: Model, task: TaskData, how: Protocol, features: list[str], fractions: list[float],
    z_train: np.ndarray | None, z_test: np.ndarray | None, dev: torch.device,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:  # fmt: skip
    """Test probabilities and reports, keyed ``features|fraction``."""
    probas: dict[str, np.ndarray] = {}
    reports: dict[str, dict[str, Any]] = {}
    for feature in features:
        for fraction in fractions:
            idx, proba, info = _predict(model, task, how, feature, fraction, z_train, z_test, dev)
            key = _key(feature, fraction)
            probas[key] = proba
            r = _report(task, proba, how)
            r["n_train"] = int(idx.size)
            # at least one window per (patient, class) is kept: say what was really used
            r["label_fraction_used"] = idx.size / max(len(task.train), 1)
            r["train_patients"] = len(set(task.train.patients[idx].tolist()))
            if info is not None:
                r["finetune"] = info
            reports[key] = r
    return probas, reports
