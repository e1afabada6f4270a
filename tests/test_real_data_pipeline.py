"""Real MIT-BIH through the whole data layer: prepare, cache, R-peaks against the cardiologists'
beat annotations. Skips when the PhysioNet copy is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import data_root

from ssl_ecg.recipe import load_recipe
from ssl_ecg.sources import prepare

MITDB = data_root() / "mitbih-arrhythmia"
pytestmark = pytest.mark.skipif(
    not (MITDB / "100.hea").is_file(),
    reason=f"MIT-BIH not found at {MITDB} (set SSL_ECG_TEST_DATA to the folder holding it)",
)


def recipe(tmp_path: Path, records: list[str], extra: str = "") -> Path:
    path = tmp_path / "mit.toml"
    path.write_text(
        f'[data]\nname = "mitbih"\nroot = "{MITDB}"\nrecords = {records!r}\nfs = 250\n{extra}\n'
        '[encoder]\nname = "resnet1d"\n[objective]\nname = "simclr"\n'.replace("'", '"')
    )
    return path


def nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each of ``a`` to the nearest of sorted ``b``."""
    i = np.clip(np.searchsorted(b, a), 1, len(b) - 1)
    return np.minimum(np.abs(a - b[i - 1]), np.abs(a - b[i]))


def test_rpeaks_of_record_100_match_the_reference_beats(tmp_path: Path) -> None:
    store = prepare(load_recipe(recipe(tmp_path, ["100"])), workers=1).store
    rpeaks = np.asarray(store.rpeaks)
    beats = np.asarray(store.beats)
    assert beats.size > 2000, "record 100 has 2273 annotated beats"
    tolerance = 0.050 * store.fs
    sensitivity = (nearest(beats, rpeaks) <= tolerance).mean()
    precision = (nearest(rpeaks, beats) <= tolerance).mean()
    assert sensitivity >= 0.99 and precision >= 0.99, (sensitivity, precision)


def test_windows_carry_rpeaks_in_their_own_time_base(tmp_path: Path) -> None:
    store = prepare(load_recipe(recipe(tmp_path, ["100"])), workers=1).store
    windows = store.windows(2.5, None)
    batch = windows.read(np.arange(0, len(windows), 97))
    t = round(2.5 * store.fs)
    for b in range(batch.index.size):
        peaks = batch.rpeaks[b][batch.rpeaks[b] >= 0]
        assert ((peaks >= 0) & (peaks < t)).all() and peaks.size >= 2
        # the signal peaks (in magnitude) near each stored R-peak, on lead MLII
        x = np.abs(batch.signal[b, 0])
        for p in peaks[(peaks > 5) & (peaks < t - 5)]:
            assert x[p - 5 : p + 6].max() >= 0.8 * x.max() or x.max() > 6 * x.std()


def test_ds1_training_split_never_sees_ds2(tmp_path: Path) -> None:
    path = recipe(tmp_path, ["100", "101", "202", "201"], 'split = "DS1"')
    r = load_recipe(path)
    store = prepare(r, workers=2).store
    from ssl_ecg.sources import training_records

    chosen = {store.record_ids[i] for i in training_records(store, r)}
    assert chosen == {"101", "201"}


def test_truncated_record_fails_clearly_and_skip_bad_reports_it(tmp_path: Path) -> None:
    import json
    import shutil

    from typer.testing import CliRunner

    from ssl_ecg.cli import app

    copy = tmp_path / "mitdb"
    copy.mkdir()
    for rec in ("100", "101"):
        for ext in ("hea", "dat", "atr"):
            shutil.copy(MITDB / f"{rec}.{ext}", copy / f"{rec}.{ext}")
    (copy / "101.dat").write_bytes((MITDB / "101.dat").read_bytes()[:100_000])
    path = tmp_path / "trunc.toml"
    path.write_text(
        f'[data]\nname = "mitbih"\nroot = "{copy}"\n'
        '[encoder]\nname = "resnet1d"\n[objective]\nname = "simclr"\n'
    )
    runner = CliRunner()
    failed = runner.invoke(app, ["data", "prepare", str(path)])
    assert failed.exit_code == 2
    (line,) = failed.stderr.strip().splitlines()
    assert f"{copy / '101.dat'}" in line and "truncated" in line and "--skip-bad" in line
    ok = runner.invoke(app, ["data", "prepare", str(path), "--skip-bad"])
    assert ok.exit_code == 0, ok.output
    info = json.loads(runner.invoke(app, ["data", "info", str(path), "--json"]).stdout)
    assert info["records"] == 1 and [s["record"] for s in info["skipped"]] == ["101"]
    assert "truncated" in info["skipped"][0]["reason"]
