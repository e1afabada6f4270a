"""Probes fitted on frozen features: linear or kNN, and the patient-identity probe."""

from __future__ import annotations

from typing import Any

import numpy as np

from ssl_ecg.tasks import LabelledWindows


def identity_probe(
    z: np.ndarray, windows: LabelledWindows, seed: int, per_patient: int = 400
) -> dict[str, Any]:
    """How well the features tell the patient, and the label, among the training patients.

    Each patient's windows are cut in time: a linear probe is fitted on the first half of
    every patient's windows and scored (balanced accuracy) on the second half, once predicting
    the patient and once the label. A pretraining that learns who the patient is rather than
    what the beat is scores high on the first and low on the second."""
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(seed)
    names, pid = np.unique(windows.patients.astype(str), return_inverse=True)
    fit, test = [], []
    for p in range(names.size):
        idx = np.flatnonzero(pid == p)
        idx = idx[np.argsort(windows.start[idx], kind="stable")]
        half = idx.size // 2
        fit.append(rng.permutation(idx[:half])[:per_patient])
        test.append(rng.permutation(idx[half:])[:per_patient])
    a, b = np.concatenate(fit), np.concatenate(test)
    out: dict[str, Any] = {
        "n_patients": int(names.size),
        "n_fit": int(a.size),
        "n_test": int(b.size),
    }
    proba = fit_predict("linear", z[a], pid[a], z[b], int(names.size), False, 10, seed)
    out["patient_balanced_accuracy"] = float(balanced_accuracy_score(pid[b], proba.argmax(1)))
    y = windows.y
    if y.ndim == 1 and np.unique(y[a]).size > 1:
        k = int(y.max()) + 1
        proba = fit_predict("linear", z[a], y[a], z[b], k, False, 10, seed)
        out["label_balanced_accuracy"] = float(balanced_accuracy_score(y[b], proba.argmax(1)))
    return out


def fit_predict(protocol: str, z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray,
                n_classes: int, multilabel: bool, k: int, seed: int) -> np.ndarray:  # fmt: skip
    """Probabilities (N_test, K) of a linear or kNN probe fitted on frozen features (a class
    without training examples gets probability 0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(z_train)
    a, b = scaler.transform(z_train), scaler.transform(z_test)
    if protocol == "linear":
        clf: Any = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    else:
        clf = KNeighborsClassifier(n_neighbors=min(k, len(a)), metric="cosine", weights="distance")
    if multilabel:
        clf = OneVsRestClassifier(clf)
        proba = clf.fit(a, y_train).predict_proba(b)
        return proba
    classes = np.unique(y_train)
    proba_present = clf.fit(a, y_train).predict_proba(b)
    proba = np.zeros((len(b), n_classes), dtype=np.float64)
    proba[:, classes] = proba_present
    return proba
