"""What :mod:`ssl_ecg.metrics` and :mod:`ssl_ecg.bootstrap` both read: the macro scores
reported with intervals, truth/prediction/score matrices of the test samples, and the columns
of the scored classes."""

from __future__ import annotations

import numpy as np

SCORES = ("macro_f1", "macro_auroc", "accuracy")


def _indicators(
    y_true: np.ndarray, proba: np.ndarray, k: int, multilabel: bool, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth Y (N, K) bool, prediction P (N, K) bool and scores S (N, K) float64."""
    s = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_true)
    n = y.shape[0]
    if s.shape != (n, k):
        raise ValueError(f"proba must have shape ({n}, {k}) (samples, classes), got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("proba holds nan or inf")
    if multilabel:
        if y.shape != (n, k):
            raise ValueError(f"y_true must have shape ({n}, {k}) (samples, classes)")
        return y.astype(bool), s >= threshold, s
    y = y.astype(np.int64).ravel()
    if n and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"y_true holds labels outside 0..{k - 1}")
    eye = np.eye(k, dtype=bool)
    return eye[y], eye[s.argmax(axis=1)], s


def _columns(classes: list[str], scored: list[str] | None, y: np.ndarray, ml: bool) -> np.ndarray:
    if scored is None:
        return np.flatnonzero(y.any(axis=0)) if ml else np.arange(len(classes))
    unknown = [c for c in scored if c not in classes]
    if unknown:
        raise ValueError(f"scored classes {unknown} are not among {classes}")
    return np.array([classes.index(c) for c in scored], dtype=np.int64)
