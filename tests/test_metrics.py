"""ssl_ecg.metrics against sklearn (an independent reference), by hand, and the bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from ssl_ecg.metrics import (
    _bootstrap,
    _PairwiseAuroc,
    _WeightedAuroc,
    auroc,
    classification_report,
    confusion,
    multilabel_report,
    per_class,
)

AAMI = ["N", "S", "V", "F", "Q"]


def sample(
    n: int, seed: int = 0, patients: int = 20, decimals: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y (N,), proba (N, 5), patient ids (N,)): imbalanced AAMI-like, informative scores."""
    rng = np.random.default_rng(seed)
    y = rng.choice(5, size=n, p=[0.6, 0.15, 0.15, 0.08, 0.02])
    p = rng.dirichlet(np.ones(5), size=n)
    p[np.arange(n), y] += rng.random(n)  # informative but imperfect
    p /= p.sum(1, keepdims=True)
    if decimals is not None:
        p = np.round(p, decimals)  # many tied scores
    return y, p, rng.integers(0, patients, size=n)


def plain(obj: object) -> bool:
    """True when obj is built only from JSON's own Python types (no numpy scalars)."""
    if isinstance(obj, dict):
        return all(isinstance(k, str) and plain(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(plain(v) for v in obj)
    return obj is None or type(obj) in (int, float, str, bool)


# ------------------------------------------------------------------ against sklearn
def test_single_label_matches_sklearn_per_class_with_ties_and_empty_classes() -> None:
    y, p, _ = sample(2000, decimals=1)
    p[:, 3] = 0.0  # F is never predicted: its PPV is 0/0 -> 0
    pred = p.argmax(1)
    r = classification_report(y, p, AAMI, n_boot=0)
    labels = list(range(5))
    assert r["confusion"] == confusion_matrix(y, pred, labels=labels).tolist()
    np.testing.assert_array_equal(confusion(y, pred, 5), confusion_matrix(y, pred, labels=labels))
    kw = {"labels": labels, "average": None, "zero_division": 0}
    for key, fn in [("f1", f1_score), ("ppv", precision_score), ("sensitivity", recall_score)]:
        got = [r["per_class"][c][key] for c in AAMI]
        np.testing.assert_allclose(got, fn(y, pred, **kw), rtol=0, atol=1e-12)
    assert r["per_class"]["F"]["ppv"] == 0.0
    for c, name in enumerate(AAMI):  # one-vs-rest, scores rounded to 0.1 -> many ties
        assert r["per_class"][name]["auroc"] == pytest.approx(roc_auc_score(y == c, p[:, c]))
        assert r["per_class"][name]["support"] == int((y == c).sum())
    assert r["accuracy"] == pytest.approx(accuracy_score(y, pred))


def test_scored_subset_macro_averages_match_sklearn_labels() -> None:
    y, p, _ = sample(3000, seed=1)
    pred = p.argmax(1)
    r = classification_report(y, p, AAMI, scored=["N", "S", "V", "F"], n_boot=0)
    assert r["scored"] == ["N", "S", "V", "F"]
    kw = {"labels": [0, 1, 2, 3], "average": "macro", "zero_division": 0}
    assert r["macro_f1"] == pytest.approx(f1_score(y, pred, **kw))
    assert r["macro_ppv"] == pytest.approx(precision_score(y, pred, **kw))
    assert r["macro_sensitivity"] == pytest.approx(recall_score(y, pred, **kw))
    expected_auc = np.mean([roc_auc_score(y == c, p[:, c]) for c in range(4)])
    assert r["macro_auroc"] == pytest.approx(expected_auc)
    every = classification_report(y, p, AAMI, n_boot=0)  # default: all five classes
    assert every["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))


def test_per_class_works_on_a_stack_of_matrices() -> None:
    y, p, _ = sample(500, seed=2)
    pred = p.argmax(1)
    cm = confusion(y, pred, 5)
    stacked = per_class(np.stack([cm, 2 * cm]))
    single = per_class(cm)
    for key in ("sensitivity", "ppv", "f1"):
        np.testing.assert_allclose(stacked[key][0], single[key])
        np.testing.assert_allclose(stacked[key][1], single[key])  # ratios scale-free
    np.testing.assert_array_equal(single["support"], np.bincount(y, minlength=5))


def test_auroc_with_ties_and_a_single_class() -> None:
    rng = np.random.default_rng(3)
    score = np.round(rng.random(300), 1)  # 11 distinct values: heavy ties
    y = (rng.random(300) < score * 0.8).astype(int)
    assert auroc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert auroc(y, np.zeros(300)) == pytest.approx(0.5)  # all tied
    # by hand: pos {0.5, 0.9} vs neg {0.1, 0.5}: 0.5>0.1, 0.5=0.5 (1/2), 0.9>both -> 3.5 / 4
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.5, 0.5, 0.9])) == 0.875
    assert np.isnan(auroc(np.ones(5), np.arange(5.0)))
    assert np.isnan(auroc(np.zeros(5), np.arange(5.0)))


def test_multilabel_matches_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random((400, 5)) < [0.3, 0.1, 0.5, 0.05, 0.0]).astype(int)  # "e" has no positives
    p = np.round(np.clip(y * 0.35 + rng.random((400, 5)) * 0.7, 0, 1), 2)  # ties too
    r = multilabel_report(y, p, list("abcde"), threshold=0.5, n_boot=0)
    pred = (p >= 0.5).astype(int)
    kw = {"average": None, "zero_division": 0}
    for key, fn in [("f1", f1_score), ("ppv", precision_score), ("sensitivity", recall_score)]:
        expected = fn(y, pred, **kw)
        np.testing.assert_allclose([r["per_class"][c][key] for c in "abcde"], expected)
        macro = {"f1": "macro_f1", "ppv": "macro_ppv", "sensitivity": "macro_sensitivity"}[key]
        assert r[macro] == pytest.approx(expected[:4].mean())  # classes with a positive
    assert r["scored"] == list("abcd")
    aucs = [roc_auc_score(y[:, c], p[:, c]) for c in range(4)]
    for c, name in enumerate("abcd"):
        assert r["per_class"][name]["auroc"] == pytest.approx(aucs[c])
        assert r["per_class"][name]["support"] == int(y[:, c].sum())
    assert r["per_class"]["e"]["auroc"] is None
    assert r["macro_auroc"] == pytest.approx(np.mean(aucs))
    assert r["accuracy"] == pytest.approx(accuracy_score(y, pred))  # exact-match accuracy
    assert "confusion" not in r


# ------------------------------------------------------------------ from first principles
def test_hand_computed_example() -> None:
    # true A A A B B C; argmax gives A A B B A B.  Confusion (rows true): A [2 1 0], B [1 1 0],
    # C [0 1 0].  A: TP 2 FN 1 FP 1 -> Se 2/3, PPV 2/3, F1 4/6.  B: TP 1 FN 1 FP 2 -> Se 1/2,
    # PPV 1/3, F1 2/5.  C: TP 0 FN 1 FP 0 -> Se 0, PPV 0/0 = 0, F1 0.  Accuracy 3/6.
    p = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.6, 0.3, 0.1],
            [0.3, 0.5, 0.2],
            [0.2, 0.6, 0.2],
            [0.6, 0.3, 0.1],
            [0.2, 0.5, 0.3],
        ]
    )
    y = np.array([0, 0, 0, 1, 1, 2])
    r = classification_report(y, p, ["A", "B", "C"], n_boot=0)
    assert r["confusion"] == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    pc = r["per_class"]
    assert (pc["A"]["sensitivity"], pc["A"]["ppv"], pc["A"]["f1"]) == pytest.approx((2 / 3,) * 3)
    assert (pc["B"]["sensitivity"], pc["B"]["ppv"], pc["B"]["f1"]) == pytest.approx(
        (0.5, 1 / 3, 0.4)
    )
    assert (pc["C"]["sensitivity"], pc["C"]["ppv"], pc["C"]["f1"]) == (0.0, 0.0, 0.0)
    assert [pc[c]["support"] for c in "ABC"] == [3, 2, 1]
    assert r["accuracy"] == pytest.approx(0.5)
    assert r["macro_f1"] == pytest.approx((2 / 3 + 2 / 5 + 0) / 3)
    # AUROC A: pos {.7 .6 .3} vs neg {.2 .6 .2}: .7 beats 3; .6 beats 2, ties 1; .3 beats 2
    # -> 7.5/9.  B: pos {.6 .3} vs neg {.2 .3 .5 .5}: .6 beats 4; .3 beats 1, ties 1 -> 5.5/8.
    # C: pos {.3} beats all 5 negatives -> 1.
    assert pc["A"]["auroc"] == pytest.approx(7.5 / 9)
    assert pc["B"]["auroc"] == pytest.approx(5.5 / 8)
    assert pc["C"]["auroc"] == pytest.approx(1.0)
    assert r["macro_auroc"] == pytest.approx((7.5 / 9 + 5.5 / 8 + 1) / 3)
    sub = classification_report(y, p, ["A", "B", "C"], scored=["A", "B"], n_boot=0)
    assert sub["macro_f1"] == pytest.approx((2 / 3 + 2 / 5) / 2)
    assert sub["macro_sensitivity"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert sub["macro_ppv"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert sub["macro_auroc"] == pytest.approx((7.5 / 9 + 5.5 / 8) / 2)


# ------------------------------------------------------------------ the bootstrap
@pytest.mark.parametrize("cls", [_PairwiseAuroc, _WeightedAuroc])
def test_bootstrap_auroc_is_exact_for_given_multiplicities(cls: type) -> None:
    rng = np.random.default_rng(5)
    n, u = 600, 12
    unit = rng.integers(0, u, n)
    pos = rng.random((n, 2)) < [0.3, 0.8]  # the second class has more positives: label flip
    score = np.round(rng.random((n, 2)) + 0.3 * pos, 1)  # ties
    m = np.stack([np.bincount(rng.integers(0, u, u), minlength=u) for _ in range(4)]).astype(float)
    got = cls(unit, u, pos, score)(m)
    for b in range(4):  # replicate the drawn patients explicitly and ask sklearn
        idx = np.concatenate([np.repeat(np.flatnonzero(unit == k), int(m[b, k])) for k in range(u)])
        expected = [roc_auc_score(pos[idx, c], score[idx, c]) for c in range(2)]
        np.testing.assert_allclose(got[b], expected, rtol=1e-6)


def test_bootstrap_counts_have_the_resampling_distribution() -> None:
    # Sample bootstrap of N samples: the correct count is Binomial(N, accuracy) in each
    # resample, both in the AUROC-sharing resamples (unit draws) and the rest (multinomial).
    y, p, _ = sample(2000, seed=6)
    pred = p.argmax(1)
    n, k = y.size, 5
    cells = np.zeros((n, k * k))
    cells[np.arange(n), y * k + pred] = 1
    pos = (y == 0)[:, None]
    counts, aucs, info = _bootstrap(None, cells, pos, p[:, :1], n_boot=1000, seed=0)
    assert info["n_boot_auroc"] == 200 and aucs.shape == (200, 1)
    assert np.all(counts.sum(1) == n)
    acc = float((y == pred).mean())
    correct = counts[:, :: k + 1].sum(1) / n  # (B,) resampled accuracy
    sd = np.sqrt(acc * (1 - acc) / n)
    for part in (correct[:200], correct[200:]):
        assert abs(part.mean() - acc) < 4 * sd / np.sqrt(part.size)
        assert 0.8 < part.std() / sd < 1.2


def test_intervals_contain_the_estimate_and_narrow_as_n_grows() -> None:
    for groups in (False, True):
        widths = []
        for n, patients in ((400, 20), (8000, 400)):
            y, p, g = sample(n, seed=7, patients=patients)
            r = classification_report(
                y, p, AAMI, scored=AAMI[:4], groups=g if groups else None, n_boot=300
            )
            for key in ("macro_f1", "macro_auroc", "accuracy"):
                lo, hi = r["ci"][key]
                assert lo <= r[key] <= hi, (key, groups, n)
            widths.append({key: np.diff(r["ci"][key])[0] for key in r["ci"]})
        for key in ("macro_f1", "macro_auroc", "accuracy"):
            assert widths[1][key] < 0.6 * widths[0][key], (key, groups)


def test_cluster_bootstrap_is_wider_when_patients_are_homogeneous_blocks() -> None:
    rng = np.random.default_rng(8)
    patients = np.repeat(np.arange(30), 60)
    n = patients.size
    good = rng.random(30) < 0.5  # half the patients classified well, half badly
    y = rng.integers(0, 2, n)
    right = rng.random(n) < np.where(good[patients], 0.95, 0.5)
    score = np.clip(np.where(y == 1, 0.7, 0.3) + np.where(right, 0, np.where(y == 1, -0.5, 0.5))
                    + rng.normal(0, 0.05, n), 0, 1)  # fmt: skip
    p = np.stack([1 - score, score], axis=1)
    by_patient = classification_report(y, p, ["a", "b"], groups=patients, n_boot=500)
    by_sample = classification_report(y, p, ["a", "b"], n_boot=500)
    assert (
        by_patient["bootstrap"]["unit"] == "patient" and by_sample["bootstrap"]["unit"] == "sample"
    )
    for key in ("macro_f1", "macro_auroc", "accuracy"):
        wide = np.diff(by_patient["ci"][key])[0]
        narrow = np.diff(by_sample["ci"][key])[0]
        assert wide > 1.5 * narrow, key


def test_bootstrap_is_deterministic_under_the_seed() -> None:
    y, p, g = sample(1500, seed=9, patients=80)  # > 64 patients: the weighted AUROC path
    for groups in (g, g % 10, None):
        a = classification_report(y, p, AAMI, groups=groups, n_boot=200, seed=3)
        b = classification_report(y, p, AAMI, groups=groups, n_boot=200, seed=3)
        c = classification_report(y, p, AAMI, groups=groups, n_boot=200, seed=4)
        assert a == b
        assert a["ci"] != c["ci"]
    ym = (np.random.default_rng(9).random((1500, 3)) < 0.3).astype(int)
    pm = np.clip(ym * 0.3 + p[:, :3], 0, 1)
    one = multilabel_report(ym, pm, list("abc"), groups=g, n_boot=200, seed=1)
    assert one == multilabel_report(ym, pm, list("abc"), groups=g, n_boot=200, seed=1)
    for key in ("macro_f1", "macro_auroc", "accuracy"):
        lo, hi = one["ci"][key]
        assert lo <= one[key] <= hi


def test_reports_are_plain_json_with_none_for_undefined_auroc() -> None:
    y, p, g = sample(600, seed=10)
    y[y == 3] = 0  # class F absent from y_true: its AUROC is undefined
    r = classification_report(y, p, AAMI, scored=AAMI[:4], groups=g, n_boot=50)
    assert r["per_class"]["F"]["auroc"] is None
    assert r["per_class"]["F"]["support"] == 0
    expected = np.mean([roc_auc_score(y == c, p[:, c]) for c in range(3)])  # N, S, V only
    assert r["macro_auroc"] == pytest.approx(expected)
    rng = np.random.default_rng(10)
    ym = (rng.random((600, 3)) < [0.2, 0.4, 0.0]).astype(int)
    m = multilabel_report(ym, rng.random((600, 3)), list("abc"), groups=g, n_boot=50)
    assert m["per_class"]["c"]["auroc"] is None
    empty = classification_report(y, p, AAMI, n_boot=0)
    assert empty["ci"]["macro_f1"] == [None, None]
    for report in (r, m, empty):
        assert plain(report)
        json.loads(json.dumps(report, allow_nan=False))
    only_one = classification_report(np.zeros(20, int), p[:20], AAMI, scored=["N"], n_boot=20)
    assert only_one["macro_auroc"] is None and only_one["ci"]["macro_auroc"] == [None, None]
    json.dumps(only_one, allow_nan=False)


def test_bad_inputs_are_refused() -> None:
    y, p, _ = sample(50)
    with pytest.raises(ValueError, match="scored"):
        classification_report(y, p, AAMI, scored=["N", "X"], n_boot=0)
    with pytest.raises(ValueError, match="shape"):
        classification_report(y, p[:, :4], AAMI, n_boot=0)
    with pytest.raises(ValueError, match="groups"):
        classification_report(y, p, AAMI, groups=np.arange(10), n_boot=5)
    with pytest.raises(ValueError, match="nan"):
        classification_report(y, np.full_like(p, np.nan), AAMI, n_boot=0)


def test_thousand_patient_resamples_of_fifty_thousand_samples_complete() -> None:
    # No timing assertion: the vectorised cluster bootstrap must simply get through it.
    y, p, g = sample(50_000, seed=11, patients=40)
    r = classification_report(y, p, AAMI, scored=AAMI[:4], groups=g, n_boot=1000)
    assert r["bootstrap"] == {"unit": "patient", "n_units": 40, "n_boot": 1000,
                              "n_boot_auroc": 1000, "auroc_method": "pairwise"}  # fmt: skip
    for key in ("macro_f1", "macro_auroc", "accuracy"):
        lo, hi = r["ci"][key]
        assert lo <= r[key] <= hi
