"""Task plugins: MIT-BIH AAMI beats (real data), CinC 2021 Dx (real data), generic labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import data_root

from ssl_ecg.data.prepare import prepare
from ssl_ecg.errors import DataError
from ssl_ecg.recipe import data_recipe
from ssl_ecg.registry import get_registry
from ssl_ecg.tasks import TaskContext, TaskData

MITDB = data_root() / "mitbih-arrhythmia"
CINC = data_root() / "cinc2021-12lead-sample"


def load(task: str, settings: dict[str, Any], tmp_path: Path, leads: list[str] | str,
         n: int = 625) -> TaskData:  # fmt: skip
    def prep(table: dict[str, Any]):
        return prepare(data_recipe({**table, "fs": 250.0, "leads": leads}, tmp_path / "t")).store

    spec = get_registry().get("task", task)
    names = ["MLII"] if leads == ["MLII"] else list(leads)
    ctx = TaskContext(250.0, names, n, 0, Path("/"), prep)
    return spec.factory(spec.config(**settings), ctx).load()


@pytest.mark.skipif(not (MITDB / "100.hea").is_file(), reason=f"MIT-BIH not found at {MITDB}")
def test_mitbih_aami_windows_are_centred_beats_ds1_to_ds2(tmp_path: Path) -> None:
    records = ["100", "101", "103", "106"]  # DS2: 100, 103; DS1: 101, 106
    task = load("mitbih-aami", {"root": str(MITDB), "records": records}, tmp_path, ["MLII"])
    assert task.classes == ["N", "S", "V", "F", "Q"] and task.scored == ["N", "S", "V", "F"]
    assert set(task.train.records) == {"101", "106"} and set(task.test.records) == {"100", "103"}
    assert not set(task.train.patients) & set(task.test.patients)
    store = task.train.store
    beats, labels = np.asarray(store.beats), np.asarray(store.beat_labels)
    for part in (task.train, task.test):
        centre = part.start + 625 // 2
        pos = np.searchsorted(beats, centre)
        assert np.array_equal(beats[pos], centre), "every window is centred on a beat"
        assert [task.classes[i] for i in part.y] == labels[pos].tolist()
    # record 100 (DS2): 2239 N, 33 S, 1 V annotated; only beats too near the ends drop out
    counts = np.bincount(task.test.y[task.test.records == "100"], minlength=5)
    assert 2230 <= counts[0] <= 2239 and counts[1] == 33 and counts[2] == 1
    window = task.test.read(np.arange(3))
    assert window.shape == (3, 1, 625) and window.dtype == np.float32


@pytest.mark.skipif(not (CINC / "E07500.hea").is_file(), reason=f"CinC sample not found at {CINC}")
def test_cinc2021_dx_multi_hot_matches_headers(tmp_path: Path) -> None:
    task = load("cinc2021-dx", {"root": str(CINC)}, tmp_path, "standard12", n=2500)
    assert task.multilabel and task.train.y.shape[1] == len(task.classes)
    assert not set(task.train.patients) & set(task.test.patients)
    assert len(task.train) + len(task.test) == 50
    for part in (task.train, task.test):
        for rec, row in zip(part.records, part.y, strict=True):
            text = (CINC / f"{rec}.hea").read_text()
            dx = next(x for x in text.splitlines() if x.startswith("# Dx:")).split(":")[1]
            codes = {c.strip() for c in dx.split(",")}
            assert {c for c, v in zip(task.classes, row, strict=True) if v} == codes & set(
                task.classes
            )
    assert task.train.read(np.arange(2)).shape == (2, 12, 2500)


def numpy_dataset(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    t = np.arange(2500) / 250.0
    x = np.stack([np.sin(2 * np.pi * (1 + 0.1 * i) * t) + 0.05 * rng.normal(size=t.size)
                  for i in range(10)])[:, None, :].astype(np.float32)  # fmt: skip
    path = tmp_path / "ecg.npy"
    np.save(path, x)
    labels = [{"rhythm": "AF" if i % 2 else "SR"} for i in range(10)]
    sidecar = {"fs": 250.0, "leads": ["II"], "labels": labels,
               "patient_ids": [f"p{i // 2}" for i in range(10)]}  # fmt: skip
    (tmp_path / "ecg.json").write_text(json.dumps(sidecar))
    return {"name": "numpy", "path": str(path)}


def test_labels_task_on_any_dataset(tmp_path: Path) -> None:
    dataset = numpy_dataset(tmp_path)
    task = load("labels", {"dataset": dataset, "label": "rhythm"}, tmp_path, ["II"], n=500)
    assert task.classes == ["AF", "SR"]
    assert not set(task.train.patients) & set(task.test.patients)
    for part in (task.train, task.test):
        for rec in set(part.records):
            starts = np.sort(part.start[part.records == rec])
            assert len(starts) == 5 and (np.diff(starts) == 500).all()  # 10 s / 2 s, no overlap
    with pytest.raises(DataError, match="no record has label 'rythm'; did you mean 'rhythm'"):
        load("labels", {"dataset": dataset, "label": "rythm"}, tmp_path, ["II"], n=500)
