"""Two CPU processes under torchrun (gloo) train one model: identical weights on both ranks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETS = [
    "data.n_records=3", "data.duration_s=20.0", "encoder.dim=32", "encoder.depth=1",
    "encoder.heads=2", "train.batch_size=16", "train.steps=6", "train.log_every=1",
    "train.device=cpu",
]  # fmt: skip


def test_two_gloo_processes_keep_identical_parameters(tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "ssl_ecg.cli", "train", str(REPO / "recipes" / "hybrid.toml"),
           "--run-dir", str(run), *[a for s in SETS for a in ("--set", s)]]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = json.loads((run / "ddp.json").read_text())
    assert ddp["world_size"] == 2 and ddp["identical"]
    first, second = ddp["fingerprints"]
    assert first == second and len(first) > 10
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 7)), "only rank 0 writes metrics"
    assert all(r["loss"] == r["loss"] for r in rows)
    # the weights moved away from their (shared) initialisation: the ranks trained in step
    from ssl_ecg.build import build
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.runtime import seed_everything

    seed_everything(0)
    init = build(load_recipe(REPO / "recipes" / "hybrid.toml", SETS)).objective
    start = [
        v for p in init.parameters() for v in (p.double().sum().item(), p.double().norm().item())
    ]
    assert len(start) == len(first) and start != first
