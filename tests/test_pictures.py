"""show-views and show-reconstruction write real pictures; an objective that does not
reconstruct is refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY_DATA_AND_ENCODER
from typer.testing import CliRunner

from ssl_ecg.cli import app

runner = CliRunner()
RECIPE = (
    TINY_DATA_AND_ENCODER
    + """[[augmentations]]
name = "gaussian_noise"
[[augmentations]]
name = "time_shift"
{views}
[objective]
name = "{objective}"
[train]
steps = 3
batch_size = 8
"""
)


def _png(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for objective in ("mae", "simclr"):
        folder = tmp_path_factory.mktemp(objective)
        recipe = folder / "recipe.toml"
        views = "views = [1]" if objective == "simclr" else ""
        recipe.write_text(RECIPE.replace("{objective}", objective).replace("{views}", views))
        done = runner.invoke(app, ["train", str(recipe), "--run-dir", str(folder / "run")])
        assert done.exit_code == 0, done.output
        out[objective] = folder
    return out


def test_show_views_draws_every_view_of_real_windows(runs: dict[str, Path]) -> None:
    png = runs["simclr"] / "views.png"
    done = runner.invoke(app, ["show-views", str(runs["simclr"] / "recipe.toml"), "-o", str(png),
                               "--n", "2"])  # fmt: skip
    assert done.exit_code == 0, done.output
    width, height = _png(png)
    assert width > height > 200  # 2 rows x (clean + 2 views)


def test_show_reconstruction_of_a_masking_run_and_refusal_of_another(
    runs: dict[str, Path],
) -> None:
    png = runs["mae"] / "recon.png"
    done = runner.invoke(app, ["show-reconstruction", str(runs["mae"] / "run"), "-o", str(png)])
    assert done.exit_code == 0, done.output
    assert _png(png)[0] > 300
    other = runner.invoke(app, ["show-reconstruction", str(runs["simclr"] / "run"), "-o",
                                str(runs["simclr"] / "r.png")])  # fmt: skip
    assert other.exit_code == 2
    assert "objective 'simclr' does not reconstruct" in other.stderr
    assert not (runs["simclr"] / "r.png").exists()


def test_mae_reconstruction_masks_its_ratio_and_keeps_shape(runs: dict[str, Path]) -> None:
    from ssl_ecg.pictures import load_run_objective, sample_batch

    recipe, objective, step = load_run_objective(runs["mae"] / "run", None)
    batch, _, _ = sample_batch(recipe, 4, 0)
    rec = objective.reconstruction(batch)
    assert step == 3 and rec["output"].shape == batch.signal.shape
    assert abs(rec["mask"].float().mean().item() - objective.config.mask_ratio) < 0.1


def test_show_reconstruction_finds_relative_data_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's recipe names its data relative to the recipe file, not to the run folder."""
    import json

    import numpy as np

    project = tmp_path / "project"
    project.mkdir()
    signal = np.random.default_rng(0).normal(size=(3, 1, 2000)).astype("f4")  # (N, C, T)
    np.save(project / "ecg.npy", signal)
    (project / "ecg.json").write_text(json.dumps({"fs": 100, "leads": ["II"]}))
    recipe = RECIPE.replace('name = "synthetic"\nn_records = 3\nduration_s = 10.0',
                            'name = "numpy"\npath = "ecg.npy"')  # fmt: skip
    (project / "r.toml").write_text(recipe.replace("{objective}", "mae").replace("{views}", ""))
    monkeypatch.chdir(project)
    done = runner.invoke(app, ["train", "r.toml", "--run-dir", str(tmp_path / "run")])
    assert done.exit_code == 0, done.output
    monkeypatch.chdir(tmp_path)
    out = runner.invoke(app, ["show-reconstruction", "run", "-o", "recon.png"])
    assert out.exit_code == 0, out.output
    assert _png(tmp_path / "recon.png")[0] > 300
