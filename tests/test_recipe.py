"""Recipe validation: every message names the file and the dotted key, and suggests a fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ssl_ecg.errors import RecipeError
from ssl_ecg.recipe import load_recipe, parse_override

REPO = Path(__file__).resolve().parents[1]
HYBRID = REPO / "recipes" / "hybrid.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


BASE = """
[data]
name = "synthetic"
window_s = 2.0
[encoder]
name = "resnet1d"
[objective]
name = "simclr"
temperature = 0.2
"""


def error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(RecipeError) as err:
        load_recipe(path, overrides)
    msg = str(err.value)
    assert "\n" not in msg, "errors are one line"
    assert msg.startswith(f"{path}: "), "errors name the recipe file first"
    return msg


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes").rglob("*.toml")), ids=lambda p: p.name)
def test_shipped_recipes_validate(recipe: Path) -> None:
    assert load_recipe(recipe).objective.name


def test_unknown_key_suggests_the_right_spelling(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("temperature", "temperture"))
    msg = error(path)
    assert "objective.temperture" in msg and "did you mean 'temperature'" in msg


def test_unknown_key_in_data_knows_core_and_plugin_keys(tmp_path: Path) -> None:
    assert "did you mean 'window_s'" in error(write(tmp_path, BASE.replace("window_s", "windows")))
    path = write(tmp_path, BASE.replace("window_s = 2.0", "n_record = 3"))
    assert "data.n_record" in error(path) and "did you mean 'n_records'" in error(path)


def test_nested_component_keys_are_named(tmp_path: Path) -> None:
    msg = error(HYBRID, ["objective.simclr.temperture=0.3"])
    assert "objective.simclr.temperture" in msg and "did you mean 'temperature'" in msg


def test_wrong_type_names_the_expected_type(tmp_path: Path) -> None:
    msg = error(write(tmp_path, BASE.replace("0.2", '"warm"')))
    assert "objective.temperature" in msg and "expected float" in msg and "'warm'" in msg
    msg = error(HYBRID, ["train.steps=1.5"])
    assert "train.steps" in msg and "expected int" in msg


def test_unknown_plugin_lists_choices(tmp_path: Path) -> None:
    msg = error(write(tmp_path, BASE.replace('"resnet1d"', '"resnet"')))
    assert "encoder.name" in msg and "did you mean 'resnet1d'" in msg and "vit1d" in msg


def test_missing_pieces(tmp_path: Path) -> None:
    assert "[objective]" in error(write(tmp_path, BASE.split("[objective]")[0]))
    assert "encoder.name" in error(write(tmp_path, BASE.replace('name = "resnet1d"', "")))
    msg = error(write(tmp_path, BASE + "\n[trian]\nsteps = 3\n"))
    assert "trian" in msg and "did you mean 'train'" in msg
    assert "not valid TOML" in error(write(tmp_path, BASE + "\n[train\n"))
    missing = tmp_path / "nope.toml"
    with pytest.raises(RecipeError, match=r"nope\.toml: recipe file not found"):
        load_recipe(missing)


def test_set_overrides_are_toml_values() -> None:
    r = load_recipe(HYBRID, ["train.steps=7", "encoder.dim=48", "augmentations[3].std=0.2",
                             'data.leads=["II"]', "train.device=cpu"])  # fmt: skip
    assert r.train.steps == 7 and r.encoder.config.dim == 48
    assert r.augmentations[3].config.std == 0.2 and r.preprocess.leads == ["II"]
    assert r.train.device == "cpu"
    assert parse_override("a.b=true") == (["a", "b"], True)
    assert parse_override("augmentations.0.p=0.5") == (["augmentations", "0", "p"], 0.5)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("train.steps", "expected KEY=VALUE"),
        ("=3", "not a dotted key"),
        ("augmentations[9].p=1", "index below"),
        ("train.steps.x=1", "is a value, not a table"),
        ("data.leads=[II", "not a TOML value"),
    ],
)
def test_bad_set_is_explained(item: str, expected: str) -> None:
    msg = error(HYBRID, [item])
    assert expected in msg and item in msg


def test_resolved_recipe_round_trips(tmp_path: Path) -> None:
    r = load_recipe(HYBRID)
    text = r.to_toml()
    resolved = tomllib.loads(text)
    assert resolved["objective"]["simclr"]["temperature"] == 0.1
    assert resolved["train"]["log_every"] == r.train.log_every  # defaults filled in
    assert resolved["encoder"]["mlp_ratio"] == 4.0
    again = load_recipe(write(tmp_path, text))
    assert again.resolved() == r.resolved()


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes" / "mitbih").glob("*.toml")), ids=str)
def test_mitbih_pretraining_recipes_never_see_the_test_patients(recipe: Path) -> None:
    """MIT-BIH only through DS1; SVDB only through its "train" half (the cross-database
    test of mitbih-aami reads the "test" half)."""
    r = load_recipe(recipe)
    allowed = {"mitbih": "DS1", "svdb": "train"}
    assert {s.name for s in r.sources} <= set(allowed) and r.sources[0].name == "mitbih"
    for source in r.sources:
        assert source.preprocess.split == allowed[source.name], source.key


PAPERS = sorted((REPO / "recipes" / "papers").glob("*.toml"))


@pytest.mark.parametrize("recipe", PAPERS, ids=lambda p: p.name)
def test_paper_recipes_build_run_a_batch_and_say_what_they_copy(recipe: Path) -> None:
    """`ssl-ecg validate` on each (every component built, one tiny batch through); the header
    names the paper, what it copies, the published number (or that none is claimed) and the
    full-data command."""
    from ssl_ecg.build import check

    check(load_recipe(recipe))
    header = recipe.read_text().split("\n[", 1)[0]
    assert "Copies:" in header or "OUR assumption" in header
    assert "Published" in header and "ssl-ecg train recipes/papers/" in header
    assert "--set 'data.sources[" in header


def test_there_is_a_paper_recipe_per_published_setup() -> None:
    assert len(PAPERS) >= 5
    names = {load_recipe(p).objective.name for p in PAPERS}
    assert {"simclr", "byol", "cpc", "mae", "cmsc", "cmlc", "hybrid"} <= names


@pytest.mark.parametrize("grid", sorted((REPO / "benchmarks").glob("grid*.toml")), ids=str)
def test_shipped_grids_load(grid: Path) -> None:
    from ssl_ecg.benchmark import load_grid

    settings, _, _ = load_grid(grid)
    assert settings.encoders
