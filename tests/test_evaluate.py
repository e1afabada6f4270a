"""Evaluation: protocols, label fractions, the leakage guard, export == run, the tiny grid.

A small task plugin written here (heart-rate class of synthetic ECGs) keeps these tests free of
downloaded data; the MIT-BIH task is tested with real data in test_tasks.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ssl_ecg.errors import SslEcgError

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "data.n_records=12", "data.duration_s=20.0", "data.seed=5", "data.window_s=2.0",
    "encoder.dim=32", "encoder.depth=1", "encoder.heads=2", "train.batch_size=16",
    "train.steps=4", "train.device=cpu",
]  # fmt: skip

HR_TASK = '''
import numpy as np
from ssl_ecg import Config, Spec, hookimpl
from ssl_ecg.tasks import LabelledWindows, TaskData

class Cfg(Config):
    n_records: int = 12
    seed: int = 5

class HeartRate:
    """slow (< 77.5 bpm) vs fast windows of synthetic ECGs; even records train, odd test."""

    def __init__(self, config, context):
        self.config, self.ctx = config, context

    def load(self):
        store = self.ctx.prepare({"name": "synthetic", "n_records": self.config.n_records,
                                  "duration_s": 20.0, "seed": self.config.seed})
        n = self.ctx.n_samples
        rows = []
        for i, rid in enumerate(store.record_ids):
            fast = int(store.records[i]["labels"]["heart_rate"] > 77.5)
            for k in range(int(store.rec_len[i]) // n):
                rows.append((store.rec_start[i] + k * n, fast, store.patient_ids[i], rid, i % 2))
        start, y, pat, rec, odd = (np.array(c) for c in zip(*rows))
        def part(mask):
            return LabelledWindows(store, start[mask].astype(np.int64), n, y[mask].astype(np.int64),
                                   pat[mask], rec[mask])
        return TaskData(part(odd == 0), part(odd == 1), ["slow", "fast"])

@hookimpl
def register_tasks():
    return [Spec("synthetic-hr", HeartRate, Cfg, "heart-rate class of synthetic ECGs")]
'''


@pytest.fixture
def hr_task(fake_dist: Callable[..., Path]) -> Path:
    return fake_dist("ssl-ecg-hrtask", {"hr_task_plugin": HR_TASK}, {"hrtask": "hr_task_plugin"})


@pytest.fixture
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.train import train

    run_dir = tmp_path_factory.mktemp("run")
    train(load_recipe(REPO / "recipes" / "hybrid.toml", TINY), run_dir, progress=False)
    return run_dir


def _evaluate(model_spec: str, out: Path, **kwargs):
    from ssl_ecg.evaluation import evaluate, load_model, load_task

    recipe = kwargs.pop("recipe", None)
    model = load_model(model_spec, recipe, TINY if recipe else None)
    task = load_task("synthetic-hr", {}, model, 0, out)
    return evaluate(model, "synthetic-hr", task, kwargs.pop("protocol", "linear"),
                    kwargs.pop("fractions", [0.5, 1.0]), out, n_boot=200, **kwargs)  # fmt: skip


def test_random_init_baseline_writes_results(hr_task: Path, tmp_path: Path) -> None:
    summary = _evaluate("random", tmp_path / "out", recipe=REPO / "recipes" / "hybrid.toml")
    for name in ("results.json", "results.md", "confusion.png"):
        assert (tmp_path / "out" / name).is_file()
    r = summary["results"]["embedding"]["1.0"]
    assert (
        0 <= r["macro_f1"] <= 1
        and r["ci"]["macro_f1"][0] <= r["macro_f1"] <= r["ci"]["macro_f1"][1]
    )
    assert summary["results"]["embedding"]["0.5"]["n_train"] < r["n_train"] == summary["n_train"]
    assert summary["leakage"] == {"shared_test_patients": [], "allowed": False}
    assert "| 100 % |" in (tmp_path / "out" / "results.md").read_text()


def test_knn_and_finetune_protocols_run(hr_task: Path, tmp_path: Path) -> None:
    recipe = REPO / "recipes" / "hybrid.toml"
    knn = _evaluate("random", tmp_path / "knn", recipe=recipe, protocol="knn", fractions=[1.0])
    ft = _evaluate("random", tmp_path / "ft", recipe=recipe, protocol="finetune",
                   fractions=[1.0], finetune_steps=5)  # fmt: skip
    assert knn["protocol"] == "knn" and ft["protocol"] == "finetune"
    assert 0 <= ft["results"]["embedding"]["1.0"]["macro_f1"] <= 1


def test_a_task_without_side_features_refuses_them_in_one_line(
    hr_task: Path, tmp_path: Path
) -> None:
    import os

    with pytest.raises(SslEcgError, match="task synthetic-hr computes no side features"):
        _evaluate("random", tmp_path / "a", recipe=REPO / "recipes" / "hybrid.toml",
                  features=["embedding+side"])  # fmt: skip
    path = os.pathsep.join([str(hr_task), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-m", "ssl_ecg.cli", "evaluate", "random", "--recipe",
         str(REPO / "recipes" / "hybrid.toml"), "--task", "synthetic-hr", "--features", "side",
         "--out", str(tmp_path / "b")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --features side: task synthetic-hr computes no side features; "
        "use --features embedding"
    ]
    assert not (tmp_path / "b" / "results.json").exists()  # refused before any result


def test_leakage_guard_fires_and_an_override_is_recorded(
    hr_task: Path, run: Path, tmp_path: Path
) -> None:
    # the run pretrained on the same 12 synthetic patients the task tests on
    with pytest.raises(SslEcgError, match=r"leakage: 6 test patient\(s\).*--allow-leakage"):
        _evaluate(str(run), tmp_path / "a")
    summary = _evaluate(str(run), tmp_path / "b", allow_leakage=True)
    assert summary["leakage"]["allowed"] and len(summary["leakage"]["shared_test_patients"]) == 6
    assert "Leakage allowed" in (tmp_path / "b" / "results.md").read_text()


def test_no_patient_in_both_train_and_test(hr_task: Path, run: Path, tmp_path: Path) -> None:
    from ssl_ecg.evaluation import load_model, load_task

    task = load_task("synthetic-hr", {}, load_model(str(run)), 0, tmp_path)
    assert not set(task.train.patients) & set(task.test.patients)


def test_label_fractions_are_drawn_per_patient_and_class() -> None:
    from ssl_ecg.evaluation import label_fraction
    from ssl_ecg.tasks import LabelledWindows

    pats = np.repeat([f"p{i}" for i in range(5)], 40)
    y = np.tile(np.r_[np.zeros(36, int), np.ones(4, int)], 5)
    w = LabelledWindows(None, np.arange(200), 10, y, pats, pats)  # type: ignore[arg-type]
    idx = label_fraction(w, 0.1, seed=3)
    assert np.array_equal(idx, label_fraction(w, 0.1, seed=3))
    assert not np.array_equal(idx, label_fraction(w, 0.1, seed=4))
    for p in range(5):  # every patient keeps ceil(0.1 * 36) = 4 of class 0 and 1 of class 1
        mine = idx[pats[idx] == f"p{p}"]
        assert (y[mine] == 0).sum() == 4 and (y[mine] == 1).sum() == 1
    assert np.array_equal(label_fraction(w, 1.0, seed=0), np.arange(200))


def test_label_fractions_of_record_scored_tasks_keep_whole_records() -> None:
    from ssl_ecg.evaluation import label_fraction, patient_holdout
    from ssl_ecg.tasks import LabelledWindows

    recs = np.repeat([f"r{i}" for i in range(20)], 7)  # 20 records of 7 windows, 1 per patient
    w = LabelledWindows(None, np.arange(140), 10, np.zeros(140, int), recs, recs)  # type: ignore[arg-type]
    idx = label_fraction(w, 0.1, seed=1, by_record=True)
    assert len(set(recs[idx])) == 2 and idx.size == 14  # 10 % of the records, all their windows
    held = patient_holdout(w, 0.2, seed=1)
    assert len(set(recs[held])) == 4 and not set(recs[held]) & set(recs[~held])


def test_an_export_scores_like_its_run_from_a_fresh_process(
    hr_task: Path, run: Path, tmp_path: Path
) -> None:
    import os

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hr_task), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([sys.executable, "-m", "ssl_ecg.cli", "export", str(run), "-o",
                    str(tmp_path / "exp")], check=True, capture_output=True, env=env)  # fmt: skip
    results = []
    for model in (run, tmp_path / "exp"):
        out = tmp_path / f"eval-{model.name}"
        done = subprocess.run(
            [sys.executable, "-m", "ssl_ecg.cli", "evaluate", str(model), "--task",
             "synthetic-hr", "--label-fraction", "0.5,1", "--allow-leakage", "--out", str(out)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        results.append(json.loads((out / "results.json").read_text())["results"])
    assert results[0] == results[1]


def test_tiny_grid_writes_a_complete_table_with_baselines_deltas_and_resumes(
    tmp_path: Path,
) -> None:
    from ssl_ecg.benchmark import run_grid

    grid = tmp_path / "grid.toml"
    grid.write_text(
        f'[grid]\nrecipe = "{REPO / "recipes" / "hybrid.toml"}"\n'
        f"set = {json.dumps([*TINY, 'data.seed=6'])}\n"  # other patients than the task's
        'encoders = ["vit1d"]\nobjectives = ["mae"]\neval_at_steps = [0, 2]\n'
        'baselines = ["random", "supervised", "handcrafted", "minirocket"]\n'
        "[encoder.vit1d]\ndim = 32\ndepth = 1\nheads = 2\n"
        "[baseline.minirocket]\nn_kernels = 168\n"
        '[eval]\ntask = "labels"\nlabel_fractions = [0.5, 1.0]\nfinetune_steps = 3\n'
        'features = ["embedding", "side", "embedding+side"]\n'
        "n_boot = 50\nidentity_probe = true\n"
        "task_settings = { label = 'hr_band', dataset = { name = 'synthetic', "
        "n_records = 12, duration_s = 20.0, seed = 5 } }\n"
        "[[eval.also]]\nname = 'other'\ntask = 'labels'\nfeatures = ['embedding']\n"
        "task_settings = { label = 'hr_band', dataset = { name = 'synthetic', "
        "n_records = 10, duration_s = 20.0, seed = 8 } }\n"
    )
    out = tmp_path / "bench"
    every = run_grid(grid, out)
    rows = [r for r in every if r["task"] == "main" and r["step"] is None]
    cells = {(r["encoder"], r["method"], r["features"]) for r in rows}
    both = ("embedding", "embedding+side")
    assert cells == {
        *{("-", b, f) for b in ("handcrafted", "minirocket") for f in both},
        ("-", "side features only", "side"),
        *{("vit1d", m, f) for m in ("random", "mae") for f in both},
        ("vit1d", "supervised", "embedding"),
    }
    assert len(rows) == 2 * len(cells) and all(0 <= r["macro_f1"] <= 1 for r in rows)
    assert all("ssl-ecg" in r["plugins"] for r in rows)
    mae = [r for r in rows if r["method"] == "mae"]
    assert all(r["d_macro_f1_vs_random"] is not None for r in mae)
    assert all(r["d_macro_f1_vs_handcrafted"] is not None for r in mae)
    hc = next(r for r in rows if r["method"] == "handcrafted" and r["features"] == both[1])
    for r in mae:  # Δ vs handcrafted reads handcrafted's embedding+side score
        if r["label_fraction"] == hc["label_fraction"]:
            assert r["d_macro_f1_vs_handcrafted"] == pytest.approx(r["macro_f1"] - hc["macro_f1"])
    table = (out / "results.md").read_text()
    assert "Δ macro-F1 vs random" in table and "Δ macro-F1 vs handcrafted" in table
    assert (out / "results.png").stat().st_size > 1000
    # the other task: every cell once more, with its own references
    other = [r for r in every if r["task"] == "other"]
    assert {(r["method"], r["features"]) for r in other if r["method"] == "mae"} == {
        ("mae", "embedding")}  # fmt: skip
    assert all(r["d_macro_f1_vs_random"] is not None for r in other if r["method"] == "mae")
    # identity probe per cell; learning curve from checkpoints of the one run
    assert all(0 <= r["patient_bacc"] <= 1 for r in rows if r["method"] in ("mae", "random"))
    curve = [r for r in every if r["step"] is not None]
    assert {r["step"] for r in curve} == {0, 2} and (out / "learning_curve.png").is_file()
    for r in curve:  # step 0 is the random init of the same seed: the same encoder exactly
        if r["step"] == 0:
            assert r["d_macro_f1_vs_random"] == 0.0 and r["d_macro_f1_vs_random_lo"] == 0.0
    assert "learning curve" in table and "identity probe" in table
    stamp = (out / "cells" / "vit1d-mae" / "eval" / "results.json").stat().st_mtime
    assert run_grid(grid, out) == every  # finished cells are skipped, same table
    assert (out / "cells" / "vit1d-mae" / "eval" / "results.json").stat().st_mtime == stamp
    # the CLI command on the finished grid: every cell is found done, the same table is written
    from typer.testing import CliRunner

    from ssl_ecg.cli import app

    again = CliRunner().invoke(app, ["benchmark", str(grid), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert (out / "results.md").read_text() == table


SYNTHETIC_24 = {"name": "synthetic", "n_records": 24, "duration_s": 20.0, "seed": 3}
HR_BAND = {"label": "hr_band", "dataset": SYNTHETIC_24}


@pytest.mark.parametrize("protocol", ["knn", "linear"])
def test_probes_read_side_features_that_carry_the_label(protocol: str, tmp_path: Path) -> None:
    """Heart-rate band is a threshold on mean RR, one of the labels task's HRV side features:
    every probe must find it there."""
    from ssl_ecg.evaluation import evaluate, load_model, load_task

    model = load_model("random", REPO / "recipes" / "hybrid.toml", TINY)
    task = load_task("labels", HR_BAND, model, 0, tmp_path)
    summary = evaluate(model, "labels", task, protocol, [1.0], tmp_path / "out",
                       features=["side"], n_boot=50, k=5)  # fmt: skip
    side = summary["results"]["side"]["1.0"]
    assert summary["protocol"] == protocol and summary["test_patients"] >= 3
    assert side["macro_f1"] >= 0.85, side
    assert side["macro_auroc"] >= 0.9, side


def test_multilabel_evaluation_scores_each_diagnosis(tmp_path: Path) -> None:
    from conftest import data_root

    from ssl_ecg.evaluation import evaluate, load_model, load_task

    root = data_root() / "cinc2021-12lead-sample"
    if not root.is_dir():
        pytest.skip(f"real data {root} absent (set SSL_ECG_TEST_DATA)")
    model = load_model("random", REPO / "recipes" / "hybrid.toml", TINY)
    task = load_task("cinc2021-dx", {"root": str(root), "min_count": 3}, model, 0, tmp_path)
    assert task.multilabel and task.train.y.ndim == 2
    summary = evaluate(model, "cinc2021-dx", task, "linear", [1.0], tmp_path / "out",
                       n_boot=50)  # fmt: skip
    r = summary["results"]["embedding"]["1.0"]
    assert set(r["per_class"]) == set(task.classes)
    assert 0.0 <= r["accuracy"] <= 1.0 and r["macro_auroc"] is not None
    proba = np.load(tmp_path / "out" / "predictions.npz")
    assert any(v.shape == task.test.y.shape for v in proba.values()), "one column per diagnosis"


def test_grid_skips_cells_whose_components_refuse_each_other(tmp_path: Path) -> None:
    """resnet1d x mae is refused (MAE needs token dropping) and skipped with the reason; the
    resnet1d random-init cell still runs though the base recipe's objective (hybrid, with MAE)
    would refuse it; exclude names cells not to run and a wrong name is refused up front."""
    from ssl_ecg.benchmark import run_grid

    grid = tmp_path / "grid.toml"
    head = (
        f'[grid]\nrecipe = "{REPO / "recipes" / "hybrid.toml"}"\n'
        f"set = {json.dumps([*TINY, 'data.seed=6'])}\n"
        'encoders = ["vit1d", "resnet1d"]\nobjectives = ["mae", "simclr"]\nbaselines = ["random"]\n'
    )
    tail = (
        "[encoder.vit1d]\ndim = 32\ndepth = 1\nheads = 2\n"
        "[encoder.resnet1d]\nwidths = [8, 8]\nblocks = [1, 1]\nstem_width = 8\n"
        "[objective.mae]\ndecoder_dim = 16\ndecoder_depth = 1\ndecoder_heads = 2\n"
        '[eval]\ntask = "labels"\nlabel_fractions = [1.0]\nn_boot = 20\n'
        "task_settings = { label = 'hr_band', dataset = { name = 'synthetic', "
        "n_records = 12, duration_s = 20.0, seed = 5 } }\n"
    )
    grid.write_text(head + 'exclude = ["vit1d x simclr", "resnet1d x simcl"]\n' + tail)
    with pytest.raises(SslEcgError, match=r"grid\.exclude: 'resnet1d x simcl' is no cell"):
        run_grid(grid, tmp_path / "bad")
    grid.write_text(head + 'exclude = ["vit1d x simclr"]\n' + tail)
    out = tmp_path / "bench"
    rows = run_grid(grid, out)
    assert {(r["encoder"], r["method"]) for r in rows} == {
        ("vit1d", "random"),
        ("vit1d", "mae"),
        ("resnet1d", "random"),
        ("resnet1d", "simclr"),
    }
    table = (out / "results.md").read_text()
    assert "not run, the components refuse each other: resnet1d x mae" in table
    assert "use objective 'simmim'" in table
