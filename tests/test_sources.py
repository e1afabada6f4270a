"""Mixed pretraining corpora: several [[data.sources]] read into one weighted set of windows at
the recipe's rate and leads, with patient ids that never collide; lead synonyms and maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_ecg.errors import RecipeError
from ssl_ecg.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]

MIXED = """
[data]
fs = 250
leads = ["II", "I"]
window_s = 2.0
[[data.sources]]                 # lead II only, simulated at 250 Hz
name = "synthetic"
n_records = 4
duration_s = 12.0
seed = 1
weight = 1.0
[[data.sources]]                 # I, II, III simulated at 500 Hz: the same patient ids!
name = "synthetic"
n_records = 6
duration_s = 12.0
n_leads = 3
source_fs = 500.0
seed = 1
weight = 3.0
[encoder]
name = "vit1d"
dim = 32
depth = 1
heads = 2
[objective]
name = "simclr"
[train]
steps = 3
batch_size = 8
device = "cpu"
"""


def _recipe(tmp_path: Path, text: str = MIXED, sets: list[str] | None = None):
    path = tmp_path / "mixed.toml"
    path.write_text(text)
    return load_recipe(path, sets)


def test_two_sources_give_windows_at_the_recipe_rate_with_their_lead_masks(tmp_path: Path) -> None:
    from ssl_ecg.sources import prepare_all
    from ssl_ecg.train import training_windows

    recipe = _recipe(tmp_path)
    assert [s.weight for s in recipe.sources] == [1.0, 3.0]
    prepared = prepare_all(recipe, workers=1)
    assert [p.store.fs for p in prepared] == [250.0, 250.0]
    windows = training_windows(recipe, prepared, n_segments=1)
    sizes = [len(p) for p in windows.parts]
    assert sizes == [4 * 6, 6 * 6]  # 12 s records, 2 s windows
    wb = windows.read(np.arange(len(windows)))
    assert wb.signal.shape == (60, 2, 500)
    first = slice(0, sizes[0])
    assert wb.lead_mask[first].tolist() == [[True, False]] * sizes[0]  # I masked, never invented
    assert not wb.signal[first, 1].any()
    assert wb.lead_mask[sizes[0] :].all()
    names = windows.patient_names
    assert len(names) == len(set(names)) == 10  # same ids in both datasets, namespaced apart
    assert all(n.startswith(("synthetic#0:", "synthetic#1:")) for n in names)
    assert len(set(wb.patient[first]) & set(wb.patient[sizes[0] :])) == 0


def test_sources_are_sampled_in_proportion_to_their_weights_seeded(tmp_path: Path) -> None:
    from ssl_ecg.sources import prepare_all
    from ssl_ecg.train import training_windows

    recipe = _recipe(tmp_path)
    windows = training_windows(recipe, prepare_all(recipe, workers=1), n_segments=1)
    orders = [windows.order(torch.Generator().manual_seed(s)) for s in (0, 0, 1)]
    assert torch.equal(orders[0], orders[1]) and not torch.equal(orders[0], orders[2])
    draws = torch.cat([windows.order(torch.Generator().manual_seed(s)) for s in range(300)])
    share = (draws >= len(windows.parts[0])).float().mean().item()
    assert abs(share - 0.75) < 0.02  # weight 3 of 4, though its 36 windows are 60 % of 60


def test_mixed_recipe_trains_and_records_every_source(tmp_path: Path) -> None:
    import json

    from ssl_ecg.train import train

    recipe = _recipe(tmp_path)
    train(recipe, tmp_path / "run", progress=False)
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert [s["name"] for s in data["sources"]] == ["synthetic#0", "synthetic#1"]
    assert len(data["sources"][1]["records"]) == 6 and len(data["patients"]) == 10
    assert data["contract"]["datasets"] == ["synthetic", "synthetic"]
    again = load_recipe(tmp_path / "run" / "recipe.toml")  # the resolved recipe reloads
    assert again.to_toml() == recipe.to_toml()


def test_n_segments_are_adjacent_non_overlapping_windows_of_one_record(tmp_path: Path) -> None:
    from ssl_ecg.sources import prepare_all
    from ssl_ecg.train import training_windows

    recipe = _recipe(tmp_path, sets=["data.stride_s=1.0"])
    prepared = prepare_all(recipe, workers=1)
    windows = training_windows(recipe, prepared, n_segments=3)
    part = windows.parts[1]
    assert len(part) == 6 * (1 + (3000 - 1500) // 250)  # room for 3 windows of 2 s in 12 s
    wb = windows.read(np.arange(len(windows)))
    assert wb.segments is not None and wb.segments.shape == (3, len(windows), 2, 500)
    assert np.array_equal(wb.segments[0], wb.signal)
    store = prepared[1].store
    i = len(windows.parts[0]) + 7  # a window of the second source
    start = part.start[7]
    for s in range(3):
        expected = store.read_signals(np.array([start + s * 500]), 500)[0]
        assert np.array_equal(wb.segments[s, i], expected)
    rec = np.searchsorted(store.rec_start, part.start, side="right") - 1
    assert (part.start + 3 * 500 <= store.rec_start[rec] + store.rec_len[rec]).all()


def test_bad_source_tables_name_their_key(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"data.sources\[1\].wieght: unknown key; did you mean"):
        _recipe(tmp_path, MIXED.replace("weight = 3.0", "wieght = 3.0"))
    with pytest.raises(RecipeError, match=r"data.sources\[0\].weight: .*greater than 0"):
        _recipe(tmp_path, MIXED.replace("weight = 1.0", "weight = 0.0"))
    with pytest.raises(RecipeError, match=r"data.leads: a recipe with several sources must name"):
        _recipe(tmp_path, MIXED.replace('leads = ["II", "I"]', ""))
    with pytest.raises(RecipeError, match=r"data.name: with \[\[data.sources\]\]"):
        _recipe(tmp_path, MIXED.replace("fs = 250\n", 'fs = 250\nname = "synthetic"\n', 1))


def test_lead_synonyms_and_lead_map() -> None:
    from ssl_ecg.data.preprocess import canonical_lead, select_leads
    from ssl_ecg.data.record import Record

    assert [canonical_lead(n) for n in ("MLII", "ml2", "lead II", "V1", "aVR")] == [
        "II", "II", "II", "V1", "AVR"]  # fmt: skip
    sig = np.arange(6, dtype=np.float32).reshape(2, 3)
    rec = Record(sig, 360.0, ["MLII", "V1"], "r", "p", source="r.hea")
    out, present = select_leads(rec, ["II", "V1", "I"], "mask")
    assert present.tolist() == [True, True, False] and out[0].tolist() == [0, 1, 2]
    svdb = Record(sig, 128.0, ["ECG1", "ECG2"], "r", "p", source="800.hea")
    out, present = select_leads(svdb, ["MLII"], "mask", {"ECG1": "MLII"})
    assert present.tolist() == [True] and out[0].tolist() == [0, 1, 2]
    from ssl_ecg.errors import DataError

    with pytest.raises(DataError, match=r"800.hea: has none of .*lead_map"):
        select_leads(svdb, ["MLII"], "mask")
