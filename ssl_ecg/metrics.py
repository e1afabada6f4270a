"""Classification scores with patient-bootstrap 95 % intervals, and paired differences.

Point metrics are scikit-learn's: per-class F1, sensitivity (recall), PPV (precision) with
``zero_division=0``, one-vs-rest ROC AUC, the confusion matrix and accuracy (exact match for
multi-label). Single-label predictions are ``argmax(proba)``; multi-label ones
``proba >= threshold``. ``macro_*`` averages the ``scored`` classes (single-label: all by
default, e.g. AAMI N/S/V/F with Q reported only; multi-label: the classes with a positive);
``macro_auroc`` averages the scored classes whose AUROC is defined (positives and negatives).

Intervals: patient-bootstrap percentiles, computed in :mod:`ssl_ecg.bootstrap`; two models
scored on the same test windows see the same resamples, so :func:`paired_delta` reports the
difference of their scores with the interval of the per-resample differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ssl_ecg.indicators import SCORES, _columns, _indicators


def _num(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def point_scores(
    y_true: np.ndarray, proba: np.ndarray, classes: list[str], scored: list[str] | None = None,
    multilabel: bool = False, threshold: float = 0.5,
) -> dict[str, Any]:  # fmt: skip
    """Per-class and macro scores (scikit-learn), JSON-ready; nan becomes None."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

    k = len(classes)
    y, p, s = _indicators(y_true, proba, k, multilabel, threshold)
    cols = _columns(classes, scored, y, multilabel)
    truth, pred = (y, p) if multilabel else (y.argmax(axis=1), p.argmax(axis=1))
    ppv, se, f1, support = precision_recall_fscore_support(
        truth, pred, labels=list(range(k)), zero_division=0, average=None
    )
    auc = np.array([roc_auc_score(y[:, c], s[:, c]) if 0 < y[:, c].sum() < len(y) else np.nan
                    for c in range(k)])  # fmt: skip
    defined = cols[~np.isnan(auc[cols])]
    report: dict[str, Any] = {
        "n": len(y),
        "classes": list(classes),
        "scored": [classes[c] for c in cols],
        "accuracy": float(accuracy_score(truth, pred)) if len(y) else 0.0,
        "macro_f1": float(f1[cols].mean()) if cols.size else 0.0,
        "macro_auroc": float(auc[defined].mean()) if defined.size else None,
        "macro_sensitivity": float(se[cols].mean()) if cols.size else 0.0,
        "macro_ppv": float(ppv[cols].mean()) if cols.size else 0.0,
        "per_class": {
            name: {
                "f1": float(f1[c]),
                "sensitivity": float(se[c]),
                "ppv": float(ppv[c]),
                "auroc": _num(auc[c]),
                "support": int(support[c]),
            }
            for c, name in enumerate(classes)
        },
    }
    if not multilabel:
        from sklearn.metrics import confusion_matrix

        report["confusion"] = confusion_matrix(truth, pred, labels=list(range(k))).tolist()
    return report


def _ci(values: np.ndarray) -> list[float | None]:
    v = values[np.isfinite(values)]
    return [float(x) for x in np.percentile(v, [2.5, 97.5])] if v.size else [None, None]


def report(
    y_true: np.ndarray, proba: np.ndarray, classes: list[str], scored: list[str] | None = None,
    multilabel: bool = False, groups: np.ndarray | None = None, n_boot: int = 1000,
    seed: int = 0, threshold: float = 0.5,
) -> dict[str, Any]:  # fmt: skip
    """:func:`point_scores` plus ``ci`` (95 % bootstrap intervals of the macro scores and
    accuracy) and ``bootstrap`` (what was resampled)."""
    from ssl_ecg.bootstrap import bootstrap_scores

    out = point_scores(y_true, proba, classes, scored, multilabel, threshold)
    if n_boot <= 0 or out["n"] == 0:
        out["ci"] = {name: [None, None] for name in SCORES}
        return out
    boot = bootstrap_scores(y_true, proba, classes, scored, multilabel, groups, n_boot, seed,
                            threshold)  # fmt: skip
    out["ci"] = {name: _ci(v) for name, v in boot.items()}
    units = len(set(np.asarray(groups).tolist())) if groups is not None else out["n"]
    out["bootstrap"] = {"unit": "sample" if groups is None else "patient", "n_units": units,
                        "n_boot": n_boot, "seed": seed}  # fmt: skip
    return out


def paired_delta(
    y_true: np.ndarray, proba_a: np.ndarray, proba_b: np.ndarray, classes: list[str],
    scored: list[str] | None = None, multilabel: bool = False,
    groups: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Score of A minus score of B on the same test samples, with a paired bootstrap interval
    (both scored on the same resamples): {"macro_f1": {"delta", "ci"}, "macro_auroc": ...}."""
    from ssl_ecg.bootstrap import bootstrap_scores

    a = point_scores(y_true, proba_a, classes, scored, multilabel)
    b = point_scores(y_true, proba_b, classes, scored, multilabel)
    args = (classes, scored, multilabel, groups, n_boot, seed)
    boot_a = bootstrap_scores(y_true, proba_a, *args) if n_boot > 0 else {}
    boot_b = bootstrap_scores(y_true, proba_b, *args) if n_boot > 0 else {}
    out: dict[str, Any] = {}
    for name in ("macro_f1", "macro_auroc"):
        if a[name] is None or b[name] is None:
            out[name] = {"delta": None, "ci": [None, None]}
            continue
        ci = _ci(boot_a[name] - boot_b[name]) if n_boot > 0 else [None, None]
        out[name] = {"delta": a[name] - b[name], "ci": ci}
    out["n_boot"], out["seed"] = n_boot, seed
    return out
