"""``ssl-ecg new-plugin``: every kind's package installs with pip and passes its own tests as
generated; the objective trains 20 steps from its generated recipe, the logger logs such a run;
bad requests are one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssl_ecg.cli import app
from ssl_ecg.scaffold import SCAFFOLD_KINDS

runner = CliRunner()


def _env(site: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSL_ECG")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    env["SSL_ECG_CACHE"] = str(cache)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("kind", SCAFFOLD_KINDS)
def test_generated_package_installs_and_passes_its_own_tests(kind: str, tmp_path: Path) -> None:
    name = f"my-{kind[:3]}"
    made = runner.invoke(app, ["new-plugin", kind, name, "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    pkg = tmp_path / f"ssl-ecg-{name}"
    module = f"ssl_ecg_my_{kind[:3]}"
    meta = tomllib.loads((pkg / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["ssl_ecg"] == {name: module}
    source = (pkg / f"{module}.py").read_text()
    imports = [ln.split()[1] for ln in source.splitlines() if ln.startswith(("import ", "from "))]
    assert not [m for m in imports if m.startswith("ssl_ecg") and m != "ssl_ecg"], imports
    if shutil.which("ruff"):  # the generated code is lint-clean as written
        rules = ["--line-length", "100", "--select", "E,F,W,I,B,UP,SIM,RUF", "--target-version"]
        lint = ["ruff", "check", "--isolated", "--no-cache", *rules, "py311", str(pkg)]
        assert _run(lint, tmp_path, dict(os.environ)).returncode == 0

    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
               "--no-build-isolation", "--target", str(site), str(pkg)]  # fmt: skip
    done = _run(install, tmp_path, dict(os.environ))
    assert done.returncode == 0, f"pip install of the generated package failed:\n{done.stderr}"
    env = _env(site, tmp_path / "cache")
    tests = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], pkg, env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout

    if kind == "objective":  # from the generated recipe to a 20-step run
        run = tmp_path / "run"
        cmd = [sys.executable, "-m", "ssl_ecg.cli", "train", "example.toml", "--run-dir", str(run)]
        trained = _run(cmd, pkg, env)
        assert trained.returncode == 0, trained.stderr
        rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
        assert rows[-1]["step"] == 20 and all(r["loss"] == r["loss"] for r in rows)
        assert f'name = "{name}"' in (run / "recipe.toml").read_text()
    if kind == "logger":  # a third-party logger gets a run's rows through the core
        run = tmp_path / "run"
        cmd = [sys.executable, "-m", "ssl_ecg.cli", "train", "example.toml", "--run-dir", str(run)]
        trained = _run(cmd, pkg, env)
        assert trained.returncode == 0, trained.stderr
        rows = (run / "my_log.csv").read_text().splitlines()
        steps = [r.split(",")[0] for r in rows if ",train/loss," in r]
        assert rows[0] == "step,name,value" and steps == ["5", "10", "15", "20"]
        assert json.loads((run / "my_log.params.json").read_text())["loggers.0.name"] == name


def test_refuses_an_existing_folder_a_bad_name_and_an_unknown_kind(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["new-plugin", "augmentation", "jitter", "--dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    cases = {
        ("augmentation", "jitter"): "already exists",
        ("objective", "My Loss"): "bad name 'My Loss'",
        ("objective", "2fast"): "bad name",
        ("objective", "a" * 25): "at most 24 characters",
        ("objectiv", "foo"): "did you mean 'objective'",
        ("baseline", "foo"): "unknown kind 'baseline'",
        ("objective", "simclr"): "already taken",
        ("task", "mitbih-aami"): "already taken",
    }
    for (kind, name), message in cases.items():
        result = runner.invoke(app, ["new-plugin", kind, name, "--dir", str(tmp_path)])
        assert result.exit_code == 2, (kind, name, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ssl-ecg-jitter"]
    afile = tmp_path / "afile"
    afile.write_text("")
    result = runner.invoke(app, ["new-plugin", "objective", "foo", "--dir", str(afile)])
    assert result.exit_code == 2 and "is a file" in result.stderr
