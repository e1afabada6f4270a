"""ssl_ecg.metrics: point scores are scikit-learn's; the bootstrap and paired differences are
checked against sklearn with sample weights, by hand, and by their statistical behaviour."""

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

from ssl_ecg.bootstrap import _weighted_auroc, bootstrap_scores
from ssl_ecg.metrics import paired_delta, report

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


def test_single_label_scores_are_sklearns_with_a_scored_subset() -> None:
    y, p, _ = sample(2000, decimals=1)
    p[:, 3] = 0.0  # F is never predicted: its PPV is 0/0 -> 0
    pred = p.argmax(1)
    r = report(y, p, AAMI, scored=AAMI[:4], n_boot=0)
    labels = [0, 1, 2, 3]
    assert r["macro_f1"] == pytest.approx(f1_score(y, pred, labels=labels, average="macro"))
    assert r["macro_sensitivity"] == pytest.approx(
        recall_score(y, pred, labels=labels, average="macro", zero_division=0)
    )
    assert r["macro_ppv"] == pytest.approx(
        precision_score(y, pred, labels=labels, average="macro", zero_division=0)
    )
    assert r["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert r["confusion"] == confusion_matrix(y, pred, labels=range(5)).tolist()
    aucs = [roc_auc_score(y == c, p[:, c]) for c in labels]
    assert r["macro_auroc"] == pytest.approx(np.mean(aucs))
    assert r["per_class"]["F"]["ppv"] == 0.0 and r["scored"] == AAMI[:4]


def test_hand_computed_example() -> None:
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    p = np.eye(3)[pred] * 0.8 + 0.1
    r = report(y, p, ["a", "b", "c"], n_boot=0)
    # a: TP 2 FN 1 FP 0 -> F1 4/5; b: TP 1 FN 1 FP 1 -> 1/2; c: TP 1 FN 0 FP 1 -> 2/3
    assert r["per_class"]["a"]["f1"] == pytest.approx(0.8)
    assert r["per_class"]["b"]["f1"] == pytest.approx(0.5)
    assert r["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["accuracy"] == pytest.approx(4 / 6)


def test_multilabel_scores_are_sklearns() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random((500, 4)) < [0.3, 0.1, 0.5, 0.0]).astype(int)  # class 3 never positive
    p = np.clip(y * 0.4 + rng.random((500, 4)) * 0.7, 0, 1)
    r = report(y, p, list("abcd"), multilabel=True, n_boot=0)
    pred = (p >= 0.5).astype(int)
    present = [0, 1, 2]
    assert r["scored"] == ["a", "b", "c"]
    assert r["macro_f1"] == pytest.approx(
        f1_score(y, pred, average=None, zero_division=0)[present].mean()
    )
    assert r["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert r["macro_auroc"] == pytest.approx(np.mean([roc_auc_score(y[:, c], p[:, c])
                                                      for c in present]))  # fmt: skip
    assert r["per_class"]["d"]["auroc"] is None


def test_weighted_auroc_is_sklearns_with_sample_weights_and_ties() -> None:
    rng = np.random.default_rng(2)
    pos = rng.random(3000) < 0.2
    score = np.round(rng.random(3000) + pos * 0.3, 1)  # heavy ties
    w = rng.integers(0, 4, size=(5, 3000)).astype(float)
    expected = [roc_auc_score(pos, score, sample_weight=wi) for wi in w]
    assert _weighted_auroc(pos, score, w) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(_weighted_auroc(pos, score, w * ~pos)).all()  # no negative weight left


def test_per_patient_pair_counts_give_the_weighted_auroc_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ssl_ecg.bootstrap as metrics

    y, p, g = sample(4000, seed=3, patients=25, decimals=2)  # ties across patients
    fast = bootstrap_scores(y, p, AAMI, AAMI[:4], groups=g, n_boot=200, seed=1)
    monkeypatch.setattr(metrics, "_PAIRED", 0)  # force the per-sample weighted path
    slow = bootstrap_scores(y, p, AAMI, AAMI[:4], groups=g, n_boot=200, seed=1)
    for key in ("macro_f1", "macro_auroc", "accuracy"):
        assert np.allclose(fast[key], slow[key], rtol=1e-12, atol=1e-12), key


def test_resamples_draw_whole_patients() -> None:
    # Each patient's windows are all right or all wrong: a resample's accuracy is then a mean
    # over drawn patients, so every resampled accuracy is a multiple of 1 / patients.
    patients = np.repeat(np.arange(10), 7)
    y = np.zeros(70, dtype=int)
    good = np.isin(patients, [0, 2, 3, 7])
    p = np.where(good[:, None], [0.9, 0.1], [0.1, 0.9])
    boot = bootstrap_scores(y, p, ["a", "b"], groups=patients, n_boot=300)
    k = boot["accuracy"] * 10
    assert np.allclose(k, np.round(k)) and len(np.unique(k)) > 3
    assert abs(boot["accuracy"].mean() - 0.4) < 0.03


def test_intervals_contain_the_estimate_and_narrow_as_n_grows() -> None:
    for groups in (False, True):
        widths = []
        for n, patients in ((400, 20), (8000, 400)):
            y, p, g = sample(n, seed=7, patients=patients)
            r = report(y, p, AAMI, scored=AAMI[:4], groups=g if groups else None, n_boot=300)
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
    by_patient = report(y, p, ["a", "b"], groups=patients, n_boot=500)
    by_sample = report(y, p, ["a", "b"], n_boot=500)
    assert by_patient["bootstrap"]["unit"] == "patient"
    assert by_sample["bootstrap"]["unit"] == "sample"
    for key in ("macro_f1", "macro_auroc", "accuracy"):
        assert np.diff(by_patient["ci"][key])[0] > 1.5 * np.diff(by_sample["ci"][key])[0], key


def test_bootstrap_is_deterministic_under_the_seed() -> None:
    y, p, g = sample(1500, seed=9, patients=80)
    for groups in (g, g % 10, None):
        a = report(y, p, AAMI, groups=groups, n_boot=200, seed=3)
        assert a == report(y, p, AAMI, groups=groups, n_boot=200, seed=3)
        assert a["ci"] != report(y, p, AAMI, groups=groups, n_boot=200, seed=4)["ci"]


def test_paired_delta_of_a_model_against_itself_is_exactly_zero() -> None:
    y, p, g = sample(3000, seed=12, patients=21)
    d = paired_delta(y, p, p, AAMI, AAMI[:4], groups=g, n_boot=300)
    for key in ("macro_f1", "macro_auroc"):
        assert d[key] == {"delta": 0.0, "ci": [0.0, 0.0]}


def test_paired_delta_is_narrower_than_the_unpaired_intervals_and_signed() -> None:
    # B is A with 3 % of its windows (anywhere) made worse: a small but consistent loss that
    # the patient-to-patient spread hides in each model's own interval but the pairing sees.
    y, p, g = sample(6000, seed=13, patients=21)
    rng = np.random.default_rng(13)
    worse = p.copy()
    hit = rng.random(len(y)) < 0.03
    worse[hit] = rng.dirichlet(np.ones(5), size=hit.sum())
    d = paired_delta(y, p, worse, AAMI, AAMI[:4], groups=g, n_boot=400)
    a = report(y, p, AAMI, AAMI[:4], groups=g, n_boot=400)
    b = report(y, worse, AAMI, AAMI[:4], groups=g, n_boot=400)
    assert d["macro_f1"]["delta"] == pytest.approx(a["macro_f1"] - b["macro_f1"])
    lo, hi = d["macro_f1"]["ci"]
    assert 0 < lo <= d["macro_f1"]["delta"] <= hi  # the loss is detected ...
    assert a["ci"]["macro_f1"][0] < b["macro_f1"]  # ... though the intervals overlap
    assert hi - lo < np.diff(a["ci"]["macro_f1"])[0]
    flipped = paired_delta(y, worse, p, AAMI, AAMI[:4], groups=g, n_boot=400)
    assert flipped["macro_f1"]["ci"] == pytest.approx([-hi, -lo])


def test_reports_are_plain_json_with_none_for_undefined_auroc() -> None:
    y, p, g = sample(600, seed=10)
    y[y == 3] = 0  # class F absent from y_true: its AUROC is undefined
    r = report(y, p, AAMI, scored=AAMI[:4], groups=g, n_boot=50)
    assert r["per_class"]["F"]["auroc"] is None and r["per_class"]["F"]["support"] == 0
    expected = np.mean([roc_auc_score(y == c, p[:, c]) for c in range(3)])  # N, S, V only
    assert r["macro_auroc"] == pytest.approx(expected)
    empty = report(y, p, AAMI, n_boot=0)
    assert empty["ci"]["macro_f1"] == [None, None]
    only_one = report(np.zeros(20, int), p[:20], AAMI, scored=["N"], n_boot=20)
    assert only_one["macro_auroc"] is None and only_one["ci"]["macro_auroc"] == [None, None]
    for r_ in (r, empty, only_one):
        assert plain(r_)
        json.loads(json.dumps(r_, allow_nan=False))


def test_bad_inputs_are_refused() -> None:
    y, p, _ = sample(50)
    with pytest.raises(ValueError, match="scored"):
        report(y, p, AAMI, scored=["N", "X"], n_boot=0)
    with pytest.raises(ValueError, match="shape"):
        report(y, p[:, :4], AAMI, n_boot=0)
    with pytest.raises(ValueError, match="groups"):
        report(y, p, AAMI, groups=np.arange(10), n_boot=5)
    with pytest.raises(ValueError, match="nan"):
        report(y, np.full_like(p, np.nan), AAMI, n_boot=0)
