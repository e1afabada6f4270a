"""The command line, through Typer's CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from ssl_ecg.cli import app

REPO = Path(__file__).resolve().parents[1]
HYBRID = str(REPO / "recipes" / "hybrid.toml")
runner = CliRunner()


def test_list_plugins_json_has_every_builtin_with_its_distribution() -> None:
    result = runner.invoke(app, ["list-plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    for row in rows:
        assert {"kind", "name", "summary", "distribution", "version"} <= set(row)
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    own = {r["plugin"] for r in rows if r["distribution"] == "ssl-ecg"}
    assert own == set(declared["ssl_ecg"])


def test_list_plugins_pattern_and_kind() -> None:
    rows = json.loads(runner.invoke(app, ["list-plugins", "vit*", "--json"]).stdout)
    assert [r["name"] for r in rows] == ["vit1d"]
    rows = json.loads(runner.invoke(app, ["list-plugins", "--kind", "encoder", "--json"]).stdout)
    assert {r["kind"] for r in rows} == {"encoder"} and len(rows) >= 2
    table = runner.invoke(app, ["list-plugins"], terminal_width=200)
    assert table.exit_code == 0 and "resnet1d" in table.stdout and "ssl-ecg" in table.stdout
    bad = runner.invoke(app, ["list-plugins", "--kind", "encoders"])
    assert bad.exit_code == 2 and "did you mean 'encoder'" in bad.stderr


def test_validate_ok_and_show() -> None:
    result = runner.invoke(app, ["validate", HYBRID])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["show", HYBRID, "--set", "train.steps=11"])
    assert shown.exit_code == 0
    assert tomllib.loads(shown.stdout)["train"]["steps"] == 11


def test_user_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(HYBRID).read_text().replace("mask_ratio", "mask_ration"))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(bad) in lines[0] and "objective.mae.mask_ration" in lines[0]
    assert "did you mean 'mask_ratio'" in lines[0]
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "validate", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "recipe file not found" in result.stderr
    os.environ.pop("SSL_ECG_DEBUG", None)


def test_combination_problems_are_caught_by_validate() -> None:
    result = runner.invoke(app, ["validate", HYBRID, "--set", "encoder.patch=30"])
    assert result.exit_code == 2
    assert "patch" in result.stderr and "multiple" in result.stderr


def test_real_subprocess(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSL_ECG")}
    ok = subprocess.run(["ssl-ecg", "validate", HYBRID], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "ssl_ecg.cli", "validate", HYBRID, "--set", "train.stpes=3"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"error: {HYBRID}: train.stpes: unknown key; did you mean 'steps'?"
    ]


def test_help_keeps_bracketed_recipe_sections() -> None:
    """Rich reads '[data]' as markup and drops it unless escaped; the help must still say it."""
    cases = [(["data", "validate", "--help"], "[data]"), (["embed", "--help"], "[data]"),
             (["evaluate", "--help"], "[data]"), (["data", "--help"], "[data]")]  # fmt: skip
    for args, text in cases:
        out = runner.invoke(app, args, terminal_width=200).stdout
        assert text in out, f"'ssl-ecg {' '.join(args)}' lost '{text}'"
