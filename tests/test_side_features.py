"""Side features (RR intervals, HRV) on hand-made R-peak sequences, the baselines on synthetic
ECGs, and how evaluation uses them (refusals, paired differences, other window lengths)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_ecg.errors import SslEcgError
from ssl_ecg.tasks import HRV_FEATURES, RR_FEATURES, hrv_features, rr_features

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "hybrid.toml"
SMALL = ["data.window_s=2.0", "encoder.dim=32", "encoder.depth=1", "encoder.heads=2"]
DATA = {"name": "synthetic", "n_records": 12, "duration_s": 20.0, "seed": 5}
HR_BAND = {"label": "hr_band", "dataset": DATA}


def test_rr_features_of_a_hand_made_beat_sequence() -> None:
    fs = 100.0
    # record 0: RR 1.0, 1.0, 0.6 (an early beat), 1.4, 1.0 s; record 1: RR 0.8, 0.8 s
    beats = np.array([0, 100, 200, 260, 400, 500, 1000, 1080, 1160])
    record = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])
    f = rr_features(beats, record, fs, local=2)
    assert f.shape == (9, len(RR_FEATURES))
    median0 = 1.0  # median of 1.0, 1.0, 0.6, 1.4, 1.0
    pre = [median0, 1.0, 1.0, 0.6, 1.4, 1.0, 0.8, 0.8, 0.8]  # first beats take the median
    post = [1.0, 1.0, 0.6, 1.4, 1.0, median0, 0.8, 0.8, 0.8]  # last beats take the median
    local = [median0, 1.0, 1.0, 0.8, 1.0, 1.2, 0.8, 0.8, 0.8]  # mean of the last 2 intervals
    assert np.allclose(f[:, 0], pre) and np.allclose(f[:, 1], post)
    assert np.allclose(f[:, 2], local)
    medians = np.array([1.0] * 6 + [0.8] * 3)
    assert np.allclose(f[:, 3], np.array(pre) / medians)
    assert np.allclose(f[:, 4], np.array(post) / medians)
    assert np.allclose(f[:, 5], np.array(local) / medians)
    assert np.allclose(f[:, 6], np.array(pre) / np.array(post))
    assert f[3, 3] == pytest.approx(0.6) and f[3, 6] == pytest.approx(0.6 / 1.4)  # premature


def test_hrv_features_of_a_known_peak_sequence() -> None:
    fs = 250.0
    rr_ms = np.array([800.0, 840.0, 760.0, 900.0, 800.0])
    peaks = np.r_[10, 10 + np.cumsum(rr_ms / 1000 * fs)].astype(np.int64)
    few = np.array([5, 200])
    f = hrv_features([peaks, few, np.zeros(0, dtype=np.int64)], fs)
    assert f.shape == (3, len(HRV_FEATURES))
    diffs = np.diff(rr_ms)
    rmssd = np.sqrt(np.mean(diffs**2))
    # pNN50 as the Task Force (1996) and neurokit2 define it: NN50 / number of NN intervals
    expected = [rr_ms.mean(), rr_ms.std(ddof=1), rmssd,
                100 * np.sum(np.abs(diffs) > 50) / rr_ms.size, rmssd / rr_ms.mean(), 6]  # fmt: skip
    assert np.allclose(f[0], expected, rtol=1e-4)
    assert f[1].tolist() == [0, 0, 0, 0, 0, 2] and f[2].tolist() == [0] * 6


def test_a_vit_embeds_longer_windows_and_names_the_lengths_it_cannot() -> None:
    from ssl_ecg.interfaces import EncoderContext
    from ssl_ecg.registry import get_registry

    spec = get_registry().get("encoder", "vit1d")
    vit = spec.factory(spec.config(patch=25, dim=32, depth=1, heads=2), EncoderContext(1, 500, 250))
    x = torch.randn(2, 1, 500)
    assert vit(torch.cat([x, x], dim=-1)).shape == (2, 32)
    assert torch.equal(vit._pos(500), vit.pos_embed)
    with pytest.raises(ValueError, match="multiple of patch = 25"):
        vit(torch.randn(2, 1, 510))


def _evaluate(model: str, out: Path, features: list[str], **kwargs):
    from ssl_ecg.evaluation import evaluate, load_model, load_task

    m = load_model(model, RECIPE, SMALL, kwargs.pop("settings", None))
    task = load_task("labels", kwargs.pop("task", HR_BAND), m, 0, out)
    return evaluate(m, "labels", task, "linear", [0.5, 1.0], out, features=features,
                    n_boot=100, **kwargs)  # fmt: skip


def test_baselines_score_the_synthetic_rhythm_task(tmp_path: Path) -> None:
    both = ["embedding", "side", "embedding+side"]
    hc = _evaluate("handcrafted", tmp_path / "hc", both)
    assert hc["model"] == "baseline handcrafted" and hc["side_features"] == HRV_FEATURES
    # hr_band is the heart rate split in two: the mean RR of the side features decides it
    assert hc["results"]["side"]["1.0"]["macro_f1"] >= 0.9
    mr = _evaluate("minirocket", tmp_path / "mr", ["embedding"], settings={"n_kernels": 168})
    r = mr["results"]["embedding"]["1.0"]
    assert 0 <= r["macro_f1"] <= 1 and r["ci"]["macro_f1"][0] is not None
    saved = np.load(tmp_path / "mr" / "predictions.npz")
    assert saved["proba:embedding|1.0"].shape == (mr["n_test"], 2)


def test_paired_difference_against_itself_is_zero_and_against_another_is_consistent(
    tmp_path: Path,
) -> None:
    from ssl_ecg.evaluation import Comparison

    ref = _evaluate("handcrafted", tmp_path / "hc", ["embedding", "embedding+side"])
    again = _evaluate("handcrafted", tmp_path / "again", ["embedding", "embedding+side"],
                      compare=[Comparison("self", tmp_path / "hc")])  # fmt: skip
    for feature in ("embedding", "embedding+side"):
        for fraction in ("0.5", "1.0"):
            d = again["results"][feature][fraction]["delta"]["self"]
            assert d["macro_f1"] == {"delta": 0.0, "ci": [0.0, 0.0]}
            assert d["macro_auroc"] == {"delta": 0.0, "ci": [0.0, 0.0]}
    rnd = _evaluate("random", tmp_path / "rnd", ["embedding"],
                    compare=[Comparison("hc", tmp_path / "hc", "embedding+side")])  # fmt: skip
    d = rnd["results"]["embedding"]["1.0"]["delta"]["hc"]
    expected = (rnd["results"]["embedding"]["1.0"]["macro_f1"]
                - ref["results"]["embedding+side"]["1.0"]["macro_f1"])  # fmt: skip
    assert d["features"] == "embedding+side" and d["macro_f1"]["delta"] == pytest.approx(expected)
    assert d["macro_f1"]["ci"][0] <= d["macro_f1"]["delta"] <= d["macro_f1"]["ci"][1]
    assert "Δ macro-F1 vs hc" in (tmp_path / "rnd" / "results.md").read_text()
    other = {**HR_BAND, "dataset": {**HR_BAND["dataset"], "seed": 7}}
    with pytest.raises(SslEcgError, match="other test windows"):
        _evaluate("random", tmp_path / "x", ["embedding"], task=other,
                  compare=[Comparison("hc", tmp_path / "hc")])  # fmt: skip


def test_features_that_cannot_be_honoured_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(SslEcgError, match=r"--features 'sides': choose from"):
        _evaluate("random", tmp_path / "a", ["sides"])
    with pytest.raises(SslEcgError, match="has no encoder to fine-tune"):
        from ssl_ecg.evaluation import evaluate, load_model, load_task

        m = load_model("handcrafted", RECIPE, SMALL)
        evaluate(m, "labels", load_task("labels", HR_BAND, m, 0, tmp_path), "finetune", [1.0],
                 tmp_path / "b")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "ssl_ecg.cli", "evaluate", "nothing-here", "--task", "labels"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "handcrafted, minirocket" in done.stderr and "Traceback" not in done.stderr
