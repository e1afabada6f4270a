"""Two CPU processes under torchrun (gloo) train the model a single process trains on the same
global batches: same losses, same final weights, identical on both ranks; only rank 0 logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from ssl_ecg.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
SETS = [
    "objective.name=energy", "data.n_records=3", "data.duration_s=20.0", "encoder.dim=32",
    "encoder.depth=1", "encoder.heads=2", "train.batch_size=16", "train.steps=6",
    "train.log_every=1", "train.device=cpu", 'loggers=[{ name = "tensorboard" }]',
]  # fmt: skip
# deterministic and a mean over samples: two half-batch means average to the full-batch mean
ENERGY = """
from ssl_ecg import Config, Objective, Spec, hookimpl


class Energy(Objective):
    n_views = 0

    def __init__(self, config, context):
        super().__init__()
        self.encoder = context.encoder

    def forward(self, batch, views):
        return {"loss": self.encoder(batch.signal).pow(2).mean()}


@hookimpl
def register_objectives():
    return [Spec(name="energy", factory=Energy, config=Config)]
"""


def _train(run: Path, site: Path, processes: int) -> list[dict]:
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    cmd = [sys.executable, *(launcher if processes > 1 else []), "-m", "ssl_ecg.cli", "train",
           str(REPO / "recipes" / "hybrid.toml"), "--run-dir", str(run),
           *[a for s in SETS for a in ("--set", s)]]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _logged_steps(folder: Path) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return [e.step for e in events.Scalars("train/loss")]


def test_two_gloo_processes_train_what_one_process_trains(
    tmp_path: Path, fake_dist: Callable[..., Path]
) -> None:
    site = fake_dist("ssl-ecg-energy", {"energy_plugin": ENERGY}, {"energy": "energy_plugin"})
    one = _train(tmp_path / "one", site, 1)
    two = _train(tmp_path / "two", site, 2)
    ddp = json.loads((tmp_path / "two" / "ddp.json").read_text())
    assert ddp["world_size"] == 2 and ddp["identical"]
    assert ddp["fingerprints"][0] == ddp["fingerprints"][1]
    assert [r["step"] for r in two] == list(range(1, 7)), "only rank 0 writes metrics"
    (events,) = (tmp_path / "two" / "tensorboard").iterdir()  # only rank 0 logs
    assert _logged_steps(events.parent) == list(range(1, 7))
    losses_one, losses_two = [r["loss"] for r in one], [r["loss"] for r in two]
    assert losses_one[-1] < losses_one[0], "the loss must move for the comparison to mean much"
    assert torch.allclose(torch.tensor(losses_two), torch.tensor(losses_one), rtol=1e-4), (
        losses_one, losses_two,
    )  # fmt: skip
    a = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")["objective"]
    b = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")["objective"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-3, atol=1e-5), key
