"""Each objective trains with its paper's optimizer unless the recipe names its own; `ssl-ecg show`
says where every [train] value came from; resolved recipes read back as the same recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import TINY_DATA_AND_ENCODER
from typer.testing import CliRunner

from ssl_ecg.cli import app
from ssl_ecg.errors import RecipeError
from ssl_ecg.recipe import load_recipe
from ssl_ecg.specs import Spec
from ssl_ecg.train import make_optimizer

MAE_PAPER = "objective mae: He et al. 2022"


def recipe(tmp_path: Path, objective: str, train: str = "") -> Path:
    path = tmp_path / "r.toml"
    path.write_text(TINY_DATA_AND_ENCODER + f"[objective]\nname = \"{objective}\"\n"
                    + (f"[train]\n{train}\n" if train else ""))  # fmt: skip
    return path


def test_an_objective_brings_its_papers_optimizer(tmp_path: Path) -> None:
    r = load_recipe(recipe(tmp_path, "mae", "batch_size = 128\nweight_decay = 0.01"))
    t = r.train
    assert (t.optimizer, t.betas, t.base_lr, t.warmup_fraction, t.lr_floor, t.grad_clip) == (
        "adamw", [0.9, 0.95], 1.5e-4, 0.05, 0.0, 0.0)  # fmt: skip
    assert t.weight_decay == 0.01, "the recipe's own keys still override one by one"
    assert t.peak_lr() == pytest.approx(1.5e-4 * 128 / 256)
    assert r.train_origin["betas"].startswith(MAE_PAPER)
    assert r.train_origin["weight_decay"] == "recipe" and "steps" not in r.train_origin


@pytest.mark.parametrize("own", ["lr = 1e-3", 'optimizer = "adam"', "base_lr = 0.1"])
def test_a_recipe_naming_its_optimizer_drops_every_paper_default(tmp_path: Path, own: str) -> None:
    r = load_recipe(recipe(tmp_path, "simclr", own))
    assert r.train.optimizer != "lars" or "optimizer" in own
    assert r.train.weight_decay == 0.05 and r.train.lr_floor == 0.01  # the core's defaults
    assert not any(v.startswith("objective") for v in r.train_origin.values())


def test_lr_and_base_lr_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"train.lr and train.base_lr: set one of them"):
        load_recipe(recipe(tmp_path, "mae", "lr = 1e-3\nbase_lr = 1e-4"))


def test_a_resolved_recipe_reads_back_as_itself(tmp_path: Path) -> None:
    for name in ("mae", "simclr", "cmsc", "hybrid"):
        r = load_recipe(recipe(tmp_path, name))
        again = tmp_path / f"{name}-resolved.toml"
        again.write_text(r.to_toml(origins=True))  # show's output is a valid recipe too
        assert load_recipe(again).to_toml() == r.to_toml(), name


def test_show_comments_every_train_value_with_its_origin(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["show", str(recipe(tmp_path, "mae", "steps = 7"))])
    assert out.exit_code == 0, out.output
    train = out.stdout.split("[train]", 1)[1].split("\n[", 1)[0]
    lines = [line for line in train.splitlines() if " = " in line]
    assert all("  # " in line for line in lines), lines
    assert "steps = 7  # recipe" in train
    assert f"base_lr = 0.00015  # {MAE_PAPER}" in train and "peak lr = " in train
    assert 'schedule = "cosine"  # default' in train
    assert "\nlr = " not in train, "lr is left out when base_lr replaces it"


def test_the_optimizer_is_built_from_the_resolved_settings(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    mae = load_recipe(recipe(tmp_path, "mae", "batch_size = 512")).train
    opt = make_optimizer(model, mae)
    assert type(opt).__name__ == "AdamW" and opt.defaults["betas"] == (0.9, 0.95)
    assert opt.defaults["lr"] == pytest.approx(3e-4)
    decays = sorted(g["weight_decay"] for g in opt.param_groups)
    assert decays == [0.0, 0.05], "no weight decay on biases and norm weights"
    simclr = load_recipe(recipe(tmp_path, "simclr", "batch_size = 256")).train
    lars = make_optimizer(model, simclr)
    assert type(lars).__name__ == "Lars" and lars.defaults["lr"] == pytest.approx(0.3)


def test_a_plugin_with_unknown_train_defaults_is_broken() -> None:
    from pydantic import ValidationError

    from ssl_ecg.plugins import _check_spec

    with pytest.raises(TypeError, match=r"unknown \[train\] keys \['learning_rate'\]"):
        _check_spec(Spec("x", object, train_defaults={"learning_rate": 1.0}))
    with pytest.raises(ValidationError):
        _check_spec(Spec("x", object, train_defaults={"betas": [0.9]}))
