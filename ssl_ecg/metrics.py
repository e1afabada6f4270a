"""Classification scores with patient-bootstrap 95 % intervals, and paired differences.

Point metrics are scikit-learn's: per-class F1, sensitivity (recall), PPV (precision) with
``zero_division=0``, one-vs-rest ROC AUC, the confusion matrix and accuracy (exact match for
multi-label). Single-label predictions are ``argmax(proba)``; multi-label ones
``proba >= threshold``. ``macro_*`` averages the ``scored`` classes (single-label: all by
default, e.g. AAMI N/S/V/F with Q reported only; multi-label: the classes with a positive);
``macro_auroc`` averages the scored classes whose AUROC is defined (positives and negatives).

Intervals: a resample draws the U test patients (``groups``; samples when None) with
replacement, as multiplicities ``m`` (U,). Every count (per-class TP/FP/FN, exact matches) is
``m @ per-patient counts``; AUROC is the Mann-Whitney statistic with sample weights
``m[patient]`` (ties count one half), the number ``roc_auc_score(..., sample_weight=w)`` gives;
up to 500 patients it is read from per-patient pair counts A as m A m / ((m.P)(m.Q)). A class
without positives in a resample is left out of that resample's macro AUROC (and of the
multi-label macro F1). The interval is the 2.5th-97.5th percentile of the resampled
statistic. Resamples depend only on ``seed`` and the test patients, so two models scored on the
same test windows see the same resamples: :func:`paired_delta` reports the difference of their
scores with the percentile interval of the per-resample differences (a model against itself
gives exactly 0 and a zero-width interval).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

_BLOCK = 4_000_000  # elements of one (resamples, samples) weight block (32 MB of float64)
_PAIRED = 500  # up to this many units, AUROC resamples use per-unit pair counts
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


# ------------------------------------------------------------------ the bootstrap
def _resamples(unit: np.ndarray, u: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Multiplicities (b, U) of ``n_boot`` resamples of U units, in blocks; seeded."""
    rng = np.random.default_rng(seed)
    step = max(1, min(n_boot, _BLOCK // max(unit.size, 1)))
    for lo in range(0, n_boot, step):
        b = min(step, n_boot - lo)
        draws = rng.integers(0, u, size=(b, u)) + (np.arange(b) * u)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * u).reshape(b, u).astype(np.float64)


def _weighted_auroc(pos: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUROC (b,) with sample weights ``w`` (b, N); ties count one half."""
    order = np.argsort(score, kind="stable")
    s, p, ws = score[order], pos[order], w[:, order]
    first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # (L,) start of each tie block
    neg = np.add.reduceat(np.where(p, 0.0, ws), first, axis=1)  # (b, L) negative weight
    pos_w = np.add.reduceat(np.where(p, ws, 0.0), first, axis=1)  # (b, L) positive weight
    below = np.cumsum(neg, axis=1) - neg  # negative weight strictly below each block
    num = (pos_w * (below + 0.5 * neg)).sum(axis=1)
    den = pos_w.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _pair_counts(pos: np.ndarray, score: np.ndarray, unit: np.ndarray, u: int) -> np.ndarray:
    """(U + 2, U): [u, v] = pairs (positive of unit u, negative of unit v) ranked right, ties
    one half; rows U and U + 1 hold the positives and negatives per unit. With unit
    multiplicities m, AUROC = m A m / ((m . P)(m . Q)): the weighted statistic above, exactly."""
    out = np.zeros((u + 2, u))
    sp, up = score[pos], unit[pos]
    for v in range(u):
        neg = np.sort(score[~pos & (unit == v)])
        right = np.searchsorted(neg, sp, "left") + np.searchsorted(neg, sp, "right")
        out[:u, v] = 0.5 * np.bincount(up, weights=right, minlength=u)
    out[u] = np.bincount(unit[pos], minlength=u)
    out[u + 1] = np.bincount(unit[~pos], minlength=u)
    return out


def _nanmean(x: np.ndarray) -> np.ndarray:
    """Row means (B, J) -> (B,) ignoring nan; nan where a row has no value."""
    ok = ~np.isnan(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok.any(axis=1), np.where(ok, x, 0).sum(axis=1) / ok.sum(axis=1), np.nan)


def bootstrap_scores(
    y_true: np.ndarray, proba: np.ndarray, classes: list[str], scored: list[str] | None = None,
    multilabel: bool = False, groups: np.ndarray | None = None, n_boot: int = 1000,
    seed: int = 0, threshold: float = 0.5,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Resampled macro_f1, macro_auroc and accuracy, each (n_boot,) (see the module doc)."""
    k = len(classes)
    y, p, s = _indicators(y_true, proba, k, multilabel, threshold)
    cols = _columns(classes, scored, y, multilabel)
    n = len(y)
    if groups is None:
        unit, u = np.arange(n), n
    else:
        if np.shape(groups) != (n,):
            raise ValueError(f"groups must have shape ({n},), got {np.shape(groups)}")
        _, unit = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        unit, u = unit.ravel(), int(unit.max(initial=-1)) + 1
    pairs = [_pair_counts(y[:, c], s[:, c], unit, u) for c in cols] if u <= _PAIRED else []
    yc, pc = y[:, cols], p[:, cols]
    counts = np.concatenate([yc & pc, ~yc & pc, yc & ~pc, (y == p).all(1, keepdims=True)], 1)
    per_unit = np.stack([np.bincount(unit, weights=c, minlength=u) for c in counts.T], axis=1)
    out: dict[str, list[np.ndarray]] = {name: [] for name in SCORES}
    j = cols.size
    for m in _resamples(unit, u, n_boot, seed):
        c = m @ per_unit  # (b, 3J + 1)
        tp, fp, fn = c[:, :j], c[:, j : 2 * j], c[:, 2 * j : 3 * j]
        den = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
        if multilabel:
            f1 = np.where(tp + fn > 0, f1, np.nan)
        out["macro_f1"].append(_nanmean(f1) if j else np.zeros(len(m)))
        n_b = m @ np.bincount(unit, minlength=u)  # (b,) samples in each resample
        if pairs:
            with np.errstate(invalid="ignore", divide="ignore"):
                aucs = np.stack([np.einsum("bu,uv,bv->b", m, a[:u], m)
                                 / (m @ a[u] * (m @ a[u + 1])) for a in pairs], axis=1)  # fmt: skip
        else:
            w = m[:, unit]  # (b, N) sample weights
            aucs = np.stack([_weighted_auroc(y[:, c_], s[:, c_], w) for c_ in cols], axis=1)
        out["macro_auroc"].append(_nanmean(aucs) if j else np.full(len(m), np.nan))
        out["accuracy"].append(c[:, -1] / np.maximum(n_b, 1))
    return {name: np.concatenate(v) if v else np.zeros(0) for name, v in out.items()}


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
