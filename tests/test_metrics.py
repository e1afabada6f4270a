"""Metrics against sklearn on known inputs, and the bootstrap's behaviour."""

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

from ssl_ecg.metrics import auroc, classification_report, multilabel_report

CLASSES = ["N", "S", "V", "F", "Q"]


def sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(5, size=n, p=[0.6, 0.15, 0.15, 0.08, 0.02])
    p = rng.dirichlet(np.ones(5), size=n)
    p[np.arange(n), y] += rng.random(n)  # informative but imperfect
    p /= p.sum(1, keepdims=True)
    groups = rng.integers(0, 20, size=n)
    return y, p, groups


def test_single_label_matches_sklearn() -> None:
    y, p, _ = sample(3000)
    r = classification_report(y, p, CLASSES, scored=["N", "S", "V", "F"], n_boot=50)
    pred = p.argmax(1)
    assert r["confusion"] == confusion_matrix(y, pred, labels=range(5)).tolist()
    kw = {"labels": [0, 1, 2, 3], "average": None, "zero_division": 0}
    for name, fn in [("f1", f1_score), ("ppv", precision_score), ("sensitivity", recall_score)]:
        expected = fn(y, pred, **kw)
        got = [r["per_class"][c][name] for c in ["N", "S", "V", "F"]]
        np.testing.assert_allclose(got, expected)
    assert r["macro_f1"] == pytest.approx(f1_score(y, pred, labels=[0, 1, 2, 3], average="macro"))
    assert r["accuracy"] == pytest.approx(accuracy_score(y, pred))
    aucs = [roc_auc_score(y == c, p[:, c]) for c in range(4)]
    assert r["macro_auroc"] == pytest.approx(np.mean(aucs))
    assert r["per_class"]["Q"]["support"] == int((y == 4).sum())


def test_auroc_with_ties_and_a_single_class() -> None:
    rng = np.random.default_rng(1)
    score = np.round(rng.random(200), 1)  # many ties
    y = rng.integers(0, 2, 200)
    assert auroc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert np.isnan(auroc(np.ones(5), np.arange(5.0)))


def test_hand_computed_example() -> None:
    # true: N N N S S ; predicted: N N S S N  -> N: tp 2 fp 1 fn 1 ; S: tp 1 fp 1 fn 1
    y = np.array([0, 0, 0, 1, 1])
    p = np.eye(2)[[0, 0, 1, 1, 0]] * 0.8 + 0.1
    r = classification_report(y, p, ["N", "S"], n_boot=20)
    assert r["per_class"]["N"]["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert r["per_class"]["S"]["f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert r["per_class"]["S"]["ppv"] == pytest.approx(0.5)
    assert r["accuracy"] == pytest.approx(3 / 5)


def test_intervals_contain_the_estimate_narrow_with_n_and_are_seeded() -> None:
    y, p, g = sample(400, seed=2)
    small = classification_report(y, p, CLASSES, groups=g, n_boot=400, seed=0)
    y2, p2, g2 = sample(8000, seed=2)
    large = classification_report(y2, p2, CLASSES, groups=g2 * 0 + np.arange(8000) % 400,
                                   n_boot=400, seed=0)  # fmt: skip
    lo, hi = small["ci"]["macro_f1"]
    assert lo <= small["macro_f1"] <= hi
    lo2, hi2 = large["ci"]["macro_f1"]
    assert hi2 - lo2 < hi - lo
    again = classification_report(y, p, CLASSES, groups=g, n_boot=400, seed=0)
    assert again["ci"] == small["ci"]


def test_cluster_bootstrap_is_wider_for_clustered_patients() -> None:
    rng = np.random.default_rng(3)
    patients = np.repeat(np.arange(20), 100)
    good = rng.random(20) < 0.5  # half the patients are classified well, half badly
    y = rng.integers(0, 2, 2000)
    right = np.where(good[patients], rng.random(2000) < 0.95, rng.random(2000) < 0.55)
    pred = np.where(right, y, 1 - y)
    p = np.eye(2)[pred] * 0.8 + 0.1
    by_patient = classification_report(y, p, ["a", "b"], groups=patients, n_boot=500)
    by_sample = classification_report(y, p, ["a", "b"], groups=None, n_boot=500)
    width = lambda r: r["ci"]["macro_f1"][1] - r["ci"]["macro_f1"][0]  # noqa: E731
    assert width(by_patient) > 1.5 * width(by_sample)


def test_multilabel_matches_sklearn_and_json_is_clean() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random((300, 4)) < 0.3).astype(int)
    y[:, 3] = 0  # a class with no positives
    p = np.clip(y * 0.4 + rng.random((300, 4)) * 0.7, 0, 1)
    r = multilabel_report(y, p, ["a", "b", "c", "d"], n_boot=50)
    expected = f1_score(y[:, :3], p[:, :3] >= 0.5, average=None, zero_division=0)
    np.testing.assert_allclose([r["per_class"][c]["f1"] for c in "abc"], expected)
    assert r["macro_f1"] == pytest.approx(expected.mean())
    assert r["per_class"]["a"]["auroc"] == pytest.approx(roc_auc_score(y[:, 0], p[:, 0]))
    assert r["per_class"]["d"]["auroc"] is None
    json.dumps(r, allow_nan=False)
    json.dumps(classification_report(*sample(100)[:2], CLASSES, n_boot=10), allow_nan=False)
