"""The prepared-data cache: content-addressed, rebuilt on change, read back exactly."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest

from ssl_ecg.config import PreprocessConfig
from ssl_ecg.data.preprocess import process
from ssl_ecg.data.splits import patient_splits
from ssl_ecg.errors import DataError
from ssl_ecg.recipe import load_recipe
from ssl_ecg.sources import build_source, open_prepared, prepare, summary, training_records

REPO = Path(__file__).resolve().parents[1]
HYBRID = REPO / "recipes" / "hybrid.toml"
SMALL = ["data.n_records=6", "data.duration_s=12.0", "data.window_s=2.0"]


def test_prepare_builds_once_then_reuses() -> None:
    recipe = load_recipe(HYBRID, [*SMALL, "data.seed=11"])
    first = prepare(recipe, workers=1)
    again = prepare(recipe)
    assert first.built and not again.built
    assert first.store.folder == again.store.folder
    meta = json.loads((first.store.folder / "meta.json").read_text())
    assert meta["preprocessing"]["fs"] == 250.0 and meta["preprocessing"]["lowpass_hz"] == 40.0
    assert meta["dataset"]["settings"]["seed"] == 11 and meta["n_records"] == 6


@pytest.mark.parametrize("change", ["data.lowpass_hz=30.0", "data.fs=200", "data.seed=12"])
def test_a_changed_setting_rebuilds(change: str) -> None:
    base = prepare(load_recipe(HYBRID, [*SMALL, "data.seed=11"]), workers=1).store.folder
    changed = prepare(load_recipe(HYBRID, [*SMALL, "data.seed=11", change]), workers=1)
    assert changed.built and changed.store.folder != base


def test_windowing_and_split_changes_reuse_the_cache() -> None:
    recipe = load_recipe(HYBRID, [*SMALL, "data.seed=11"])
    folder = prepare(recipe, workers=1).store.folder
    other = load_recipe(HYBRID, [*SMALL, "data.seed=11", "data.window_s=1.0", "data.split=train"])
    again = prepare(other)
    assert not again.built and again.store.folder == folder


def test_windows_read_back_the_preprocessed_signal_and_rpeaks() -> None:
    recipe = load_recipe(HYBRID, [*SMALL, "data.seed=3", "data.stride_s=0.5"])
    store = prepare(recipe, workers=2).store
    source = build_source(recipe)
    windows = store.windows(2.0, 0.5)
    t = 500
    per_record = 1 + (12 * 250 - t) // 125
    assert len(windows) == 6 * per_record
    rng = np.random.default_rng(0)
    idx = rng.choice(len(windows), size=32, replace=False)
    batch = windows.read(idx)
    assert batch.signal.shape == (32, 1, t) and batch.signal.dtype == np.float32
    for b, w in enumerate(idx):
        r, off = windows.record[w], windows.offset[w]
        direct = process(source.load(str(r)), recipe.preprocess, ["II"])
        np.testing.assert_allclose(batch.signal[b, 0], direct.signal[off : off + t, 0], atol=1e-6)
        expected = direct.rpeaks[(direct.rpeaks >= off) & (direct.rpeaks < off + t)] - off
        got = batch.rpeaks[b][batch.rpeaks[b] >= 0]
        np.testing.assert_array_equal(got, expected)
        assert expected.size >= 1  # a 2 s window of a 55-100 bpm ECG holds a beat


def test_patient_splits_are_disjoint_seeded_and_cover_everyone() -> None:
    pids = [f"p{i // 3}" for i in range(60)]  # 20 patients, 3 records each
    a = patient_splits(pids, [0.6, 0.2, 0.2], seed=1)
    b = patient_splits(pids, [0.6, 0.2, 0.2], seed=1)
    c = patient_splits(pids, [0.6, 0.2, 0.2], seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    groups = [{pids[i] for i in a[k]} for k in ("train", "val", "test")]
    assert [len(g) for g in groups] == [12, 4, 4]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert sorted(np.concatenate(list(a.values()))) == list(range(60))


def test_split_selection_and_unknown_split() -> None:
    recipe = load_recipe(HYBRID, [*SMALL, "data.seed=11", "data.split=val"])
    store = prepare(recipe, workers=1).store
    recs = training_records(store, recipe)
    assert 0 < len(recs) < 6
    bad = load_recipe(HYBRID, [*SMALL, "data.seed=11", "data.split=DS1"])
    with pytest.raises(DataError, match=r"'DS1' is not a split.*train, val, test"):
        training_records(store, bad)
    info = summary(store, recipe)
    assert sum(s["records"] for s in info["splits"].values()) == 6


def test_info_before_prepare_says_how() -> None:
    with pytest.raises(DataError, match="ssl-ecg data prepare"):
        open_prepared(load_recipe(HYBRID, [*SMALL, "data.seed=999"]))


def test_preprocess_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="Nyquist"):
        PreprocessConfig(fs=50.0, lowpass_hz=40.0)
    assert PreprocessConfig(leads="standard12").lead_names(["II"])[6] == "V1"


class _Counting:
    """A record source that counts its loads and can stop (as a kill would) after ``stop``."""

    def __init__(self, inner: object, stop: int | None = None) -> None:
        self.inner, self.stop, self.loaded = inner, stop, []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def load(self, key: str) -> object:
        if self.stop is not None and len(self.loaded) == self.stop:
            raise KeyboardInterrupt  # the process dies here
        self.loaded.append(key)
        return self.inner.load(key)  # type: ignore[attr-defined]


def _build(recipe: object, folder: Path, stop: int | None = None) -> _Counting:
    from ssl_ecg.data.cache import build_cache

    source = _Counting(build_source(recipe), stop)  # type: ignore[arg-type]
    pre = recipe.sources[0].preprocess  # type: ignore[attr-defined]
    leads = pre.lead_names(list(source.leads))  # type: ignore[attr-defined]
    with contextlib.suppress(KeyboardInterrupt):  # a "killed" build
        build_cache(source, pre, leads, folder, {"dataset": {"name": "s"}}, workers=1)  # type: ignore[arg-type]
    return source


def _files(folder: Path) -> dict[str, bytes]:
    skip = {"meta.json"}  # its build time differs
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in skip}


def test_a_killed_prepare_continues_where_it_stopped(tmp_path: Path) -> None:
    recipe = load_recipe(HYBRID, [*SMALL, "data.seed=21"])
    whole = _build(recipe, tmp_path / "whole")
    assert len(whole.loaded) == 6
    killed = _build(recipe, tmp_path / "c", stop=4)
    assert not (tmp_path / "c").exists() and (tmp_path / "c.partial").is_dir()
    assert killed.loaded == whole.loaded[:4]
    # a kill between a record's samples and its journal line: extra bytes, half a line
    part = tmp_path / "c.partial"
    with (part / "signal_0000.bin").open("ab") as f:
        f.write(b"\x01" * 1000)
    with (part / "journal.jsonl").open("a") as f:
        f.write('{"key": "half')
    resumed = _build(recipe, tmp_path / "c")
    assert resumed.loaded == whole.loaded[4:]  # only the records not yet done
    assert not part.exists()
    assert _files(tmp_path / "c") == _files(tmp_path / "whole")  # byte for byte


def test_a_live_prepare_keeps_others_out_of_its_folder(tmp_path: Path) -> None:
    import os

    recipe = load_recipe(HYBRID, [*SMALL, "data.seed=21"])
    (tmp_path / "c.partial").mkdir()
    (tmp_path / "c.partial" / "lock").write_text(str(os.getppid()))  # a live process
    with pytest.raises(DataError, match="another prepare"):
        _build(recipe, tmp_path / "c")
