"""The svdb and ptbxl dataset plugins and the ptbxl task (the PTB-XL benchmark), on the real
shared data.

Expected values are computed here independently (wfdb annotations, pandas over the two PTB-XL
CSVs) or taken from the data's PROVENANCE.md; tests skip with a reason when the data is absent.
"""

from __future__ import annotations

import ast
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import wfdb
from conftest import data_root
from pydantic import ValidationError

from ssl_ecg.config import STANDARD_12
from ssl_ecg.data.record import DatasetContext, RecordSource
from ssl_ecg.errors import DataError, RecipeError
from ssl_ecg.evaluation import task_config
from ssl_ecg.recipe import data_recipe
from ssl_ecg.registry import Registry, get_registry
from ssl_ecg.sources import prepare
from ssl_ecg.tasks import TaskContext, TaskData

SVDB = data_root() / "svdb"
PTBXL = data_root() / "ptbxl-500"
needs_svdb = pytest.mark.skipif(
    not (SVDB / "800.hea").is_file(), reason=f"SVDB not found at {SVDB} (set SSL_ECG_TEST_DATA)"
)
needs_ptbxl = pytest.mark.skipif(
    not (PTBXL / "ptbxl_database.csv").is_file(),
    reason=f"PTB-XL sample not found at {PTBXL} (set SSL_ECG_TEST_DATA)",
)
SUPER = ["NORM", "MI", "STTC", "CD", "HYP"]


def source(name: str, recipe_dir: Path, **settings: object) -> RecordSource:
    """A dataset built through the registry, as a recipe would build it."""
    spec = Registry.load().get("dataset", name)
    return spec.factory(spec.config(**settings), DatasetContext(recipe_dir=recipe_dir, seed=0))


def load(task: str, settings: dict[str, Any], tmp_path: Path, n: int = 250) -> TaskData:
    """Build and load ``task`` as the evaluation does: 12 standard leads prepared at 100 Hz."""

    def prep(table: dict[str, Any]):
        table = {**table, "fs": 100.0, "leads": "standard12"}
        return prepare(data_recipe(table, tmp_path / "t")).store

    spec = get_registry().get("task", task)
    ctx = TaskContext(100.0, list(STANDARD_12), n, 0, tmp_path, prep)
    return spec.factory(task_config(spec, settings), ctx).load()


def ptbxl_truth(root: Path = PTBXL) -> pd.DataFrame:
    """The two CSVs, read directly: superclasses of every ecg_id (diagnostic statements with
    likelihood > 0 through diagnostic_class, as Strodthoff et al. 2021)."""
    db = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id")
    db["scp_codes"] = db["scp_codes"].apply(ast.literal_eval)
    st = pd.read_csv(root / "scp_statements.csv", index_col=0)
    st = st[st["diagnostic"] == 1]
    db["super"] = db["scp_codes"].apply(
        lambda d: sorted(
            {st.loc[k, "diagnostic_class"] for k, p in d.items() if k in st.index and p > 0}
        )
    )
    return db


# ------------------------------------------------------------------ svdb
@needs_svdb
def test_svdb_reads_78_records_with_header_leads(tmp_path: Path) -> None:
    ds = source("svdb", tmp_path, root=str(SVDB))
    keys = ds.keys()
    assert len(keys) == 78 and keys[0] == "800" and keys[-1] == "894"
    splits = ds.splits()  # alternate records: a fixed patient-wise halving
    assert splits["train"][:3] == ["800", "802", "804"] and splits["test"][:2] == ["801", "803"]
    assert sorted(splits["train"] + splits["test"]) == keys and ds.identity()
    assert len(splits["train"]) == 39 and not set(splits["train"]) & set(splits["test"])
    rec = ds.load("800")
    assert rec.leads == ["ECG1", "ECG2"] and rec.fs == 128.0
    assert rec.signal.shape == (2, 230400) and rec.signal.dtype == np.float32
    assert rec.record_id == rec.patient_id == "800"
    ann = wfdb.rdann(str(SVDB / "800"), "atr")
    beats = [s for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym in "NSVFQJa"]
    assert rec.beats.tolist() == beats and rec.beats.dtype == np.int64
    assert rec.labels == {"aami_counts": {"N": 1846, "S": 30, "V": 6, "F": 1, "Q": 0}}


@needs_svdb
def test_svdb_aami_counts_match_provenance(tmp_path: Path) -> None:
    """PROVENANCE.md counts the raw .atr symbols: N 162,339, S 12,188, V 9,943, Q 79, F 23,
    J 9 (plus '|' and '~' marks). In AAMI (de Chazal 2004) J and a are S, so the plugin's S is
    12,188 + 9 J + 1 a (record 821) = 12,198. One N of record 860 sits at sample 230,400, one past
    the signal's end, and is dropped, so N is 162,338. The single B (unspecified bundle branch
    block beat, record 868) is not in the AAMI table and is no beat here."""
    ds = source("svdb", tmp_path, root=str(SVDB))
    keys = ds.keys()
    raw: Counter[str] = Counter()
    for key in keys:
        raw.update(wfdb.rdann(str(SVDB / key), "atr").symbol)
    assert {s: raw[s] for s in "NSVQFJaB"} == {
        "N": 162339, "S": 12188, "V": 9943, "Q": 79, "F": 23, "J": 9, "a": 1, "B": 1,
    }  # fmt: skip
    total: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    for key in keys:
        rec = ds.load(key)
        total.update(rec.labels["aami_counts"])
        classes.update(rec.beat_labels.tolist())
        assert ((rec.beats >= 0) & (rec.beats < rec.signal.shape[1])).all()
        assert (np.diff(rec.beats) >= 0).all()
    assert total == {"N": 162338, "S": 12198, "V": 9943, "F": 23, "Q": 79}
    assert classes == total


# ------------------------------------------------------------------ ptbxl dataset
@needs_ptbxl
def test_ptbxl_records_patients_leads_and_labels(tmp_path: Path) -> None:
    truth = ptbxl_truth()
    ds = source("ptbxl", tmp_path, root=str(PTBXL))
    keys = ds.keys()
    assert keys == [str(i) for i in range(1, 501)]
    assert len({ds.rows[k].patient_id for k in keys}) == truth["patient_id"].nunique() == 466
    for key in ("1", "8", "39", "77", "500"):
        rec = ds.load(key)
        row = truth.loc[int(key)]
        assert rec.leads == STANDARD_12  # headers say AVR/AVL/AVF
        assert rec.signal.shape == (12, 1000) and rec.fs == 100.0
        assert rec.record_id == key and rec.patient_id == str(int(row["patient_id"]))
        assert rec.labels["superclasses"] == row["super"]
        assert rec.labels["scp_codes"] == row["scp_codes"]
        assert rec.labels["strat_fold"] == row["strat_fold"]
        assert rec.labels["sex"] == {0: "male", 1: "female"}[row["sex"]]
        assert rec.labels["age"] == (None if pd.isna(row["age"]) else int(row["age"]))
    # every record's superclasses, without reading signals
    got = {k: ds.rows[k].superclasses for k in keys}
    assert got == {str(i): s for i, s in truth["super"].items()}
    assert sum(not s for s in got.values()) == 13  # records with no diagnostic superclass
    assert Counter(c for s in got.values() for c in s) == {
        "NORM": 297, "STTC": 93, "CD": 78, "MI": 73, "HYP": 40,
    }  # fmt: skip


@needs_ptbxl
def test_ptbxl_splits_are_folds_and_share_no_patient(tmp_path: Path) -> None:
    truth = ptbxl_truth()
    splits = source("ptbxl", tmp_path, root=str(PTBXL)).splits()
    fold = {str(i): f for i, f in truth["strat_fold"].items()}
    assert set(splits) == {"train", "val", "test"}
    assert {fold[k] for k in splits["train"]} == set(range(1, 9))
    assert {fold[k] for k in splits["val"]} == {9} and {fold[k] for k in splits["test"]} == {10}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [353, 81, 66]
    patient = {str(i): p for i, p in truth["patient_id"].items()}
    groups = [{patient[k] for k in splits[s]} for s in ("train", "val", "test")]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    picked = source(
        "ptbxl", tmp_path, root=str(PTBXL), records=["00007", "3", "120"], folds=[9, 10]
    )
    assert picked.keys() == [k for k in ("3", "7", "120") if fold[k] in (9, 10)]


@needs_ptbxl
def test_ptbxl_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ptbxl_database.csv: not found; set data.root"):
        source("ptbxl", tmp_path, root=str(tmp_path))
    with pytest.raises(DataError, match=r"ptbxl_database.csv: has no ecg_id '501'"):
        source("ptbxl", tmp_path, root=str(PTBXL), records=["501"]).keys()
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        source("ptbxl", tmp_path, root=str(PTBXL), folds=[11])
    for name in ("ptbxl_database.csv", "scp_statements.csv"):
        shutil.copy(PTBXL / name, tmp_path / name)
    ds = source("ptbxl", tmp_path, root=str(tmp_path))  # CSVs but no records100/
    with pytest.raises(DataError, match=r"records100/00000/00001_lr\.hea.*not found") as err:
        ds.load("1")
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------ ptbxl task (the benchmark)
def benchmark_labels(label_set: str, root: Path = PTBXL) -> pd.Series:
    """ecg_id -> labels of ``label_set``, written here after helme/ecg_ptbxl_benchmarking
    code/utils/utils.py compute_label_aggregations (every statement, whatever its likelihood)."""
    db = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id")
    codes = db["scp_codes"].apply(ast.literal_eval)
    st = pd.read_csv(root / "scp_statements.csv", index_col=0)
    if label_set == "all":
        return codes.apply(lambda d: sorted(set(d)))
    flag = {"subdiagnostic": "diagnostic", "superdiagnostic": "diagnostic"}.get(
        label_set, label_set
    )
    column = {"subdiagnostic": "diagnostic_subclass", "superdiagnostic": "diagnostic_class"}
    agg = st[st[flag] == 1.0]

    def one(d: dict) -> list[str]:
        if label_set not in column:
            return sorted(k for k in d if k in agg.index)
        return sorted({str(agg.loc[k, column[label_set]]) for k in d if k in agg.index} - {"nan"})

    return codes.apply(one)


@needs_ptbxl
@pytest.mark.parametrize("label_set", ["all", "superdiagnostic", "form", "rhythm"])
def test_ptbxl_task_label_sets_are_the_benchmarks(label_set: str, tmp_path: Path) -> None:
    truth = benchmark_labels(label_set)
    fold = pd.read_csv(PTBXL / "ptbxl_database.csv", index_col="ecg_id")["strat_fold"]
    task = load("ptbxl", {"root": str(PTBXL), "labels": label_set}, tmp_path)
    train_ids = fold.index[fold <= 8]
    classes = sorted({c for i in train_ids for c in truth[i]})  # labels seen in training
    assert task.classes == classes and task.multilabel
    assert task.aggregate == "max" and task.also_aggregate == ["record"] and task.random_crops
    for part, folds in ((task.train, range(1, 9)), (task.val, [9]), (task.test, [10])):
        ids = [i for i in fold.index[fold.isin(folds)] if set(truth[i]) & set(classes)]
        assert sorted(set(part.records.astype(int))) == sorted(ids), "unlabelled records out"
        for rec in list(set(part.records))[:20]:
            mine = part.records == rec
            expected = [float(c in truth[int(rec)]) for c in classes]
            assert (part.y[mine] == expected).all()
            # 10 s at 100 Hz, 2.5 s windows every 1.25 s: 7 windows, spanning the record
            store, i = part.store, part.store.record_ids.index(rec)
            starts = np.sort(part.start[mine]) - store.rec_start[i]
            assert starts.tolist() == [125 * k for k in range(7)]
            assert (part.span[mine] == [store.rec_start[i], store.rec_start[i] + 1000]).all()
    patients = [set(p.patients) for p in (task.train, task.val, task.test)]
    assert not (patients[0] & patients[2]) and not (patients[1] & patients[2])
    if label_set == "superdiagnostic":
        assert task.classes == sorted(SUPER)  # MultiLabelBinarizer order, as the benchmark
    if label_set == "rhythm":  # SR has likelihood 0 in PTB-XL: a "> 0" rule would lose it
        assert "SR" in task.classes


@needs_ptbxl
def test_ptbxl_random_crops_stay_inside_their_record(tmp_path: Path) -> None:
    task = load("ptbxl", {"root": str(PTBXL), "window_s": 2.0, "stride_s": 2.0}, tmp_path)
    assert task.train.length == 200
    starts = task.train.random_crops(np.random.default_rng(0))
    lo, hi = task.train.span[:, 0], task.train.span[:, 1]
    assert (starts >= lo).all() and (starts + 200 <= hi).all()
    assert len(set((starts - lo).tolist())) > 50, "crops start anywhere in the record"


def test_ptbxl_task_settings_and_root(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"^task.root: required key is missing"):
        load("ptbxl", {}, tmp_path)
    with pytest.raises(RecipeError, match=r"share fold\(s\) \[9\]"):
        load("ptbxl", {"root": "x", "test_folds": [9, 10]}, tmp_path)
    with pytest.raises(RecipeError, match=r"task.labels"):
        load("ptbxl", {"root": "x", "labels": "superclass"}, tmp_path)
    with pytest.raises(DataError, match=r"task ptbxl: .*nowhere.*set the task's root"):
        load("ptbxl", {"root": "nowhere"}, tmp_path)


@needs_ptbxl
def test_ptbxl_task_refuses_a_patient_in_train_and_test(tmp_path: Path) -> None:
    db = pd.read_csv(PTBXL / "ptbxl_database.csv")
    rows = pd.concat([db[db.strat_fold == 1].head(2), db[db.strat_fold == 10].head(2)])
    rows.loc[rows.index[-1], "patient_id"] = rows.iloc[0]["patient_id"]  # same patient
    rows.to_csv(tmp_path / "ptbxl_database.csv", index=False)
    shutil.copy(PTBXL / "scp_statements.csv", tmp_path / "scp_statements.csv")
    for name in rows["filename_lr"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        for ext in (".hea", ".dat"):
            shutil.copy(PTBXL / f"{name}{ext}", tmp_path / f"{name}{ext}")
    settings = {"root": str(tmp_path), "train_folds": [1], "val_folds": [], "test_folds": [10]}
    patient = str(int(rows.iloc[0]["patient_id"]))
    with pytest.raises(DataError, match=rf"patient\(s\) {patient} have records in train and test"):
        load("ptbxl", settings, tmp_path / "run")
