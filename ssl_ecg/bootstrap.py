"""Patient-bootstrap resamples of the macro scores (what :mod:`ssl_ecg.metrics` reports).

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

import numpy as np

from ssl_ecg.indicators import SCORES, _columns, _indicators

_BLOCK = 4_000_000  # elements of one (resamples, samples) weight block (32 MB of float64)
_PAIRED = 500  # up to this many units, AUROC resamples use per-unit pair counts


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
