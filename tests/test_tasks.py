"""Task plugins: MIT-BIH AAMI beats (real data), CinC 2021 Dx (real data), generic labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import data_root

from ssl_ecg.config import STANDARD_12
from ssl_ecg.errors import DataError, RecipeError
from ssl_ecg.evaluation import task_config
from ssl_ecg.recipe import data_recipe
from ssl_ecg.registry import get_registry
from ssl_ecg.sources import prepare
from ssl_ecg.tasks import TaskContext, TaskData

MITDB = data_root() / "mitbih-arrhythmia"
CINC = data_root() / "cinc2021-12lead-sample"
needs_mitdb = pytest.mark.skipif(
    not (MITDB / "100.hea").is_file(), reason=f"MIT-BIH not found at {MITDB}"
)
needs_cinc = pytest.mark.skipif(
    not (CINC / "E07500.hea").is_file(), reason=f"CinC 2021 sample not found at {CINC}"
)
RECORDS = ["100", "101", "103", "106"]  # DS2: 100, 103; DS1: 101, 106


def load(task: str, settings: dict[str, Any], tmp_path: Path, leads: list[str] | str,
         n: int = 625) -> TaskData:  # fmt: skip
    """Build and load ``task`` as the evaluation does: data prepared by the core at 250 Hz."""

    def prep(table: dict[str, Any]):
        return prepare(data_recipe({**table, "fs": 250.0, "leads": leads}, tmp_path / "t")).store

    spec = get_registry().get("task", task)
    names = STANDARD_12 if leads == "standard12" else list(leads)
    ctx = TaskContext(250.0, names, n, 0, tmp_path, prep)
    return spec.factory(task_config(spec, settings), ctx).load()


@pytest.mark.parametrize("task", ["mitbih-aami", "cinc2021-dx"])
def test_missing_or_wrong_root_says_set_the_task_root(task: str, tmp_path: Path) -> None:
    with pytest.raises(
        RecipeError, match=r"^task.root: required key is missing; set task settings"
    ):
        load(task, {}, tmp_path, ["MLII"])
    with pytest.raises(DataError, match=rf"task {task}: .*nowhere.*set the task's root"):
        load(task, {"root": "nowhere"}, tmp_path, ["MLII"])


@needs_mitdb
def test_mitbih_aami_windows_are_centred_beats_ds1_to_ds2(tmp_path: Path) -> None:
    task = load("mitbih-aami", {"root": str(MITDB), "records": RECORDS}, tmp_path, ["MLII"])
    assert task.classes == ["N", "S", "V", "F", "Q"] and task.scored == ["N", "S", "V", "F"]
    assert set(task.train.records) == {"101", "106"} and set(task.test.records) == {"100", "103"}
    assert not set(task.train.patients) & set(task.test.patients)
    store = task.train.store
    beats, labels = np.asarray(store.beats), np.asarray(store.beat_labels).astype(str)
    for part in (task.train, task.test):
        centre = part.start + 625 // 2
        pos = np.searchsorted(beats, centre)
        assert np.array_equal(beats[pos], centre), "every window is centred on a beat"
        assert [task.classes[i] for i in part.y] == labels[pos].tolist()
    # per split and class: as many windows as the store has beats whose window fits the record
    rec = np.searchsorted(store.rec_start, beats, side="right") - 1
    lo = beats - 625 // 2
    fits = (lo >= store.rec_start[rec]) & (lo + 625 <= store.rec_start[rec] + store.rec_len[rec])
    rec_id = np.asarray(store.record_ids)[rec]
    for part, ids in ((task.train, ["101", "106"]), (task.test, ["100", "103"])):
        expected = [int((fits & np.isin(rec_id, ids) & (labels == c)).sum()) for c in task.classes]
        if part is task.train:
            expected[4] = 0  # Q (unscored) is not a training class unless train_q
        assert np.bincount(part.y, minlength=5).tolist() == expected
    # record 100 (DS2): 2239 N, 33 S, 1 V annotated; only beats too near the ends drop out
    counts = np.bincount(task.test.y[task.test.records == "100"], minlength=5)
    assert 2230 <= counts[0] <= 2239 and counts[1] == 33 and counts[2] == 1
    window = task.test.read(np.arange(3))
    assert window.shape == (3, 1, 625) and window.dtype == np.float32
    small = load("mitbih-aami", {"root": str(MITDB), "records": RECORDS, "max_train_per_class": 5,
                                 "max_test": 40}, tmp_path, ["MLII"])  # fmt: skip
    assert np.bincount(small.train.y).max() == 5 and len(small.test) == 40


@needs_mitdb
def test_mitbih_aami_side_features_are_the_annotated_rr_intervals(tmp_path: Path) -> None:
    import wfdb

    from ssl_ecg.tasks import RR_FEATURES

    task = load("mitbih-aami", {"root": str(MITDB), "records": ["100", "101"]}, tmp_path, ["MLII"])
    assert task.side_names == RR_FEATURES and task.beat_centred
    ann = wfdb.rdann(str(MITDB / "100"), "atr")
    beats = np.array([s_ for s_, sym in zip(ann.sample, ann.symbol, strict=True)
                      if sym in "NLRejAaJSVEF/fQ"]) / 360.0  # fmt: skip
    rr = np.diff(beats)
    centre_s = (task.test.start + 625 // 2 - task.test.store.rec_start[0]) / 250.0
    k = np.searchsorted(beats, centre_s - 0.003)  # the annotated beat of each window
    side = task.test.side
    assert np.allclose(side[:, 0], rr[k - 1], atol=0.005)  # RR before (s), at 250 Hz
    assert np.allclose(side[:, 1], rr[k], atol=0.005)  # RR after
    median = np.median(rr)
    assert np.allclose(side[:, 3], side[:, 0] / median, rtol=0.02)
    assert np.allclose(side[:, 6], side[:, 0] / side[:, 1], rtol=1e-5)
    wide = load("mitbih-aami", {"root": str(MITDB), "records": ["100", "101"], "context_s": 5.0},
                tmp_path, ["MLII"])  # fmt: skip
    assert wide.test.length == 1250 and wide.test.read(np.arange(2)).shape == (2, 1, 1250)
    assert len(wide.test) < len(task.test)  # beats within 2.5 s of the ends drop out


@needs_mitdb
def test_mitbih_aami_cross_database_test_on_the_svdb_test_half(tmp_path: Path) -> None:
    svdb = MITDB.parent / "svdb"
    if not (svdb / "800.hea").is_file():
        pytest.skip(f"no SVDB records in {svdb}")
    settings = {"root": str(MITDB), "records": ["101", "100"], "test": "svdb",
                "svdb_root": str(svdb), "svdb_records": ["800", "801", "803"]}  # fmt: skip
    task = load("mitbih-aami", settings, tmp_path, ["MLII"])
    assert set(task.train.records) == {"101"}  # DS1 only, as for DS2
    assert set(task.test.records) == {"801", "803"}  # the "test" half: odd positions
    assert task.scored == ["N", "S", "V"] and task.test.store.meta["dataset"]["name"] == "svdb"
    assert task.test.store.leads == ["MLII"] and task.test.store.present.all()  # ECG1 mapped
    assert task.test.side.shape == (len(task.test), 7)
    window = task.test.read(np.arange(2))
    assert window.shape == (2, 1, 625)
    with pytest.raises(DataError, match="needs svdb_root"):
        load("mitbih-aami", {**settings, "svdb_root": None}, tmp_path, ["MLII"])


@needs_mitdb
def test_labels_task_uses_a_datasets_own_splits(tmp_path: Path) -> None:
    dataset = {"name": "mitbih", "root": str(MITDB), "records": RECORDS}
    with pytest.raises(DataError, match=r"own splits \(DS1, DS2\).*set train_split and test_split"):
        load("labels", {"dataset": dataset, "label": "sex"}, tmp_path, ["MLII"])
    settings = {"dataset": dataset, "label": "sex", "train_split": "DS1", "test_split": "DS2"}
    task = load("labels", settings, tmp_path, ["MLII"], n=2500)
    assert set(task.train.records) == {"101", "106"} and set(task.test.records) == {"100", "103"}
    assert task.classes == ["female", "male"]  # 101 and 106: female; 100 and 103: male
    assert set(task.train.y) == {0} and set(task.test.y) == {1}
    with pytest.raises(DataError, match=r"test_split = 'DS3'.*did you mean 'DS2' or 'DS1'"):
        load("labels", {**settings, "test_split": "DS3"}, tmp_path, ["MLII"], n=2500)


@needs_cinc
def test_cinc2021_dx_multi_hot_matches_headers(tmp_path: Path) -> None:
    task = load("cinc2021-dx", {"root": str(CINC)}, tmp_path, "standard12", n=2500)
    assert task.multilabel and task.train.y.shape[1] == len(task.classes)
    assert task.train.y.dtype == np.float32 and set(np.unique(task.train.y)) <= {0.0, 1.0}
    assert not set(task.train.patients) & set(task.test.patients)
    assert len(task.train) + len(task.test) == 50
    all_y = np.concatenate([task.train.y, task.test.y])
    freq = all_y.sum(0)
    assert (freq >= 3).all() and (np.diff(freq) <= 0).all(), "min_count kept, most frequent first"
    for part in (task.train, task.test):
        assert np.array_equal(part.start, part.store.rec_start[
            [part.store.record_ids.index(r) for r in part.records]])  # fmt: skip
        for rec, row in zip(part.records, part.y, strict=True):
            text = (CINC / f"{rec}.hea").read_text()
            dx = next(x for x in text.splitlines() if x.startswith("# Dx:")).split(":")[1]
            codes = {c.strip() for c in dx.split(",")}
            kept = {c for c, v in zip(task.classes, row, strict=True) if v}
            assert kept == codes & set(task.classes)
    assert task.train.read(np.arange(2)).shape == (2, 12, 2500)


def numpy_dataset(tmp_path: Path, labels: list[Any] | None = None) -> dict[str, Any]:
    """Ten 10-s one-lead records, two per patient, with string labels in the sidecar."""
    rng = np.random.default_rng(0)
    t = np.arange(2500) / 250.0
    x = np.stack([np.sin(2 * np.pi * (1 + 0.1 * i) * t) + 0.05 * rng.normal(size=t.size)
                  for i in range(10)])[:, None, :].astype(np.float32)  # fmt: skip
    path = tmp_path / "ecg.npy"
    np.save(path, x)
    labels = labels or [{"rhythm": "AF" if i % 2 else "SR"} for i in range(10)]
    sidecar = {"fs": 250.0, "leads": ["II"], "labels": labels,
               "patient_ids": [f"p{i // 2}" for i in range(10)]}  # fmt: skip
    (tmp_path / "ecg.json").write_text(json.dumps(sidecar))
    return {"name": "numpy", "path": str(path)}


def test_labels_task_on_any_dataset(tmp_path: Path) -> None:
    dataset = numpy_dataset(tmp_path)
    task = load("labels", {"dataset": dataset, "label": "rhythm"}, tmp_path, ["II"], n=500)
    assert task.classes == ["AF", "SR"] and not task.multilabel
    assert not set(task.train.patients) & set(task.test.patients)
    for part in (task.train, task.test):
        for rec in set(part.records):
            starts = np.sort(part.start[part.records == rec])
            i = part.store.record_ids.index(rec)
            assert starts[0] == part.store.rec_start[i]
            assert len(starts) == 5 and (np.diff(starts) == 500).all()  # 10 s / 2 s, no overlap
            label = "AF" if int(rec) % 2 else "SR"
            assert {task.classes[k] for k in part.y[part.records == rec]} == {label}
    with pytest.raises(DataError, match="no record has label 'rythm'; did you mean 'rhythm'"):
        load("labels", {"dataset": dataset, "label": "rythm"}, tmp_path, ["II"], n=500)
    with pytest.raises(RecipeError, match="split_fractions must be 3 numbers"):
        load("labels", {"dataset": dataset, "label": "rhythm", "split_fractions": [0.5, 0.5]},
             tmp_path, ["II"], n=500)  # fmt: skip


def test_labels_task_drops_unlabelled_records_and_refuses_continuous_labels(
    tmp_path: Path,
) -> None:
    labels = [{"rhythm": None if i == 0 else "SR" if i % 2 else "AF", "hr": 60.5 + i}
              for i in range(10)]  # fmt: skip
    dataset = numpy_dataset(tmp_path, labels)
    settings = {"dataset": dataset, "label": "rhythm", "split_fractions": [0.6, 0.0, 0.4]}
    task = load("labels", settings, tmp_path, ["II"], n=500)
    assert "0" not in set(task.train.records) | set(task.test.records)
    assert len(task.train) + len(task.test) == 9 * 5
    with pytest.raises(DataError, match=r"label 'hr' is continuous \(e.g. 60.5\).*set bins"):
        load("labels", {"dataset": dataset, "label": "hr"}, tmp_path, ["II"], n=500)
    binned = load("labels", {**settings, "label": "hr", "bins": [65.0]}, tmp_path, ["II"], n=500)
    assert binned.classes == ["<65", ">=65"]
