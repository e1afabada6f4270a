"""Loggers (``[[loggers]]``): a tiny run, interrupted and resumed, then evaluated, is read back
with TensorBoard's and MLflow's own readers; bad logger tables name their key; a failing logger
never stops a run; only rank 0 logs."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import TINY_DATA_AND_ENCODER

from ssl_ecg.errors import RecipeError
from ssl_ecg.recipe import load_recipe
from ssl_ecg.train import _Run, train

HEAD = (
    TINY_DATA_AND_ENCODER
    + """[objective]
name = "hybrid"
[train]
steps = 6
batch_size = 8
log_every = 1
checkpoint_every = 3
device = "cpu"
"""
)
LOGGERS = '[[loggers]]\nname = "tensorboard"\n[[loggers]]\nname = "mlflow"\n'
FIELDS = ("loss", "mae", "simclr", "lr", "samples_per_s")  # metrics.jsonl's, hybrid's parts


def _recipe(folder: Path, text: str) -> Path:
    path = folder / "recipe.toml"
    path.write_text(text)
    return path


class _Killed(Exception):
    """The process dies (as a pre-empted job would)."""


@pytest.fixture(scope="module")
def run() -> Iterator[Path]:
    """Six steps with both loggers, killed at step 5 (after its checkpoint at 3 and its log
    of step 4), resumed to the end, then scored by ``evaluate`` on a labels task."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        folder = Path(tmp)
        recipe = load_recipe(_recipe(folder, HEAD + LOGGERS))
        original = _Run.step

        def killed_at_5(self: _Run, step: int) -> Any:
            if step == 5:
                raise _Killed
            return original(self, step)

        mp.setattr(_Run, "step", killed_at_5)
        with pytest.raises(_Killed):
            train(recipe, folder / "run", progress=False)
        mp.undo()
        train(recipe, folder / "run", progress=False, resume=True)
        _evaluate(folder / "run", folder / "eval")
        yield folder / "run"


def _evaluate(run_dir: Path, out: Path) -> dict[str, Any]:
    from ssl_ecg.evaluation import evaluate, load_model, load_task

    model = load_model(str(run_dir))
    assert model.run_dir == run_dir and model.step == 6
    settings = {"dataset": {"name": "synthetic", "n_records": 12, "duration_s": 10.0},
                "label": "hr_band"}  # fmt: skip
    task = load_task("labels", settings, model, 0, out)
    return evaluate(model, "labels", task, "linear", [1.0], out, n_boot=20, allow_leakage=True)


def _rows(run_dir: Path) -> list[dict[str, float]]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _scores(run_dir: Path) -> dict[str, float]:
    summary = json.loads((run_dir.parent / "eval" / "results.json").read_text())
    return summary["results"]["embedding"]["1.0"]


def test_tensorboard_holds_the_loss_curve_once_per_step_params_and_scores(run: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    rows = _rows(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    for field in FIELDS:
        logged = [(e.step, e.value) for e in events.Scalars(f"train/{field}")]
        # the killed attempt's step 4 is superseded by the resumed run's (purge_step)
        assert logged == [(r["step"], pytest.approx(r[field], rel=1e-6)) for r in rows], field
    scores = _scores(run)
    for name in ("macro_f1", "macro_auroc", "accuracy"):
        (score,) = events.Scalars(f"eval/labels/linear/embedding/1.0/{name}")
        assert (score.step, score.value) == (6, pytest.approx(scores[name], rel=1e-6)), name
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    params = HParamsPluginData.FromString(content).session_start_info.hparams
    assert params["train.steps"].number_value == 6
    assert params["objective.name"].string_value == "hybrid"
    assert params["contract.fs"].number_value == 100.0
    assert params["loggers.0.name"].string_value == "tensorboard"


def test_mlflow_holds_the_loss_history_params_and_scores(run: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run / "mlruns").resolve().as_uri())
    run_id = json.loads((run / "mlflow.json").read_text())["mlruns"]
    rows = _rows(run)
    for field in FIELDS:
        history = client.get_metric_history(run_id, f"train/{field}")
        latest = {m.step: m.value for m in sorted(history, key=lambda m: m.timestamp)}
        assert sorted(latest) == [1, 2, 3, 4, 5, 6]  # one MLflow run across the resume
        assert [latest[r["step"]] for r in rows] == pytest.approx([r[field] for r in rows])
    (score,) = client.get_metric_history(run_id, "eval/labels/linear/embedding/1.0/macro_f1")
    assert score.step == 6 and score.value == pytest.approx(_scores(run)["macro_f1"])
    found = client.get_run(run_id)
    assert found.info.run_name == "run" and found.info.status == "FINISHED"
    params = found.data.params
    assert params["train.steps"] == "6" and params["encoder.name"] == "vit1d"
    assert isinstance(json.loads(params["contract.leads"]), list)  # a list: its JSON text
    assert params["augmentations"] == "[]"  # a list of values is one parameter


def test_metrics_file_and_plot_are_written_with_loggers_and_without(run: Path) -> None:
    assert (run / "loss.png").is_file() and len(_rows(run)) == 6
    plain = load_recipe(_recipe(run.parent, HEAD))
    assert not plain.loggers and "loggers" not in plain.resolved()
    assert "[[loggers]]" not in plain.to_toml()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[[loggers]]\nname = "tensorbord"\n',
         "loggers[0].name: unknown logger 'tensorbord'; did you mean 'tensorboard'?"),
        ('[[loggers]]\nname = "tensorboard"\nlog_dri = "tb"\n',
         "loggers[0].log_dri: unknown key; did you mean 'log_dir'?"),
        ('[[loggers]]\nname = "mlflow"\nexperiment = 3\n',
         "loggers[0].experiment: Input should be a valid string"),
        ('[[loggers]]\nname = "tensorboard"\n[[loggers]]\nlog_dir = "x"\n',
         "loggers[1].name: missing; name a logger plugin: mlflow, tensorboard"),
        ('[loggers]\nname = "tensorboard"\n', "write each logger as an [[loggers]] table"),
        ('[[logger]]\nname = "tensorboard"\n', "logger: unknown table; did you mean 'loggers'?"),
    ],
    ids=["unknown-name", "bad-key", "bad-value", "no-name", "not-an-array", "table-name"],
)  # fmt: skip
def test_a_bad_logger_table_names_its_key(tmp_path: Path, table: str, message: str) -> None:
    path = _recipe(tmp_path, HEAD + table)
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_a_logger_whose_library_is_missing_names_the_pip_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else find(name, *a))  # fmt: skip
    with pytest.raises(RecipeError) as caught:
        load_recipe(_recipe(tmp_path, HEAD + LOGGERS))
    assert "loggers[1]: logger 'mlflow' needs the Python package 'mlflow-skinny', which is not " \
        "installed: pip install mlflow-skinny" in str(caught.value)  # fmt: skip


class _Broken:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.calls.append(step)
        raise OSError("disk full")

    def close(self) -> None:
        pass


def test_a_failing_logger_is_dropped_with_a_warning_and_the_others_go_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ssl_ecg.loggers import RunLoggers

    broken, seen = _Broken(), []
    good = SimpleNamespace(log_metrics=lambda m, s: seen.append(s), close=lambda: None)
    loggers = RunLoggers([("loggers[0] (logger 'x')", broken), ("loggers[1]", good)])  # type: ignore[list-item]
    loggers.log_metrics({"train/loss": 1.0}, 1)
    loggers.log_metrics({"train/loss": 0.5}, 2)
    loggers.close()
    assert broken.calls == [1] and seen == [1, 2]
    err = capsys.readouterr().err
    assert "warning: loggers[0] (logger 'x'): log_metrics failed (OSError: disk full)" in err


def test_only_rank_0_opens_loggers(tmp_path: Path) -> None:
    from ssl_ecg.distributed import Dist

    other = SimpleNamespace(d=Dist(rank=1, world=2), run_dir=tmp_path)
    _Run.open_outputs(other, fresh=True)  # type: ignore[arg-type]
    assert not hasattr(other, "loggers") and not list(tmp_path.iterdir())


def test_evaluation_metrics_are_the_numeric_scores_per_features_and_fraction() -> None:
    from ssl_ecg.loggers import evaluation_metrics

    report = {"macro_f1": 0.5, "macro_auroc": None, "accuracy": 1, "n_train": 40, "ci": {}}
    summary = {"task": "t", "protocol": "knn", "results": {"embedding+side": {"0.1": report}}}
    base = "eval/t/knn/embedding+side/0.1"
    assert evaluation_metrics(summary) == {f"{base}/macro_f1": 0.5, f"{base}/accuracy": 1.0}


def test_flatten_gives_dotted_keys() -> None:
    from ssl_ecg.loggers import flatten

    tree = {"train": {"lr": 1e-3, "betas": [0.9, 0.95], "base_lr": None},
            "augmentations": [{"name": "a", "p": 0.5}], "parts": {"mae": {"w": 1}}}  # fmt: skip
    assert flatten(tree) == {"train.lr": 1e-3, "train.betas": "[0.9, 0.95]",
                             "augmentations.0.name": "a", "augmentations.0.p": 0.5,
                             "parts.mae.w": 1}  # fmt: skip
