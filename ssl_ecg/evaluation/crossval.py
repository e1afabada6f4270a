"""Cross-validation over a task's train and test windows pooled, folds grouped by patient."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from ssl_ecg.errors import SslEcgError
from ssl_ecg.evaluation.models import Model
from ssl_ecg.evaluation.scoring import Protocol, _key, _predict, _report
from ssl_ecg.tasks import LabelledWindows, TaskData

CV_SCORES = ("macro_f1", "macro_auroc", "accuracy")


def pool(task: TaskData, task_name: str) -> LabelledWindows:
    """The task's train and test windows as one set (for cross-validation)."""
    a, b = task.train, task.test
    if a.store is not b.store and a.store.folder != b.store.folder:
        raise SslEcgError(
            f"--cv: task {task_name} reads its train and test windows from two datasets; "
            "cross-validate a task whose splits come from one dataset"
        )
    if a.length != b.length or (a.side is None) != (b.side is None):
        raise SslEcgError(f"--cv: task {task_name}'s train and test windows differ in form")
    return LabelledWindows(
        a.store, np.concatenate([a.start, b.start]), a.length, np.concatenate([a.y, b.y]),
        np.concatenate([a.patients, b.patients]), np.concatenate([a.records, b.records]),
        None if a.side is None else np.concatenate([a.side, b.side]),
    )  # fmt: skip


def cv_folds(
    windows: LabelledWindows, k: int, seed: int, aggregate: str = "window", task_name: str = ""
) -> np.ndarray:
    """Fold (0..k-1) of every window: scikit-learn's ``StratifiedGroupKFold`` (shuffled,
    seeded) with patients as groups and the label as strata, so no patient is in two folds;
    a record-level task is split record by record (a record's windows share its fold)."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    if windows.y.ndim != 1:
        raise SslEcgError(f"--cv: task {task_name} is multi-label; cross-validate single-label")
    patients = windows.patients.astype(str)
    n_patients = np.unique(patients).size
    if not 2 <= k <= n_patients:
        raise SslEcgError(
            f"--cv {k}: needs 2 to {n_patients} folds (the task has {n_patients} patients)"
        )
    unit = np.arange(len(windows))
    if aggregate != "window":  # one row per record
        _, unit = np.unique(windows.records.astype(str), return_inverse=True)
        unit = unit.ravel()
    first = np.unique(unit, return_index=True)[1]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    fold_of_unit = np.full(first.size, -1, dtype=np.int64)
    with warnings.catch_warnings():  # "the least populated class has only n members"
        warnings.simplefilter("ignore", UserWarning)
        for f, (_, test) in enumerate(
            splitter.split(np.zeros(first.size), windows.y[first], patients[first])
        ):
            fold_of_unit[test] = f
    return fold_of_unit[unit]


def _cross_validate(
    model: Model, task: TaskData, how: Protocol, features: list[str], fractions: list[float],
    z: np.ndarray | None, folds: np.ndarray, dev: torch.device,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:  # fmt: skip
    """Out-of-fold probabilities of the pooled windows and their reports (``_score``'s form),
    each with ``cv``: the folds' own scores, their mean and sd."""
    probas: dict[str, np.ndarray] = {}
    reports: dict[str, dict[str, Any]] = {}
    k = int(folds.max()) + 1
    for feature in features:
        for fraction in fractions:
            oof = np.zeros((len(task.test), len(task.classes)))
            per_fold, n_train, used = [], [], []
            for f in range(k):
                tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
                part = dataclasses.replace(task, train=task.test.subset(tr),
                                           test=task.test.subset(te))  # fmt: skip
                zs = (None, None) if z is None else (z[tr], z[te])
                idx, proba, _ = _predict(model, part, how, feature, fraction, *zs, dev)
                oof[te] = proba
                r = _report(part, proba, how, n_boot=0)
                per_fold.append({"fold": f, "n_test": int(te.size), **{
                    s: r[s] for s in CV_SCORES}})  # fmt: skip
                n_train.append(int(idx.size))
                used.append(idx.size / max(tr.size, 1))
            key = _key(feature, fraction)
            probas[key] = oof
            r = _report(task, oof, how)
            r["n_train"] = round(float(np.mean(n_train)))
            r["label_fraction_used"] = float(np.mean(used))
            r["train_patients"] = None
            r["cv"] = {
                "k": k, "folds": per_fold,
                "mean": {s: _stat(per_fold, s, np.mean) for s in CV_SCORES},
                "sd": {s: _stat(per_fold, s, np.std) for s in CV_SCORES},
            }  # fmt: skip
            reports[key] = r
    return probas, reports


def _stat(rows: list[dict[str, Any]], name: str, fn: Any) -> float | None:
    values = [r[name] for r in rows if r[name] is not None]
    return float(fn(values)) if values else None
