"""The bad-input corpus (tests/bad_inputs/): plausible mistakes, each a clear one-line error
that names the file or key, with exit status 2 and no traceback — or, where success is right,
the right result. Recipe mistakes are files in bad_inputs/recipes/ (their first lines say what
is expected), command-line mistakes are the cases of bad_inputs/commands.toml (with the files
a case names written into its folder first)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ssl_ecg.cli import app

HERE = Path(__file__).resolve().parent / "bad_inputs"
RECIPES = sorted((HERE / "recipes").glob("*.toml"))
CASES = tomllib.loads((HERE / "commands.toml").read_text())["case"]
runner = CliRunner()


def header(path: Path) -> dict[str, str]:
    """The ``# key: value`` comment lines at the top of a corpus file."""
    out = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].partition(":")
        out[key.strip()] = value.strip()
    return out


def assert_one_error(result, expect: str) -> None:
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text, text
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2, (result.exit_code, text)
    assert len(errors) == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expect in errors[0], (expect, errors[0])


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_mistakes(recipe: Path, tmp_path: Path) -> None:
    info = header(recipe)
    if "skip-if-cuda" in info and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    command = info.get("command", "validate").split()
    args = [*command, str(recipe)]
    if command == ["train"]:
        args += ["--run-dir", str(tmp_path / "run")]
    result = runner.invoke(app, args)
    if info["expect"] == "ok":
        assert result.exit_code == 0, result.output
        return
    assert_one_error(result, info["expect"])
    assert str(recipe) in result.stderr  # every recipe error names its file


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_command_mistakes(case: dict, tmp_path: Path) -> None:
    (tmp_path / "a-file.txt").write_text("not a folder\n")
    names = {"{tmp}": str(tmp_path), "{file}": str(tmp_path / "a-file.txt"),
             "{recipe}": str(HERE / "recipes" / "ok_minimal.toml"),
             "{grid}": str(tmp_path / "grid.toml")}  # fmt: skip

    def fill(text: str) -> str:
        for key, value in names.items():
            text = text.replace(key, value)
        return text

    if "grid" in case:
        (tmp_path / "grid.toml").write_text(fill(case["grid"]))
    for name, text in case.get("files", {}).items():  # e.g. a labels file the command reads
        (tmp_path / name).write_text(fill(text))
    result = runner.invoke(app, [fill(a) for a in case["args"]])
    assert_one_error(result, fill(case["expect"]))
    assert not (tmp_path / "bench" / "cells").exists() or not any(
        (tmp_path / "bench" / "cells").glob("*/run")
    ), "nothing may be trained before a grid is found valid"


# ------------------------------------------------------------------ mistakes that need a setup
MINIMAL = HERE / "recipes" / "ok_minimal.toml"
TINY = ["--set", "train.steps=6", "--set", "train.batch_size=4", "--set", "train.log_every=1",
        "--set", "train.checkpoint_every=3", "--set", 'train.device="cpu"']  # fmt: skip


@pytest.mark.parametrize("raise_", ["raise KeyboardInterrupt", "import sys; sys.exit(3)"])
def test_a_plugin_that_exits_or_interrupts_at_import_is_listed_as_broken(
    raise_: str, fake_dist
) -> None:
    fake_dist("ssl-ecg-rude", {"rude_plugin": raise_ + "\n"}, {"rude": "rude_plugin"})
    listed = runner.invoke(app, ["list-plugins", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    rude = [r for r in rows if r.get("plugin") == "rude" or r.get("name") == "rude"]
    assert rude and rude[0]["status"] == "broken", rude
    assert runner.invoke(app, ["validate", str(MINIMAL)]).exit_code == 0  # others still work


def test_a_second_train_into_a_locked_run_dir_is_refused(tmp_path: Path) -> None:
    import os

    from ssl_ecg.outputs import run_lock

    run = tmp_path / "run"
    run.mkdir()
    with run_lock(run):  # as if another process were training into it
        result = runner.invoke(app, ["train", str(MINIMAL), "--run-dir", str(run), *TINY])
    assert_one_error(result, f"another ssl-ecg process (pid {os.getpid()}) is writing")
    assert not (run / "checkpoints").exists()
    done = runner.invoke(app, ["train", str(MINIMAL), "--run-dir", str(run), *TINY])
    assert done.exit_code == 0, done.output  # the lock goes with its holder


def test_resume_of_a_finished_run_says_so_and_a_changed_recipe_names_the_key(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", str(MINIMAL), "--run-dir", str(run), *TINY]).exit_code == 0
    before = (run / "metrics.jsonl").read_text()
    again = runner.invoke(app, ["train", str(MINIMAL), "--run-dir", str(run), "--resume", *TINY])
    assert again.exit_code == 0 and "already finished its 6 steps" in " ".join(again.stderr.split())
    assert (run / "metrics.jsonl").read_text() == before  # nothing rewritten
    changed = runner.invoke(app, ["train", str(MINIMAL), "--run-dir", str(run), "--resume",
                                  *TINY, "--set", "train.lr=0.01"])  # fmt: skip
    assert_one_error(changed, "train.lr = unset in the run, 0.01 now")


def test_resume_keeps_the_history_and_clears_leftovers(tmp_path: Path) -> None:
    """A run killed after logging step 5 (its last checkpoint: step 3), mid-way through a line
    and a checkpoint write: resuming drops nothing for good, clears the leftovers and logs the
    same rows as a run never killed."""
    import json
    import shutil

    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.train import train

    sets = [s for s in TINY if s != "--set"] + ["train.save_steps=[3]"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    train(load_recipe(MINIMAL, sets), full, progress=False)
    shutil.copytree(full, cut)
    shutil.copy(cut / "checkpoints" / "step_0000003.pt", cut / "checkpoints" / "last.pt")
    rows = (full / "metrics.jsonl").read_text().splitlines()
    (cut / "metrics.jsonl").write_text("\n".join(rows[:5]) + '\n{"step": 6, "lo')
    stale = cut / "checkpoints" / ".last.pt.tmp-999999"
    stale.write_bytes(b"half a checkpoint")
    train(load_recipe(MINIMAL, sets), cut, progress=False, resume=True)

    def losses(lines: list[str]) -> list[tuple]:
        return [(r["step"], r["loss"], r["lr"]) for r in map(json.loads, lines)]

    kept = (cut / "metrics.jsonl").read_text().splitlines()
    assert losses(kept) == losses(rows)  # the same history as the run never killed
    dropped = (cut / "metrics.dropped.jsonl").read_text().splitlines()
    assert dropped == [*rows[3:5], '{"step": 6, "lo'] and json.loads(dropped[0])["step"] == 4
    assert not stale.exists()


def test_leakage_guard_compares_record_content_across_dataset_plugins(tmp_path: Path) -> None:
    """Records pretrained on through the generic `wfdb` plugin are the same recordings the
    `mitbih-aami` task tests on through the `mitbih` plugin: the guard must see it."""
    from conftest import data_root

    from ssl_ecg.errors import SslEcgError
    from ssl_ecg.evaluation import evaluate, load_model, load_task
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.train import train

    mitdb = data_root() / "mitbih-arrhythmia"
    if not (mitdb / "100.hea").is_file():
        pytest.skip(f"no MIT-BIH records in {mitdb}")
    recipe = tmp_path / "wfdb.toml"
    recipe.write_text(
        f'[data]\nname = "wfdb"\nroot = "{mitdb}"\nrecords = ["100", "103"]\nleads = ["MLII"]\n'
        'window_s = 2.0\n[encoder]\nname = "vit1d"\ndim = 32\ndepth = 1\nheads = 2\n'
        '[objective]\nname = "simclr"\n[train]\nsteps = 2\nbatch_size = 4\ndevice = "cpu"\n'
    )
    train(load_recipe(recipe), tmp_path / "run", progress=False)
    model = load_model(str(tmp_path / "run"))
    task = load_task("mitbih-aami", {"root": str(mitdb), "records": ["101", "100", "105"]},
                     model, 0, tmp_path)  # fmt: skip
    with pytest.raises(SslEcgError, match=r"leakage: 1 test patient\(s\) .*\(e.g. 100\)"):
        evaluate(model, "mitbih-aami", task, "linear", [1.0], tmp_path / "e", n_boot=10)
