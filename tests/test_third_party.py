"""examples/ssl-ecg-simsiam, installed with pip like any third-party package, is found through
its entry point and usable from a recipe with no change to ssl-ecg."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ssl_ecg.recipe import load_recipe
from ssl_ecg.registry import get_registry

REPO = Path(__file__).resolve().parents[1]
HYBRID = str(REPO / "recipes" / "hybrid.toml")
RECIPE = """
[data]
name = "synthetic"
n_records = 2
duration_s = 10.0
window_s = 2.0
[encoder]
name = "resnet1d"
widths = [16, 32]
blocks = [1, 1]
[[augmentations]]
name = "gaussian_noise"
[objective]
name = "simsiam"
out_dim = 32
[train]
steps = 4
batch_size = 8
log_every = 1
"""


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSL_ECG")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env


def test_listed_with_its_own_distribution(example_plugin_site: Path) -> None:
    out = subprocess.run(
        ["ssl-ecg", "list-plugins", "--json"], capture_output=True, text=True,
        env=_env(example_plugin_site), check=True,
    )  # fmt: skip
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    simsiam = rows["simsiam"]
    assert (simsiam["kind"], simsiam["distribution"], simsiam["version"], simsiam["status"]) == (
        "objective", "ssl-ecg-simsiam", "0.1.0", "ok",
    )  # fmt: skip
    assert rows["simclr"]["distribution"] == "ssl-ecg"


def test_usable_from_a_recipe_alone_and_inside_hybrid(
    example_plugin_site: Path, add_to_path: Callable[[Path], None]
) -> None:
    add_to_path(example_plugin_site)
    assert get_registry().get("objective", "simsiam").distribution == "ssl-ecg-simsiam"
    r = load_recipe(HYBRID, ["objective.parts.simsiam=0.1", "objective.simsiam.out_dim=64"])
    assert r.resolved()["objective"]["simsiam"]["out_dim"] == 64


def test_trains_through_the_cli(example_plugin_site: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "simsiam.toml"
    recipe.write_text(RECIPE)
    cmd = [
        sys.executable,
        "-m",
        "ssl_ecg.cli",
        "train",
        str(recipe),
        "--run-dir",
        str(tmp_path / "run"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(example_plugin_site))
    assert done.returncode == 0, done.stderr
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 4 and all(r["loss"] == r["loss"] for r in rows)
    assert 'name = "simsiam"' in (tmp_path / "run" / "recipe.toml").read_text()


def test_its_own_test_runs_the_conformance_kit(example_plugin_site: Path) -> None:
    tests = REPO / "examples" / "ssl-ecg-simsiam" / "tests"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(example_plugin_site),
                          cwd=tests)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
