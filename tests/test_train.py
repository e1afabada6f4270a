"""The minimal training loop: runs any combination, writes the run directory, stops on NaN."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ssl_ecg.recipe import load_recipe
from ssl_ecg.train import TrainingDiverged, train

REPO = Path(__file__).resolve().parents[1]
HYBRID = REPO / "recipes" / "hybrid.toml"
SMALL = [
    "data.n_records=3", "data.duration_s=20.0", "encoder.dim=32", "encoder.depth=1",
    "encoder.heads=2", "train.batch_size=16", "train.log_every=1", "train.device=cpu",
]  # fmt: skip


def losses(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_hybrid_run_directory(tmp_path: Path) -> None:
    recipe = load_recipe(HYBRID, [*SMALL, "train.steps=6", "train.checkpoint_every=3"])
    train(recipe, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    rows = losses(run)
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert {"loss", "mae", "simclr", "lr"} <= set(rows[0])
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 6 and "objective" in ckpt and "optimizer" in ckpt
    assert load_recipe(run / "recipe.toml").resolved() == recipe.resolved()
    assert (run / "loss.png").stat().st_size > 1000
    data = json.loads((run / "data.json").read_text())
    assert data["contract"]["fs"] == 250.0 and data["contract"]["n_samples"] == 500
    assert len(data["records"]) == 3


def test_same_seed_same_losses_and_loss_falls(tmp_path: Path) -> None:
    sets = [*SMALL, "train.steps=30", "train.lr=3e-3"]
    a = [r["loss"] for r in losses_of(tmp_path / "a", sets)]
    b = [r["loss"] for r in losses_of(tmp_path / "b", sets)]
    assert a == b, "same recipe and seed must give the same loss sequence on CPU"
    assert sum(a[-5:]) / 5 < 0.8 * sum(a[:5]) / 5, a


def losses_of(run: Path, sets: list[str]) -> list[dict]:
    train(load_recipe(HYBRID, sets), run, progress=False)
    return losses(run)


NAN_PLUGIN = """
import torch
from ssl_ecg import Config, Spec, hookimpl
from ssl_ecg.interfaces import Objective

class Explodes(Objective):
    def __init__(self, config, context):
        super().__init__()
        self.encoder = context.encoder
        self.calls = 0
    def forward(self, batch, views):
        self.calls += 1
        loss = self.encoder(views[0]).pow(2).mean()
        bad = loss * float("nan") if self.calls > 3 else loss
        return {"loss": bad, "energy": bad.detach()}

@hookimpl
def register_objectives():
    return [Spec("explodes", Explodes, Config, "NaN after three steps")]
"""


def test_nan_stops_with_step_and_part(fake_dist: Callable[..., Path], tmp_path: Path) -> None:
    fake_dist("ssl-ecg-explodes", {"explodes_plugin": NAN_PLUGIN}, {"explodes": "explodes_plugin"})
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        '[data]\nname = "synthetic"\nn_records = 2\nduration_s = 10.0\n'
        '[encoder]\nname = "resnet1d"\nwidths = [8]\nblocks = [1]\n'
        '[objective]\nname = "explodes"\n'
        "[train]\nsteps = 10\nbatch_size = 4\ncheckpoint_every = 2\n"
    )
    with pytest.raises(TrainingDiverged, match=r"at step 4 .*energy"):
        train(load_recipe(recipe), tmp_path / "run", progress=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 2
