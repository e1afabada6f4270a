"""Checkpoints: a killed run resumes to exactly the loss sequence of an uninterrupted one;
checkpoints that need pickled code are refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssl_ecg.checkpoint import load_checkpoint
from ssl_ecg.errors import SslEcgError

REPO = Path(__file__).resolve().parents[1]
HYBRID = str(REPO / "recipes" / "hybrid.toml")
SETS = [
    "data.n_records=3", "data.duration_s=20.0", "encoder.dim=32", "encoder.depth=1",
    "encoder.heads=2", "train.batch_size=16", "train.log_every=1", "train.device=cpu",
    "train.steps=24", "train.checkpoint_every=5", "train.warmup_steps=3",
]  # fmt: skip


def cli(*args: str) -> list[str]:
    sets = [a for s in SETS for a in ("--set", s)]
    return [sys.executable, "-m", "ssl_ecg.cli", "train", HYBRID, *sets, *args]


def losses(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows]


def test_kill_and_resume_reproduces_the_loss_sequence(tmp_path: Path) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(cli("--run-dir", str(full)), check=True, capture_output=True)
    proc = subprocess.Popen(cli("--run-dir", str(cut)), stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # without a terminal the run reports "step N/M ..." per log
        if line.startswith("step 13/"):
            break
    os.kill(proc.pid, signal.SIGKILL)  # at a step the run reported, like a pre-empted job
    proc.wait()
    killed_at = losses(cut)[-1][0]
    assert 13 <= killed_at < 24, "the run must be killed mid-way for this test to mean anything"
    assert load_checkpoint(cut / "checkpoints" / "last.pt")["step"] in (10, 15, 20)
    resumed = subprocess.run(cli("--run-dir", str(cut), "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert losses(cut) == losses(full)  # bit-for-bit, step for step


def test_a_run_directory_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    torch.save({"format": 1}, tmp_path / "checkpoints" / "last.pt")
    done = subprocess.run(cli("--run-dir", str(tmp_path)), capture_output=True, text=True)
    assert done.returncode == 2 and "--resume" in done.stderr


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    torch.save({"format": 1, "payload": Evil()}, path)
    with pytest.raises(SslEcgError, match="refused, the checkpoint needs pickled code"):
        load_checkpoint(path)


def test_garbage_checkpoint_is_named(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(SslEcgError, match=r"last\.pt: not a readable checkpoint"):
        load_checkpoint(path)
