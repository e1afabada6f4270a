"""Classification metrics with patient-level bootstrap confidence intervals (numpy only).

Definitions, per class c with a confusion matrix (rows = true, columns = predicted):
sensitivity (recall) = TP / (TP + FN), PPV (precision) = TP / (TP + FP),
F1 = 2 TP / (2 TP + FP + FN), each 0 when its denominator is 0 (sklearn's zero_division=0).
Macro scores average over the ``scored`` classes (e.g. AAMI N, S, V, F with Q reported only).
AUROC is one-vs-rest, computed with the rank (Mann-Whitney U) formula with ties averaged; the
macro AUROC averages the scored classes that have positives and negatives in the test set.

Confidence intervals are 95 % percentile bootstraps. With ``groups`` (patient ids) whole
patients are resampled with replacement (a cluster bootstrap: beats of one patient are not
independent); each resample's confusion matrix is a weighted sum of per-patient matrices, so
1000 resamples cost one matrix product. AUROC is bootstrapped on ``n_boot // 5`` resamples
(each needs a ranking).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def _safe(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Sensitivity, PPV, F1 and support per class of a (..., K, K) confusion matrix."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(np.float64)  # (..., K)
    support = cm.sum(axis=-1).astype(np.float64)
    predicted = cm.sum(axis=-2).astype(np.float64)
    return {
        "sensitivity": _safe(tp, support),
        "ppv": _safe(tp, predicted),
        "f1": _safe(2 * tp, support + predicted),
        "support": support,
    }


def auroc(y_true01: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC by ranks (ties get their average rank); nan with a single class."""
    y = np.asarray(y_true01).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(score)  # ties get their average rank (1-based)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _mean(values: list[float]) -> float:
    good = [v for v in values if not math.isnan(v)]
    return float(np.mean(good)) if good else float("nan")


def _json(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _resamples(
    groups: np.ndarray | None, n: int, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(unit of each sample (N,), multiplicities (n_boot, U)): sample or cluster bootstrap."""
    if groups is None:
        unit = np.arange(n)
    else:
        _, unit = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    u = int(unit.max()) + 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, u, size=(n_boot, u))
    mult = np.zeros((n_boot, u), dtype=np.float64)
    np.add.at(mult, (np.repeat(np.arange(n_boot), u), draws.ravel()), 1.0)
    return unit, mult


def _ci(values: np.ndarray) -> list[float | None]:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return [None, None]
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def classification_report(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: list[str],
    scored: list[str] | None = None,
    groups: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Single-label scores of ``proba`` (N, K) against ``y_true`` (N,), with bootstrap CIs."""
    y_true = np.asarray(y_true, dtype=np.int64)
    k = len(classes)
    y_pred = np.asarray(proba).argmax(axis=1)
    scored = list(scored or classes)
    cols = np.array([classes.index(c) for c in scored])
    cm = confusion(y_true, y_pred, k)
    stats = per_class(cm)
    aucs = [auroc(y_true == c, proba[:, c]) for c in range(k)]
    report: dict[str, Any] = {
        "n": int(y_true.size),
        "classes": list(classes),
        "scored": scored,
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "macro_f1": float(stats["f1"][cols].mean()),
        "macro_sensitivity": float(stats["sensitivity"][cols].mean()),
        "macro_ppv": float(stats["ppv"][cols].mean()),
        "macro_auroc": _json(_mean([aucs[c] for c in cols])),
        "per_class": {
            name: {
                "f1": float(stats["f1"][c]),
                "sensitivity": float(stats["sensitivity"][c]),
                "ppv": float(stats["ppv"][c]),
                "auroc": _json(aucs[c]),
                "support": int(stats["support"][c]),
            }
            for c, name in enumerate(classes)
        },
        "confusion": cm.tolist(),
    }
    unit, mult = _resamples(groups, y_true.size, n_boot, seed)
    per_unit = np.zeros((mult.shape[1], k * k))  # (U, K*K) confusion counts of each unit
    np.add.at(per_unit, (unit, y_true * k + y_pred), 1.0)
    boot_cm = (mult @ per_unit).reshape(n_boot, k, k)
    boot = per_class(boot_cm)
    total = boot_cm.sum(axis=(1, 2))
    acc = np.trace(boot_cm, axis1=1, axis2=2) / np.maximum(total, 1)
    boot_auc = []
    rng = np.random.default_rng(seed + 1)
    for _ in range(max(1, n_boot // 5)):
        pick = rng.integers(0, mult.shape[1], size=mult.shape[1])
        idx = np.concatenate([np.flatnonzero(unit == p) for p in pick])
        boot_auc.append(_mean([auroc(y_true[idx] == c, proba[idx, c]) for c in cols]))
    report["ci"] = {
        "macro_f1": _ci(boot["f1"][:, cols].mean(axis=1)),
        "accuracy": _ci(acc),
        "macro_auroc": _ci(np.asarray(boot_auc, dtype=np.float64)),
    }
    return report


def multilabel_report(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: list[str],
    threshold: float = 0.5,
    groups: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Multi-label scores of independent ``proba`` (N, K) against 0/1 ``y_true`` (N, K)."""
    y = np.asarray(y_true).astype(bool)
    pred = np.asarray(proba) >= threshold
    tp, fp, fn = (y & pred), (~y & pred), (y & ~pred)
    counts = np.stack([tp.sum(0), fp.sum(0), fn.sum(0)]).astype(np.float64)  # (3, K)

    def scores(c: np.ndarray) -> dict[str, np.ndarray]:
        t, f_p, f_n = c[..., 0, :], c[..., 1, :], c[..., 2, :]
        return {"f1": _safe(2 * t, 2 * t + f_p + f_n), "sensitivity": _safe(t, t + f_n),
                "ppv": _safe(t, t + f_p)}  # fmt: skip

    s = scores(counts)
    present = y.sum(0) > 0
    aucs = [auroc(y[:, c], proba[:, c]) for c in range(len(classes))]
    report: dict[str, Any] = {
        "n": int(y.shape[0]),
        "classes": list(classes),
        "scored": [c for c, p in zip(classes, present, strict=True) if p],
        "accuracy": float((pred == y).all(axis=1).mean()),
        "macro_f1": float(s["f1"][present].mean()) if present.any() else 0.0,
        "macro_sensitivity": float(s["sensitivity"][present].mean()) if present.any() else 0.0,
        "macro_ppv": float(s["ppv"][present].mean()) if present.any() else 0.0,
        "macro_auroc": _json(_mean(aucs)),
        "per_class": {
            name: {
                "f1": float(s["f1"][c]),
                "sensitivity": float(s["sensitivity"][c]),
                "ppv": float(s["ppv"][c]),
                "auroc": _json(aucs[c]),
                "support": int(y[:, c].sum()),
            }
            for c, name in enumerate(classes)
        },
    }
    unit, mult = _resamples(groups, y.shape[0], n_boot, seed)
    per_unit = np.zeros((mult.shape[1], 3, len(classes)))
    for j, m in enumerate((tp, fp, fn)):
        np.add.at(per_unit[:, j], unit, m.astype(np.float64))
    boot = scores(np.einsum("bu,ujk->bjk", mult, per_unit))
    f1 = boot["f1"][:, present].mean(axis=1) if present.any() else np.zeros(n_boot)
    report["ci"] = {"macro_f1": _ci(f1), "accuracy": [None, None], "macro_auroc": [None, None]}
    return report
