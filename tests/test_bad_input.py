"""Bad records: one clear error naming the file, or --skip-bad skips and reports them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssl_ecg.cli import app
from ssl_ecg.errors import DataError
from ssl_ecg.recipe import load_recipe
from ssl_ecg.sources import prepare

FLAKY_SOURCE = """
import numpy as np
from ssl_ecg import Config, Spec, hookimpl
from ssl_ecg.data.record import Record, RecordSource
from ssl_ecg.errors import DataError

class Cfg(Config):
    bad: list[str] = []
    nan: list[str] = []

class Flaky(RecordSource):
    leads = ["II"]
    def __init__(self, config, context):
        self.config = config
    def keys(self):
        return [str(i) for i in range(6)]
    def load(self, key):
        if key in self.config.bad:
            raise DataError(f"/data/rec{key}.dat: file is truncated")
        t = np.arange(2500) / 250.0
        x = np.sin(2 * np.pi * 1.2 * t) + 0.01 * int(key)
        if key in self.config.nan:
            x[100] = np.nan
        return Record(x[None].astype("float32"), 250.0, ["II"], key, "p" + key,
                      source=f"/data/rec{key}.dat")

@hookimpl
def register_datasets():
    return [Spec("flaky", Flaky, Cfg, "records 'bad' fail to load")]
"""


@pytest.fixture
def flaky(fake_dist: Callable[..., Path], tmp_path: Path) -> Callable[[str], Path]:
    fake_dist("ssl-ecg-flaky", {"flaky_plugin": FLAKY_SOURCE}, {"flaky": "flaky_plugin"})

    def recipe(settings: str) -> Path:
        path = tmp_path / "flaky.toml"
        path.write_text(
            f'[data]\nname = "flaky"\n{settings}\nwindow_s = 2.0\n'
            '[encoder]\nname = "resnet1d"\n[objective]\nname = "simclr"\n'
        )
        return path

    return recipe


def test_a_bad_record_stops_prepare_with_its_file(flaky: Callable[[str], Path]) -> None:
    recipe = load_recipe(flaky('bad = ["3"]'))
    with pytest.raises(DataError, match=r"/data/rec3\.dat: file is truncated.*--skip-bad"):
        prepare(recipe, workers=1)


def test_nan_is_named(flaky: Callable[[str], Path]) -> None:
    with pytest.raises(DataError, match=r"/data/rec2\.dat: lead II contains NaN"):
        prepare(load_recipe(flaky('nan = ["2"]')), workers=1)


def test_skip_bad_skips_and_reports(flaky: Callable[[str], Path]) -> None:
    path = flaky('bad = ["3"]\nnan = ["5"]')
    runner = CliRunner()
    failed = runner.invoke(app, ["data", "prepare", str(path)])
    assert failed.exit_code == 2
    assert failed.stderr.strip().count("\n") == 0 and "rec3.dat" in failed.stderr
    ok = runner.invoke(app, ["data", "prepare", str(path), "--skip-bad", "--workers", "1"])
    assert ok.exit_code == 0, ok.output
    store = prepare(load_recipe(path)).store
    assert store.record_ids == ["0", "1", "2", "4"]
    report = json.loads((store.folder / "skipped.json").read_text())
    assert [r["record"] for r in report] == ["3", "5"]
    assert "truncated" in report[0]["reason"] and "NaN" in report[1]["reason"]
    info = runner.invoke(app, ["data", "info", str(path), "--json"])
    assert json.loads(info.stdout)["skipped"] == report


def _record(fs: float, leads: list[str] | None = None):
    import numpy as np

    from ssl_ecg.data.record import Record

    leads = leads or ["II"]
    t = np.arange(int(10 * fs)) / fs
    sig = np.stack([np.sin(2 * np.pi * 1.1 * t + i) for i in range(len(leads))]).astype("float32")
    return Record(sig, fs, leads, "r1", "p1", source="/data/r1.hea")


def test_rates_that_cannot_be_honoured_are_named() -> None:
    from ssl_ecg.config import PreprocessConfig
    from ssl_ecg.data.preprocess import process

    with pytest.raises(DataError, match=r"/data/r1\.hea: cannot resample 257\.3 Hz to 250 Hz"):
        process(_record(257.3), PreprocessConfig(fs=250.0), ["II"])
    with pytest.raises(DataError, match=r"/data/r1\.hea: lowpass_hz = 40.0 .* 60 Hz"):
        process(_record(60.0), PreprocessConfig(fs=100.0), ["II"])


def test_missing_leads_are_masked_or_refused() -> None:
    from ssl_ecg.config import PreprocessConfig
    from ssl_ecg.data.preprocess import process

    out = process(_record(250.0, ["I", "II"]), PreprocessConfig(), ["II", "V1", "I"])
    assert out.present.tolist() == [True, False, True]
    assert (out.signal[:, 1] == 0).all() and out.signal[:, 0].std() > 0.5
    with pytest.raises(DataError, match=r"lacks requested leads \['V1'\]"):
        process(_record(250.0, ["I", "II"]), PreprocessConfig(missing_leads="error"), ["II", "V1"])
    with pytest.raises(DataError, match="has none of the requested leads"):
        process(_record(250.0, ["I"]), PreprocessConfig(), ["V1"])


def test_a_rate_too_high_to_hold_a_window_is_one_line() -> None:
    """data.fs = 1e12: refused by the recipe check before anything is allocated."""
    recipe = str(Path(__file__).resolve().parents[1] / "recipes" / "hybrid.toml")
    result = CliRunner().invoke(app, ["validate", recipe, "--set", "data.fs=1e12"])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("error: ")
    assert "samples per window" in line and "window_s" in line


def test_a_model_too_big_to_allocate_is_one_line() -> None:
    """encoder.dim = 3,000,000: the weights cannot be allocated; an error naming the component."""
    recipe = str(Path(__file__).resolve().parents[1] / "recipes" / "hybrid.toml")
    result = CliRunner().invoke(app, ["validate", recipe, "--set", "encoder.dim=3000000"])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("error: ")
    assert "out of memory building it" in line and "encoder.dim" in line
