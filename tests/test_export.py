"""Export: safetensors + JSON with the data contract; loading checks the contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssl_ecg.errors import SslEcgError
from ssl_ecg.export import export, load_encoder
from ssl_ecg.recipe import load_recipe
from ssl_ecg.train import train

REPO = Path(__file__).resolve().parents[1]
SETS = [
    "data.n_records=3", "data.duration_s=20.0", "encoder.dim=32", "encoder.depth=1",
    "encoder.heads=2", "train.batch_size=16", "train.steps=3", "train.device=cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    train(load_recipe(REPO / "recipes" / "hybrid.toml", SETS), run_dir, progress=False)
    return run_dir


def test_export_round_trip_matches_the_trained_encoder(run: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ssl_ecg.cli", "export", str(run), "-o", str(tmp_path / "exp")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "exp" / "encoder.json").read_text())
    assert meta["encoder"]["name"] == "vit1d" and meta["encoder"]["dim"] == 32
    assert meta["data"]["fs"] == 250.0 and meta["data"]["leads"] == ["II"]
    assert meta["data"]["n_samples"] == 500 and meta["data"]["preprocessing"]["lowpass_hz"] == 40.0
    assert len(meta["pretraining"]["patients"]) == 3 and meta["pretraining"]["step"] == 3
    encoder, _ = load_encoder(tmp_path / "exp", fs=250.0, leads=["II"], n_samples=500)
    from ssl_ecg.checkpoint import load_checkpoint

    state = load_checkpoint(run / "checkpoints" / "last.pt")["objective"]
    for name, value in encoder.state_dict().items():
        trained = [v for k, v in state.items() if k.endswith("encoder." + name)]
        assert trained and torch.equal(trained[0], value), name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fs": 360.0}, "fs 250 Hz, not 360 Hz"),
        ({"leads": ["MLII"]}, r"leads \['II'\], not \['MLII'\]"),
        ({"n_samples": 625}, "500-sample windows, not 625"),
    ],
)
def test_a_mismatched_contract_is_refused(run: Path, tmp_path: Path, kwargs, message) -> None:
    export(run, tmp_path / "exp")
    with pytest.raises(SslEcgError, match=message):
        load_encoder(tmp_path / "exp", **kwargs)


def test_export_of_a_non_run_is_explained(tmp_path: Path) -> None:
    with pytest.raises(SslEcgError, match="not a run directory"):
        export(tmp_path, tmp_path / "out")
