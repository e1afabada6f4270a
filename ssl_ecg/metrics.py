"""Classification metrics with (patient-)bootstrap confidence intervals, in numpy only.

Definitions
-----------
Single-label: the prediction is ``argmax(proba)``. The confusion matrix ``cm`` (K, K) counts
samples with rows = true class, columns = predicted class. Per class c, with
TP = cm[c, c], FN = row sum - TP, FP = column sum - TP:

* sensitivity (recall) = TP / (TP + FN)
* PPV (precision)      = TP / (TP + FP)
* F1                   = 2 TP / (2 TP + FP + FN)
* support              = TP + FN (true samples of the class)

A ratio whose denominator is 0 is 0.0, as sklearn's ``zero_division=0``. ``accuracy`` is
trace(cm) / N. The ``macro_*`` scores are unweighted means over the ``scored`` classes (all by
default; e.g. AAMI N, S, V, F with Q reported per class but not averaged), as sklearn's
``average="macro", labels=scored``.

AUROC is binary, computed with the rank (Mann-Whitney U) formula: with 1-based ranks of the
scores, tied scores sharing their average rank, AUROC = (sum of the positives' ranks -
P (P + 1) / 2) / (P Q) for P positives and Q negatives, i.e. the probability that a random
positive scores above a random negative, ties counting one half. It is nan when only one class
is present. Single-label AUROC is one-vs-rest on ``proba[:, c]``; ``macro_auroc`` averages the
scored classes that have both positives and negatives in ``y_true``.

Multi-label: ``y_true`` and ``proba`` are (N, K); class c is predicted when
``proba[:, c] >= threshold``. Per class TP, FP, FN give sensitivity, PPV and F1 as above;
``macro_f1``, ``macro_sensitivity`` and ``macro_ppv`` average the classes with at least one
positive (listed as ``scored``); ``macro_auroc`` averages the classes with both positives and
negatives; ``accuracy`` is exact-match (subset) accuracy, as sklearn's ``accuracy_score``.

Confidence intervals
--------------------
``ci`` holds 95 % percentile bootstrap intervals (2.5th and 97.5th percentiles of the
resampled statistic, linear interpolation) for ``macro_f1``, ``macro_auroc`` and ``accuracy``.
With ``groups`` (patient ids) the bootstrap resamples whole patients with replacement (a cluster
bootstrap: beats or records of one patient are not independent); without, it resamples samples.
Either way a resample is a vector of multiplicities m (how often each of the U units was drawn;
U draws, so it sums to U), and every count-based statistic is linear in it: the per-unit
contributions (per-patient confusion matrices, or per-class TP/FP/FN counts) are precomputed
once, so a block of resamples is one matrix product (b, U) @ (U, K*K) giving (b, K, K)
confusion matrices. Units with identical contributions (e.g. all samples in one confusion
cell, for the sample bootstrap) are merged into R "patterns" first, so the product is (b, R) @
(R, K*K); resamples that need no AUROC draw the pattern multiplicities directly from
Multinomial(U, units per pattern / U), which is the same distribution. No per-sample index
arrays are built.

The bootstrap AUROC is computed exactly (ties counted one half) on the same resamples as the
counts, in one of two ways:

* at most ``PAIRWISE_MAX_UNITS`` units (patients; the usual MIT-BIH case): the Mann-Whitney
  numerator is a quadratic form m^T A m, where A[u, v] counts the (positive in unit u,
  negative in unit v) pairs ranked correctly (+ half the ties), and the denominator is
  (m . P)(m . Q) with P, Q the positives and negatives per unit; A is built once per class from
  one sort, so all ``n_boot`` resamples cost one (b, U, U) contraction;
* more units (the sample bootstrap, or many patients): each resample's weighted AUROC is
  computed from the once-sorted scores with a cumulative sum of the resampled negative weights,
  O(N) per resample and class. This is too slow for every resample, so AUROC uses only the
  first ``max(n_boot // 5, min(n_boot, 100))`` resamples (200 of 1000); see
  :func:`n_boot_auroc` and the report's ``bootstrap`` entry.

A class that loses all its positives (or negatives) in a resample is left out of that
resample's macro AUROC (and, multi-label, of its macro F1); resamples where no class is left
are dropped from the percentiles. With ``n_boot=0`` the intervals are ``[None, None]``.

Reports are JSON-serialisable: plain ``int``/``float``/``str``/lists/dicts; nan becomes None.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

PAIRWISE_MAX_UNITS = 64  # up to this many bootstrap units, AUROC uses the quadratic-form path
_BLOCK_ELEMENTS = 2_000_000  # elements of one (resamples, units-or-samples) block


# ------------------------------------------------------------------ point metrics
def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(K, K) int64 counts of (N,) int labels, rows = true class, columns = predicted class."""
    t = np.asarray(y_true).astype(np.int64).ravel()  # (N,)
    p = np.asarray(y_pred).astype(np.int64).ravel()  # (N,)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    for name, v in (("y_true", t), ("y_pred", p)):
        if v.size and (v.min() < 0 or v.max() >= k):
            raise ValueError(f"{name} holds labels outside 0..{k - 1}")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise as float64, 0.0 where den == 0 (zero_division=0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)),
                     where=den > 0)  # fmt: skip


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class "sensitivity", "ppv", "f1", "support" (each (..., K)) of a (..., K, K) matrix.

    Works on a stack of confusion matrices too (the bootstrap passes (B, K, K)).
    """
    cm = np.asarray(cm)
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(np.float64)  # (..., K)
    support = cm.sum(axis=-1)  # (..., K) true samples per class = TP + FN
    predicted = cm.sum(axis=-2)  # (..., K) predicted per class = TP + FP
    return {
        "sensitivity": _ratio(tp, support),
        "ppv": _ratio(tp, predicted),
        "f1": _ratio(2 * tp, support + predicted),  # 2TP / (2TP + FP + FN)
        "support": support,
    }


def _tie_blocks(score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort ``score`` (N,): (order (N,), start (N,), end (N,)).

    ``order`` sorts ascending; for sorted position i, ``[start[i], end[i])`` is the block of
    sorted positions holding the same score (its ties, itself included).
    """
    order = np.argsort(score, kind="stable")
    s = score[order]
    new = np.empty(s.size, dtype=bool)  # (N,) True where a tie block begins
    new[:1] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    first = np.flatnonzero(new)  # (L,) start of each block
    last = np.append(first[1:], s.size)  # (L,) end (exclusive) of each block
    block = np.cumsum(new) - 1  # (N,) block of each sorted position
    return order, first[block], last[block]


def auroc(y_true01: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC by the rank (Mann-Whitney U) formula, ties averaged; nan if one class."""
    y = np.asarray(y_true01).astype(bool).ravel()  # (N,)
    s = np.asarray(score, dtype=np.float64).ravel()  # (N,)
    if y.shape != s.shape:
        raise ValueError(f"y_true01 has {y.size} values but score has {s.size}")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order, start, end = _tie_blocks(s)
    ranks = (start + end + 1) / 2.0  # (N,) average 1-based rank of each sorted position
    rank_sum = float(ranks[y[order]].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


# ------------------------------------------------------------------ bootstrap machinery
def _units(groups: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """(unit index of each sample (N,), number of units U): patients, or samples themselves."""
    if groups is None:
        return np.arange(n), n
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups must have shape ({n},), got {g.shape}")
    if g.dtype == object:
        g = g.astype(str)
    _, unit = np.unique(g, return_inverse=True)
    unit = unit.ravel()
    return unit, int(unit.max()) + 1 if n else 0


def _blocks(rng: np.random.Generator, u: int, n_boot: int, width: int) -> Iterator[np.ndarray]:
    """Multiplicities of ``n_boot`` resamples of U units, in blocks (b, U) of float64 counts.

    Each resample draws U units with replacement; row sums are U. ``width`` (elements per
    resample a consumer expands to) sets the block size so a block stays ~16 MB.
    """
    step = max(1, min(n_boot, _BLOCK_ELEMENTS // max(width, 1)))
    done = 0
    while done < n_boot:
        b = min(step, n_boot - done)
        draws = rng.integers(0, u, size=(b, u))  # (b, U)
        flat = (np.arange(b)[:, None] * u + draws).ravel()
        yield np.bincount(flat, minlength=b * u).reshape(b, u).astype(np.float64)
        done += b


def _per_unit(unit: np.ndarray, u: int, counts: np.ndarray) -> np.ndarray:
    """Sum the per-sample contributions ``counts`` (N, C) within each unit: (U, C)."""
    if u == unit.size and np.array_equal(unit, np.arange(u)):
        return counts.astype(np.float64)
    return np.stack(
        [np.bincount(unit, weights=counts[:, c], minlength=u) for c in range(counts.shape[1])],
        axis=1,
    )


class _PairwiseAuroc:
    """Exact bootstrap AUROC for few units: numerator m^T A m, denominator (m.P)(m.Q)."""

    def __init__(self, unit: np.ndarray, u: int, pos: np.ndarray, score: np.ndarray) -> None:
        n, j = pos.shape  # pos, score: (N, J) for the J classes bootstrapped
        self.a = np.zeros((j, u, u))  # (J, U, U) correctly ranked (pos in u, neg in v) pairs
        self.n_pos = np.zeros((j, u))  # (J, U) positives per unit
        self.n_neg = np.zeros((j, u))  # (J, U) negatives per unit
        onehot = np.zeros((n, u), dtype=np.int32)  # (N, U) unit of each sorted negative
        below = np.zeros((n + 1, u), dtype=np.int32)  # (N+1, U) negatives before a position
        for c in range(j):
            order, start, end = _tie_blocks(score[:, c])
            p_sorted = pos[order, c]  # (N,)
            unit_sorted = unit[order]  # (N,)
            neg = np.flatnonzero(~p_sorted)
            onehot[:] = 0
            onehot[neg, unit_sorted[neg]] = 1
            np.cumsum(onehot, axis=0, out=below[1:])
            i = np.flatnonzero(p_sorted)  # sorted positions of the positives
            # negatives strictly below + half of those tied = (below[start] + below[end]) / 2
            twice = below[start[i]] + below[end[i]]  # (P, U)
            for v in range(u):  # rows: unit of the positive; columns: unit of the negative
                self.a[c, :, v] = 0.5 * np.bincount(unit_sorted[i], twice[:, v], minlength=u)
            self.n_pos[c] = np.bincount(unit[pos[:, c]], minlength=u)
            self.n_neg[c] = np.bincount(unit[~pos[:, c]], minlength=u)

    def __call__(self, m: np.ndarray) -> np.ndarray:
        """AUROC (b, J) of the resamples with multiplicities ``m`` (b, U); nan if undefined."""
        num = np.einsum("bu,juv,bv->bj", m, self.a, m)
        den = (m @ self.n_pos.T) * (m @ self.n_neg.T)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)


class _WeightedAuroc:
    """Exact bootstrap AUROC for many units: a weighted Mann-Whitney sum per resample, O(N).

    For each class the scores are sorted once. AUROC(y, s) = AUROC(1 - y, -s), so the labels
    are flipped where needed to make the "negatives" the larger set: per resample their
    weights are gathered and cumulated, and each "positive" reads the negative weight below
    its tie block (plus half the tied weight) at its precomputed offsets. Weights are float32
    (integer sums are exact below 2**24), the final sums float64.
    """

    def __init__(self, unit: np.ndarray, u: int, pos: np.ndarray, score: np.ndarray) -> None:
        self.identity = u == unit.size and np.array_equal(unit, np.arange(u))
        self.unit = unit
        self.plan: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for c in range(pos.shape[1]):
            p, s = pos[:, c], score[:, c]
            if p.sum() > p.size - p.sum():
                p, s = ~p, -s  # same AUROC; keeps the cumulated (negative) side the larger
            order, start, end = _tie_blocks(s)
            p_sorted = p[order]
            neg_before = np.concatenate([[0], np.cumsum(~p_sorted)])  # (N+1,)
            i = np.flatnonzero(p_sorted)
            # (negatives in score order, positives, # negatives below / up to each tie block)
            self.plan.append((order[~p_sorted], order[i], neg_before[start[i]], neg_before[end[i]]))

    def __call__(self, m: np.ndarray) -> np.ndarray:
        """AUROC (b, J) of the resamples with multiplicities ``m`` (b, U); nan if undefined."""
        w = m.astype(np.float32)
        if not self.identity:
            w = w[:, self.unit]  # (b, N) weight of each sample
        out = np.empty((m.shape[0], len(self.plan)))
        for c, (neg_idx, pos_idx, lo, hi) in enumerate(self.plan):
            below = np.zeros((w.shape[0], neg_idx.size + 1), dtype=np.float32)  # (b, Q+1)
            np.cumsum(w[:, neg_idx], axis=1, out=below[:, 1:])
            wp = w[:, pos_idx]  # (b, P)
            num = np.einsum("bp,bp->b", wp, below[:, lo] + below[:, hi], dtype=np.float64) / 2
            den = wp.sum(axis=1, dtype=np.float64) * below[:, -1]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, c] = np.where(den > 0, num / den, np.nan)
        return out


def n_boot_auroc(n_boot: int, n_units: int) -> int:
    """Resamples used for the bootstrap AUROC: all of them with the pairwise path (at most
    ``PAIRWISE_MAX_UNITS`` units), else ``max(n_boot // 5, min(n_boot, 100))`` (O(N) each)."""
    if n_units <= PAIRWISE_MAX_UNITS:
        return n_boot
    return max(n_boot // 5, min(n_boot, 100))


def _patterns(per_unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``per_unit`` (U, C): (patterns (R, C), pattern of each unit (U,)).

    When most rows are distinct, every unit is its own pattern (R = U, identity map).
    """
    rows = np.ascontiguousarray(per_unit)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    if 2 * first.size > rows.shape[0]:
        return rows, np.arange(rows.shape[0])
    return rows[first], inverse.ravel()


def _by_pattern(m: np.ndarray, perm: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Unit multiplicities (b, U) summed within contribution patterns: (b, R)."""
    if bounds.size == m.shape[1]:
        return m  # one unit per pattern, in order
    return np.add.reduceat(m[:, perm], bounds, axis=1)


def _bootstrap(
    groups: np.ndarray | None,
    counts: np.ndarray,
    pos: np.ndarray,
    score: np.ndarray,
    n_boot: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Resample units: (counts (n_boot, C), auroc (n_auroc, J), description).

    ``counts`` (N, C): per-sample contributions summed in each resample (e.g. a one-hot
    confusion cell); ``pos``/``score`` (N, J): the classes whose AUROC is resampled.

    Units with identical contribution rows (patterns, R of them) are interchangeable for the
    counts, so a resample's counts are (pattern multiplicities (R,)) @ (patterns (R, C)). The
    first ``n_boot_auroc`` resamples draw unit multiplicities (needed for AUROC) and sum them
    per pattern; the rest draw the pattern multiplicities directly, from
    Multinomial(U, units per pattern / U), which is the same distribution.
    """
    n = counts.shape[0]
    unit, u = _units(groups, n)
    per_unit = _per_unit(unit, u, counts)  # (U, C)
    patterns, unit_pattern = _patterns(per_unit)  # (R, C), (U,)
    r = patterns.shape[0]
    perm = np.argsort(unit_pattern, kind="stable")  # units grouped by pattern
    bounds = np.searchsorted(unit_pattern[perm], np.arange(r))  # (R,) first unit of each
    pairwise = u <= PAIRWISE_MAX_UNITS
    j = pos.shape[1]
    n_auc = min(n_boot, n_boot_auroc(n_boot, u)) if j else 0
    boot_counts = np.empty((n_boot, counts.shape[1]))
    boot_auc = np.full((n_auc, j), np.nan)
    rng = np.random.default_rng(seed)
    done = 0
    if n_auc:
        auc_fn = (_PairwiseAuroc if pairwise else _WeightedAuroc)(unit, u, pos, score)
        for m in _blocks(rng, u, n_auc, u if pairwise else n):
            b = m.shape[0]
            boot_counts[done : done + b] = _by_pattern(m, perm, bounds) @ patterns
            boot_auc[done : done + b] = auc_fn(m)
            done += b
    if done < n_boot:  # the remaining resamples only need the pattern multiplicities
        if 8 * r <= u:
            freq = np.bincount(unit_pattern, minlength=r) / u
            boot_counts[done:] = rng.multinomial(u, freq, size=n_boot - done) @ patterns
        else:
            for m in _blocks(rng, u, n_boot - done, u):
                b = m.shape[0]
                boot_counts[done : done + b] = _by_pattern(m, perm, bounds) @ patterns
                done += b
    info = {
        "unit": "sample" if groups is None else "patient",
        "n_units": u,
        "n_boot": n_boot,
        "n_boot_auroc": n_auc,
        "auroc_method": "pairwise" if pairwise else "weighted-ranks",
    }
    return boot_counts, boot_auc, info


# ------------------------------------------------------------------ report helpers
def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring nan (B, J) -> (B,); nan where a row is all nan."""
    ok = ~np.isnan(x)
    k = ok.sum(axis=-1)
    total = np.where(ok, x, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 0, total / np.maximum(k, 1), np.nan)


def _ci(values: np.ndarray) -> list[float | None]:
    """95 % percentile interval [lo, hi] of the finite ``values`` (B,); [None, None] if none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [None, None]
    lo, hi = np.percentile(v, [2.5, 97.5])
    return [float(lo), float(hi)]


def _num(value: float) -> float | None:
    """A plain float for JSON, None for nan."""
    value = float(value)
    return None if math.isnan(value) else value


def _check_proba(proba: np.ndarray, n: int, k: int) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.shape != (n, k):
        raise ValueError(f"proba must have shape ({n}, {k}) (samples, classes), got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("proba holds nan or inf")
    return p


# ------------------------------------------------------------------ reports
def classification_report(
    y_true: np.ndarray,  # (N,) int class index
    proba: np.ndarray,  # (N, K) class probabilities (rows sum to 1)
    classes: list[str],  # K names
    scored: list[str] | None = None,  # classes in the macro averages (default all)
    groups: np.ndarray | None = None,  # (N,) patient ids -> cluster bootstrap; else samples
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Single-label scores of ``argmax(proba)`` against ``y_true`` with bootstrap 95 % CIs.

    Returns a JSON-ready dict: n, classes, scored, accuracy, macro_f1, macro_auroc,
    macro_sensitivity, macro_ppv, per_class {name: {f1, sensitivity, ppv, auroc, support}},
    confusion (K x K list, rows = true), ci {macro_f1, macro_auroc, accuracy: [lo, hi]} and
    bootstrap (what was resampled; when n_boot > 0). See the module docstring for the definitions.
    """
    classes = list(classes)
    k = len(classes)
    y = np.asarray(y_true).astype(np.int64).ravel()  # (N,)
    n = y.size
    p = _check_proba(proba, n, k)  # (N, K)
    scored = list(classes if scored is None else scored)
    unknown = [c for c in scored if c not in classes]
    if unknown:
        raise ValueError(f"scored classes {unknown} are not among {classes}")
    cols = np.array([classes.index(c) for c in scored], dtype=np.int64)  # scored class indices
    y_pred = p.argmax(axis=1)  # (N,)
    cm = confusion(y, y_pred, k)  # (K, K)
    stats = per_class(cm)
    onehot = y[:, None] == np.arange(k)  # (N, K) one-vs-rest truth
    aucs = np.array([auroc(onehot[:, c], p[:, c]) for c in range(k)])  # (K,)
    auc_cols = cols[~np.isnan(aucs[cols])]  # scored classes with positives and negatives

    report: dict[str, Any] = {
        "n": int(n),
        "classes": classes,
        "scored": scored,
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "macro_f1": float(stats["f1"][cols].mean()) if cols.size else 0.0,
        "macro_auroc": _num(aucs[auc_cols].mean()) if auc_cols.size else None,
        "macro_sensitivity": float(stats["sensitivity"][cols].mean()) if cols.size else 0.0,
        "macro_ppv": float(stats["ppv"][cols].mean()) if cols.size else 0.0,
        "per_class": {
            name: {
                "f1": float(stats["f1"][c]),
                "sensitivity": float(stats["sensitivity"][c]),
                "ppv": float(stats["ppv"][c]),
                "auroc": _num(aucs[c]),
                "support": int(stats["support"][c]),
            }
            for c, name in enumerate(classes)
        },
        "confusion": cm.tolist(),
    }
    if n_boot <= 0 or n == 0:
        report["ci"] = {"macro_f1": [None, None], "macro_auroc": [None, None],
                        "accuracy": [None, None]}  # fmt: skip
        return report
    cells = np.zeros((n, k * k))  # (N, K*K) one-hot confusion cell of each sample
    cells[np.arange(n), y * k + y_pred] = 1.0
    boot_cells, boot_auc, info = _bootstrap(
        groups, cells, onehot[:, auc_cols], p[:, auc_cols], n_boot, seed
    )
    boot_cm = boot_cells.reshape(n_boot, k, k)  # (B, K, K)
    boot_f1 = per_class(boot_cm)["f1"][:, cols]  # (B, |scored|)
    total = boot_cm.sum(axis=(1, 2))  # (B,)
    boot_acc = np.trace(boot_cm, axis1=1, axis2=2) / np.maximum(total, 1)
    report["ci"] = {
        "macro_f1": _ci(boot_f1.mean(axis=1)) if cols.size else [None, None],
        "macro_auroc": _ci(_nanmean_rows(boot_auc)),
        "accuracy": _ci(boot_acc),
    }
    report["bootstrap"] = info
    return report


def multilabel_report(
    y_true: np.ndarray,  # (N, K) 0/1
    proba: np.ndarray,  # (N, K) independent probabilities
    classes: list[str],  # K names
    threshold: float = 0.5,  # class c predicted where proba[:, c] >= threshold
    groups: np.ndarray | None = None,  # (N,) patient ids -> cluster bootstrap; else samples
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Multi-label scores of ``proba >= threshold`` against ``y_true`` with bootstrap 95 % CIs.

    Same keys as :func:`classification_report` without ``confusion``; ``scored`` lists the
    classes with at least one positive (those in the macro F1/Se/PPV), ``accuracy`` is
    exact-match accuracy. See the module docstring for the definitions.
    """
    classes = list(classes)
    k = len(classes)
    y = np.asarray(y_true)
    if y.ndim != 2 or y.shape[1] != k:
        raise ValueError(f"y_true must have shape (N, {k}) (samples, classes), got {y.shape}")
    y = y.astype(bool)  # (N, K)
    n = y.shape[0]
    p = _check_proba(proba, n, k)  # (N, K)
    pred = p >= threshold  # (N, K)
    tp, fp, fn = y & pred, ~y & pred, y & ~pred  # (N, K) each
    exact = (pred == y).all(axis=1)  # (N,)

    def scores(t: np.ndarray, f_p: np.ndarray, f_n: np.ndarray) -> dict[str, np.ndarray]:
        return {"f1": _ratio(2 * t, 2 * t + f_p + f_n), "sensitivity": _ratio(t, t + f_n),
                "ppv": _ratio(t, t + f_p)}  # fmt: skip

    s = scores(tp.sum(0), fp.sum(0), fn.sum(0))  # each (K,)
    present = y.any(axis=0)  # (K,) classes with a positive: the macro F1/Se/PPV set
    aucs = np.array([auroc(y[:, c], p[:, c]) for c in range(k)])  # (K,)
    auc_cols = np.flatnonzero(~np.isnan(aucs))  # classes with positives and negatives

    def macro(v: np.ndarray) -> float:
        return float(v[present].mean()) if present.any() else 0.0

    report: dict[str, Any] = {
        "n": int(n),
        "classes": classes,
        "scored": [c for c, ok in zip(classes, present, strict=True) if ok],
        "accuracy": float(exact.mean()) if n else 0.0,
        "macro_f1": macro(s["f1"]),
        "macro_auroc": _num(aucs[auc_cols].mean()) if auc_cols.size else None,
        "macro_sensitivity": macro(s["sensitivity"]),
        "macro_ppv": macro(s["ppv"]),
        "per_class": {
            name: {
                "f1": float(s["f1"][c]),
                "sensitivity": float(s["sensitivity"][c]),
                "ppv": float(s["ppv"][c]),
                "auroc": _num(aucs[c]),
                "support": int(y[:, c].sum()),
            }
            for c, name in enumerate(classes)
        },
    }
    if n_boot <= 0 or n == 0:
        report["ci"] = {"macro_f1": [None, None], "macro_auroc": [None, None],
                        "accuracy": [None, None]}  # fmt: skip
        return report
    ones = np.ones((n, 1), dtype=bool)  # counts the samples of a resample (patients vary)
    counts = np.concatenate([tp, fp, fn, exact[:, None], ones], axis=1).astype(np.float64)
    boot_counts, boot_auc, info = _bootstrap(
        groups, counts, y[:, auc_cols], p[:, auc_cols], n_boot, seed
    )
    b_tp, b_fp, b_fn = (boot_counts[:, i * k : (i + 1) * k] for i in range(3))  # (B, K) each
    b_f1 = scores(b_tp, b_fp, b_fn)["f1"]  # (B, K)
    b_present = (b_tp + b_fn) > 0  # classes with a positive in each resample
    macro_f1 = _nanmean_rows(np.where(b_present, b_f1, np.nan))
    report["ci"] = {
        "macro_f1": _ci(macro_f1),
        "macro_auroc": _ci(_nanmean_rows(boot_auc)),
        "accuracy": _ci(boot_counts[:, 3 * k] / boot_counts[:, 3 * k + 1]),
    }
    report["bootstrap"] = info
    return report
