"""One's own labels files as a new user writes them: cells quoted over several lines (several
labels), merge patterns, a labels file given in a recipe's [data], in `--set dataset=` or as
`evaluate --data`, and `data info` on a CSV with many columns. Real files in tmp_path; the
assertions are on the labels parsed and the outputs written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from ssl_ecg.cli import app
from ssl_ecg.data.labels import LabelTable
from ssl_ecg.errors import DataError
from ssl_ecg.evaluation import load_model, load_task, task_config
from ssl_ecg.recipe import data_recipe
from ssl_ecg.registry import get_registry
from ssl_ecg.sources import prepare
from ssl_ecg.tasks import TaskContext, TaskData

HERE = Path(__file__).resolve().parent
MINIMAL = HERE / "bad_inputs" / "recipes" / "ok_minimal.toml"  # random encoder: 250 Hz, II, 2 s
runner = CliRunner()

LAH, LVH = "Left atrial hypertrophy", "Left ventricular hypertrophy"
# record 1: two labels in one cell; record 5: the same label twice (counts once)
DX = [
    "Sinus rhythm", f"{LAH}\n{LVH}", "Atrial fibrillation", "sinus bradycardia",
    "atrial fibrillation", "Atrial flutter\nAtrial flutter", "Sinus rhythm", LVH,
    "Atrial fibrillation", "Sinus rhythm",
]  # fmt: skip


def write_labels(folder: Path, dx: list[str] = DX, name: str = "labels.csv") -> Path:
    """A CSV (CRLF line ends, as a spreadsheet writes) of id, dx, age, site: multi-line
    cells quoted."""
    rows = ["id,dx,age,site"]
    for i, d in enumerate(dx):
        rows.append(f'r{i},"{d}",{40 + 3 * i},site{i % 3}')
    path = folder / name
    path.write_bytes("\r\n".join(rows).encode() + b"\r\n")
    return path


def numpy_records(folder: Path) -> dict[str, Any]:
    """Ten 10-s one-lead records r0..r9 at 250 Hz, two per patient."""
    rng = np.random.default_rng(0)
    t = np.arange(2500) / 250.0
    x = np.stack([np.sin(2 * np.pi * (1 + 0.1 * i) * t) + 0.05 * rng.normal(size=t.size)
                  for i in range(10)])[:, None, :].astype(np.float32)  # fmt: skip
    np.save(folder / "ecg.npy", x)
    sidecar = {"fs": 250.0, "leads": ["II"], "record_ids": [f"r{i}" for i in range(10)],
               "patient_ids": [f"p{i // 2}" for i in range(10)]}  # fmt: skip
    (folder / "ecg.json").write_text(json.dumps(sidecar))
    return {"name": "numpy", "path": "ecg.npy"}


def load(settings: dict[str, Any], folder: Path) -> TaskData:
    """The labels task as the evaluation builds it, its data prepared by the core."""

    def prep(table: dict[str, Any]):
        doc = {**table, "fs": 250.0, "leads": ["II"]}
        return prepare(data_recipe(doc, folder / "r.toml")).store

    spec = get_registry().get("task", "labels")
    ctx = TaskContext(250.0, ["II"], 500, 0, folder, prep)
    return spec.factory(task_config(spec, settings), ctx).load()


def record_labels(task: TaskData) -> dict[str, set[str]]:
    """Record -> the classes its windows carry (multi-hot or single)."""
    out: dict[str, set[str]] = {}
    for part in (task.train, task.test):
        for rec, y in zip(part.records, part.y, strict=True):
            names = ({task.classes[k] for k in np.flatnonzero(y)} if task.multilabel
                     else {task.classes[int(y)]})  # fmt: skip
            out.setdefault(str(rec), set()).update(names)
    return out


# ------------------------------------------------------------------ 1. several labels a cell
def test_a_cell_over_several_lines_is_a_list_of_its_labels(tmp_path: Path) -> None:
    table = LabelTable(write_labels(tmp_path), {f"r{i}" for i in range(10)})
    assert table.columns == ["dx", "age", "site"]
    assert table.rows["r1"] == {
        "dx": [LAH, LVH],
        "age": 43,
        "site": "site1",
    }  # not 'hypertrophyLeft'
    assert table.rows["r5"]["dx"] == "Atrial flutter"  # a repeat counts once
    assert table.rows["r0"]["dx"] == "Sinus rhythm"
    assert [table.lines[f"r{i}"] for i in (0, 1, 2, 5, 6)] == [2, 3, 5, 8, 10]  # file lines
    (tmp_path / "head.tsv").write_text('id\t"Diagnosis\n(free text)"\nr0\tN\n')
    assert LabelTable(tmp_path / "head.tsv", {"r0"}).columns == ["Diagnosis (free text)"]


def test_a_quote_that_never_closes_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('id,dx\nr0,N\nr1,"AF\nr2,N\n')
    with pytest.raises(DataError, match=r"bad\.csv: line 3: a quote \(\"\) opens a cell"):
        LabelTable(bad, {"r0", "r1", "r2"})


def test_a_single_label_task_refuses_several_labels_naming_file_line_and_column(
    tmp_path: Path,
) -> None:
    dataset = {**numpy_records(tmp_path), "labels_file": str(write_labels(tmp_path))}
    with pytest.raises(DataError) as err:
        load({"dataset": dataset, "label": "dx"}, tmp_path)
    text = str(err.value)
    assert f"{tmp_path / 'labels.csv'}: line 3 (record r1), column 'dx' holds 2 labels" in text
    assert f"({LAH}; {LVH})" in text and "--set multilabel=true" in text and "merge" in text
    assert "more record" not in text  # r5's repeat is one label


def test_multilabel_scores_each_label_of_a_cell(tmp_path: Path) -> None:
    dataset = {**numpy_records(tmp_path), "labels_file": str(write_labels(tmp_path))}
    task = load({"dataset": dataset, "label": "dx", "multilabel": True,
                 "split_fractions": [0.6, 0.0, 0.4]}, tmp_path)  # fmt: skip
    assert task.multilabel and task.train.y.dtype == np.float32
    assert task.classes == sorted(
        {
            LAH,
            LVH,
            "Sinus rhythm",
            "Atrial fibrillation",
            "atrial fibrillation",
            "sinus bradycardia",
            "Atrial flutter",
        }
    )
    assert task.train.y.shape[1] == len(task.classes)
    labels = record_labels(task)
    assert (
        labels["r1"] == {LAH, LVH} and labels["r7"] == {LVH} and labels["r5"] == {"Atrial flutter"}
    )
    assert "multi-label" in task.description
    only = load({"dataset": dataset, "label": "dx", "multilabel": True, "classes": [LAH, LVH],
                 "split_fractions": [0.6, 0.0, 0.4]}, tmp_path)  # fmt: skip
    kept = record_labels(only)
    assert only.classes == [LAH, LVH] and kept["r1"] == {LAH, LVH}
    assert kept["r0"] == set()  # no kept label: a negative for both, not left out


def test_merge_patterns_fold_free_text_and_a_cell_into_one_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = {**numpy_records(tmp_path), "labels_file": str(write_labels(tmp_path))}
    merge = {"Atrial fib*": "AF", "sinus*": "sinus", "*HYPERTROPHY": "hypertrophy",
             "Atrial flutter": "flutter", "Atrail*": "typo"}  # fmt: skip
    task = load({"dataset": dataset, "label": "dx", "merge": merge,
                 "split_fractions": [0.6, 0.0, 0.4]}, tmp_path)  # fmt: skip
    assert task.classes == ["AF", "flutter", "hypertrophy", "sinus"] and not task.multilabel
    labels = record_labels(task)
    assert labels["r1"] == {"hypertrophy"}  # both labels of the cell merge: one class, allowed
    assert labels["r4"] == {"AF"} and labels["r3"] == {"sinus"}  # case ignored
    warning = "merge key 'Atrail*' matches no value of label 'dx'"
    assert warning in capsys.readouterr().err and warning in task.description


def test_merge_keys_exact_names_win_and_two_patterns_are_an_error() -> None:
    from ssl_ecg_plugins.tasks.labels import merge_classes

    mapping, unused = merge_classes(["e", "E", "N"], {"e": "N", "x*": "X"}, "t")
    assert mapping == {"e": "N"} and unused == ["x*"]  # 'e' names only 'e', not 'E'
    mapping, _ = merge_classes(["Atrial fibrillation", "AFIB"], {"a*": "AF"}, "t")
    assert mapping == {"Atrial fibrillation": "AF", "AFIB": "AF"}
    mapping, _ = merge_classes(["AF"], {"AF": "x", "A*": "y"}, "t")
    assert mapping == {"AF": "x"}  # an exact name wins over a pattern
    with pytest.raises(DataError, match=r"label 'AFIB' matches merge keys 'a\*' and '\*fib'"):
        merge_classes(["AFIB"], {"a*": "AF", "*fib": "AF2"}, "t")


# ------------------------------------------------------------------ 2. the same keys everywhere
def test_labels_file_works_alike_in_data_in_dataset_and_as_a_data_key(tmp_path: Path) -> None:
    (tmp_path / "own").mkdir()
    table = numpy_records(tmp_path / "own")
    write_labels(tmp_path / "own", name="dx.csv")
    recipe = tmp_path / "own" / "af.toml"  # relative paths: from the recipe's folder
    recipe.write_text('[data]\nname = "numpy"\npath = "ecg.npy"\nlabels_file = "dx.csv"\n'
                      "window_s = 10.0\n")  # fmt: skip
    model = load_model("random", MINIMAL)
    settings = {"label": "dx", "multilabel": True, "split_fractions": [0.6, 0.0, 0.4]}
    absolute = {**table, "path": str(tmp_path / "own" / "ecg.npy")}
    file = str(tmp_path / "own" / "dx.csv")
    ways = [
        load_task("labels", settings, model, 0, tmp_path, data_file=recipe),
        load_task("labels", {**settings, "dataset": {**absolute, "labels_file": file}}, model,
                  0, tmp_path),
        load_task("labels", {**settings, "dataset": absolute}, model, 0, tmp_path,
                  data={"labels_file": file}),
    ]  # fmt: skip
    first = record_labels(ways[0])
    assert first["r1"] == {LAH, LVH} and len(first) == 10
    for task in ways[1:]:
        assert task.classes == ways[0].classes and record_labels(task) == first
    assert ways[0].train.length == 500  # the model's 2 s window, not the recipe's 10 s


def test_evaluate_data_reuses_a_recipe_and_refuses_a_second_dataset(tmp_path: Path) -> None:
    numpy_records(tmp_path)
    write_labels(tmp_path)
    (tmp_path / "af.toml").write_text(
        '[data]\nname = "numpy"\npath = "ecg.npy"\nlabels_file = "labels.csv"\n'
    )
    args = ["evaluate", "random", "--recipe", str(MINIMAL), "--task", "labels", "--data",
            str(tmp_path / "af.toml"), "--set", "label=dx", "--set", "multilabel=true"]  # fmt: skip
    out = tmp_path / "res"
    done = runner.invoke(app, [*args, "--out", str(out)])
    assert done.exit_code == 0, done.output
    result = json.loads((out / "results.json").read_text())
    assert result["task_description"].startswith("record label 'dx', train -> test; multi-label")
    assert result["test_records"] == 2  # one of the five patients
    both = runner.invoke(app, [*args, "--set", "dataset.path=x.npy", "--out", str(out / "b")])
    assert both.exit_code == 2
    want = f"--data {tmp_path / 'af.toml'} and --set dataset...: give the task's dataset one way"
    assert want in both.stderr


# ------------------------------------------------------------------ 4. data info, many columns
def test_data_info_counts_the_label_column_and_summarises_the_others(tmp_path: Path) -> None:
    numpy_records(tmp_path)
    rows = ["id,dx,patient_note,age," + ",".join(f"extra{j}" for j in range(20))]
    for i, d in enumerate(DX):
        rows.append(f'r{i},"{d}",note {i},{40 + i},' + ",".join(f"v{i}{j}" for j in range(20)))
    (tmp_path / "wide.csv").write_text("\n".join(rows) + "\n")
    recipe = tmp_path / "wide.toml"
    recipe.write_text('[data]\nname = "numpy"\npath = "ecg.npy"\nlabels_file = "wide.csv"\n')
    assert runner.invoke(app, ["data", "prepare", str(recipe)]).exit_code == 0
    info = json.loads(runner.invoke(app, ["data", "info", str(recipe), "--json"]).stdout)
    label = info["label"]
    assert label["name"] == "dx" and label["chosen_by"] == "first column of wide.csv"
    assert label["values"]["Sinus rhythm"]["all"] == 3 and label["values"][LAH]["all"] == 1
    assert label["values"]["Atrial flutter"]["all"] == 1  # 'Atrial flutter' twice in one cell
    assert sum(v["all"] for v in label["values"].values()) == 11  # r1 counts for both labels
    assert set(label["values"]["Sinus rhythm"]) == {*info["splits"], "all"}
    others = {o["name"]: o for o in info["other_labels"]}
    assert list(others)[:2] == ["patient_note", "age"] and len(others) == 22
    assert others["age"]["distinct"] == 10 and others["age"]["records"] == 10
    assert len(others["extra3"]["examples"]) == 3
    text = runner.invoke(app, ["data", "info", str(recipe)], terminal_width=200)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert any("label 'dx' (first column of wide.csv" in line for line in lines)
    assert any(LVH in line and "│" in line for line in lines)  # a row of the counts table
    assert sum("extra" in line for line in lines) == 20  # one line per other column
    assert not any("v35" in line for line in lines)  # not every value of every column
    by_age = json.loads(runner.invoke(app, ["data", "info", str(recipe), "--json",
                                            "--label", "age"]).stdout)  # fmt: skip
    assert by_age["label"]["values"]["40"]["all"] == 1 and "dx" in {
        o["name"] for o in by_age["other_labels"]
    }
    wrong = runner.invoke(app, ["data", "info", str(recipe), "--label", "dz"])
    assert wrong.exit_code == 2 and "--label 'dz': no record has this label" in wrong.stderr


def test_embeddings_keep_several_labels_as_readable_text() -> None:
    from ssl_ecg.embed import _label_columns

    cols = _label_columns([{"dx": [LAH, LVH], "age": 40}, {"dx": "N"}, {"age": 41}])
    assert cols["dx"].tolist() == [f"{LAH}; {LVH}", "N", ""]
    assert np.isnan(cols["age"][1]) and cols["age"][0] == 40
