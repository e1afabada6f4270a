"""One's own labelled ECGs, end to end: a folder of single-lead 300 Hz records of varying
lengths and a labels CSV -> prepare -> cross-validated record-level score -> embeddings; labels
files, folders of .npy records and .npz archives for any dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from ssl_ecg.cli import app
from ssl_ecg.errors import SslEcgError

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "data.n_records=3", "data.duration_s=20.0", "encoder.dim=32", "encoder.depth=1",
    "encoder.heads=2", "train.batch_size=8", "train.steps=2", "train.device=cpu",
]  # fmt: skip
runner = CliRunner()


def ecg(seconds: int, bpm: float, seed: int, fs: int = 300) -> np.ndarray:
    import neurokit2 as nk

    return np.asarray(nk.ecg_simulate(duration=seconds, sampling_rate=fs, heart_rate=bpm,
                                      noise=0.01, random_state=seed, method="simple"))  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 records A00000.. of 9-15 s (lead 'ECG', 300 Hz, two per patient), REFERENCE.csv with
    a header and the last record missing."""
    import wfdb

    root = tmp_path_factory.mktemp("own")
    (root / "recs").mkdir()
    rows = ["record,rhythm"]
    for i in range(12):
        fast = i % 2 == 1
        sig = ecg(9 + i % 7, 115.0 if fast else 55.0, i)
        rid = f"A{i:05d}"
        wfdb.wrsamp(rid, fs=300, units=["mV"], sig_name=["ECG"], p_signal=sig[:, None],
                    fmt=["16"], write_dir=str(root / "recs"),
                    comments=[f"Patient: P{i // 2}"])  # fmt: skip
        if i < 11:
            rows.append(f"{rid},{'A' if fast else 'N'}")
    (root / "REFERENCE.csv").write_text("\n".join(rows) + "\n")
    (root / "own.toml").write_text(
        '[data]\nname = "wfdb"\nroot = "recs"\npatient_key = "patient"\n'
        'lead_map = { ECG = "II" }\nlabels_file = "REFERENCE.csv"\n'
    )
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.train import train

    run_dir = tmp_path_factory.mktemp("run")
    train(load_recipe(REPO / "recipes" / "hybrid.toml", TINY), run_dir, progress=False)
    return run_dir


def test_labels_file_needs_every_record_or_skip_bad(folder: Path) -> None:
    recipe = str(folder / "own.toml")
    bad = runner.invoke(app, ["data", "prepare", recipe])
    assert bad.exit_code == 2
    line = bad.stderr.strip()
    assert len(line.splitlines()) == 1 and "REFERENCE.csv" in line
    assert "1 record(s) of the data have no row (A00011)" in line and "--skip-bad" in line
    ok = runner.invoke(app, ["data", "prepare", recipe, "--skip-bad"])
    assert ok.exit_code == 0, ok.output
    assert "skipped 1: 1 record(s) without a label" in " ".join(ok.stderr.split())
    again = runner.invoke(app, ["data", "prepare", recipe])  # the cache built skipping exists
    assert again.exit_code == 2 and "have no row (A00011)" in again.stderr
    info = json.loads(runner.invoke(app, ["data", "info", recipe, "--json"]).stdout)
    assert info["records"] == 11 and info["leads"] == ["II"]
    assert [s["record"] for s in info["skipped"]] == ["A00011"]
    labels = {k for s in info["splits"].values() for k in s["labels"]}
    assert {"rhythm=N", "rhythm=A"} <= labels and not any("None" in k for k in labels)


def test_headerless_tsv_and_unknown_ids(tmp_path: Path) -> None:
    from ssl_ecg.data.labels import LabelledSource
    from ssl_ecg.data.record import RecordSource

    class Three(RecordSource):
        leads: ClassVar[list[str]] = ["II"]

        def keys(self) -> list[str]:
            return ["a/r1", "a/r2", "a/r3"]

    file = tmp_path / "labels.tsv"
    file.write_text("r1\tN\t61\nr2\tA\t70\nr3\tN\t\n")
    src = LabelledSource(Three(), file)
    assert src.table.columns == ["label", "label_2"] and not src.unlabelled
    assert src.table.rows["r1"] == {"label": "N", "label_2": 61}
    assert src.table.rows["r3"] == {"label": "N"}  # an empty cell is no label
    file.write_text("id,label\nr1,N\nx9,A\n")
    src = LabelledSource(Three(), file)
    want = r"2 record\(s\) .*no row \(a/r2, a/r3\); 1 id\(s\) .*\(x9\)"
    with pytest.raises(SslEcgError, match=want):
        src.check()
    src.skip = True
    assert src.keys() == ["a/r1"] and len(src.skipped()) == 3


def test_cv_at_record_level_then_embed(folder: Path, model: Path, monkeypatch) -> None:
    monkeypatch.chdir(folder)
    out = folder / "res"
    dataset = '{name = "wfdb", root = "recs", patient_key = "patient", lead_map = { ECG = "II" }}'
    result = runner.invoke(app, [
        "evaluate", str(model), "--task", "labels", "--set", f"dataset={dataset}",
        "--set", "label=rhythm", "--set", "aggregate=record", "--set", 'merge={"~" = "O"}',
        "--set", "data.labels_file=REFERENCE.csv", "--set", "data.skip_unlabelled=true",
        "--cv", "3", "--out", str(out),  # the val share of the split is pooled too
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())
    r = summary["results"]["embedding"]["1.0"]
    assert summary["cv"] == 3 and summary["aggregate"] == "record"
    assert r["unit"] == "record (record)" and r["n"] == summary["test_records"] == 11
    assert len(r["cv"]["folds"]) == 3 and r["cv"]["sd"]["macro_f1"] is not None
    assert r["ci"]["macro_f1"][0] <= r["macro_f1"] <= r["ci"]["macro_f1"][1]
    assert "merged ~ -> O" in summary["task_description"]
    pred = np.load(out / "predictions.npz")
    folds = {}
    for patient, fold in zip(pred["patients"], pred["fold"], strict=True):
        assert folds.setdefault(patient, fold) == fold, f"patient {patient} in two folds"
    assert set(folds.values()) == {0, 1, 2}

    emb = folder / "emb.npz"
    result = runner.invoke(app, ["embed", str(model), "own.toml", "-o", str(emb),
                                 "--set", "data.skip_unlabelled=true"])  # fmt: skip
    assert result.exit_code == 0, result.output
    z = np.load(emb)
    assert z["embedding"].shape[1] == 32 and set(z["label:rhythm"]) == {"N", "A"}
    per = folder / "per_record.npz"
    assert runner.invoke(app, ["embed", str(model), "own.toml", "-o", str(per), "--per", "record",
                               "--set", "data.skip_unlabelled=true"]).exit_code == 0  # fmt: skip
    assert np.load(per)["embedding"].shape[0] == 11

    import wfdb

    import ssl_ecg

    raw = wfdb.rdrecord(str(folder / "recs" / "A00003"))
    vectors = ssl_ecg.load_encoder(model).embed(raw.p_signal.T, fs=raw.fs, leads=raw.sig_name,
                                                lead_map={"ECG": "II"})  # fmt: skip
    mine = z["record_id"] == "A00003"
    assert vectors.shape == (mine.sum(), 32)
    np.testing.assert_allclose(vectors, z["embedding"][mine], atol=1e-5)


def test_a_task_dataset_root_that_does_not_exist_is_one_line(tmp_path: Path, model: Path) -> None:
    dataset = f'dataset={{name="wfdb", root="{tmp_path / "nope"}"}}'
    result = runner.invoke(app, ["evaluate", str(model), "--task", "labels", "--set", "label=x",
                                 "--set", dataset])  # fmt: skip
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith(f"error: task labels: data: {tmp_path / 'nope'}: folder not found")
    assert line.count("task labels") == 1 and len(line.splitlines()) == 1


def test_data_keys_the_model_fixes_are_refused(folder: Path, model: Path) -> None:
    result = runner.invoke(app, ["embed", str(model), str(folder / "own.toml"), "-o",
                                 str(folder / "x.npz"), "--set", "data.fs=300"])  # fmt: skip
    assert result.exit_code == 2 and "--set data.fs: the model's data contract fixes it" in (
        result.stderr
    )


def test_numpy_folder_and_npz_of_variable_length_records(tmp_path: Path) -> None:
    from ssl_ecg.recipe import data_recipe
    from ssl_ecg.sources import prepare

    arrays = {f"rec{i}": ecg(5 + i, 70.0, i, fs=250)[None, :].astype(np.float32)
              for i in range(3)}  # fmt: skip
    (tmp_path / "npy").mkdir()
    for name, x in arrays.items():
        np.save(tmp_path / "npy" / f"{name}.npy", x)
    np.savez(tmp_path / "all.npz", **arrays)
    sidecar = {"fs": 250, "leads": ["II"], "patient_ids": ["p0", "p0", "p1"]}
    for name in ("npy.json", "all.json"):
        (tmp_path / name).write_text(json.dumps(sidecar))
    (tmp_path / "labels.csv").write_text("rec0,N\nrec1,A\nrec2,N\n")
    for path in ("npy", "all.npz"):
        table = {"name": "numpy", "path": path, "labels_file": "labels.csv"}
        store = prepare(data_recipe(table, tmp_path / "r.toml")).store
        assert store.record_ids == ["rec0", "rec1", "rec2"]
        assert store.patient_ids == ["p0", "p0", "p1"]
        assert [int(n) for n in store.rec_len] == [1250, 1500, 1750]
        assert [r["labels"]["label"] for r in store.records] == ["N", "A", "N"]
    np.save(tmp_path / "npy" / "bad.npy", np.zeros((2, 100), dtype=np.float32))
    (tmp_path / "npy.json").write_text(json.dumps({"fs": 250, "leads": ["II"]}))
    with pytest.raises(SslEcgError, match=r"bad\.npy: holds a float32 array of shape \(2, 100\)"):
        prepare(data_recipe({"name": "numpy", "path": "npy"}, tmp_path / "r.toml"))
