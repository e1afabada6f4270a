"""A run's loggers: the recipe's ``[[loggers]]``, built on rank 0 only, given the run's
parameters (the resolved recipe and data contract, flattened), every logged row of training
and the scores of evaluations of the run.

``metrics.jsonl`` and ``loss.png`` are written whatever the loggers; a logger only adds a
destination. Names: ``train/<field>`` for the fields of ``metrics.jsonl`` (``loss``, each
objective part, ``lr``, ``samples_per_s``) at their step, and
``eval/<task>/<protocol>/<features>/<fraction>/<score>`` at the step of the evaluated weights.
"""

from __future__ import annotations

import json
import math
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ssl_ecg.errors import RecipeError, SslEcgError, one_line
from ssl_ecg.interfaces import Logger, LoggerContext
from ssl_ecg.recipe import Component, logger_components

Param = str | int | float | bool
# the scores of an evaluation report that are logged (those that are numbers)
SCORES = ("macro_f1", "macro_auroc", "accuracy", "macro_sensitivity", "macro_ppv")


def flatten(tree: Any, prefix: str = "") -> dict[str, Param]:
    """Nested tables as dotted keys: ``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 0.001}``;
    a list of tables is numbered (``augmentations.0.name``), a list of values becomes its
    JSON text (``'["II", "V1"]'``); ``None`` is left out."""
    if isinstance(tree, dict) or (
        isinstance(tree, list) and tree and all(isinstance(v, dict) for v in tree)
    ):
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        out: dict[str, Param] = {}
        for key, value in items:
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if tree is None:
        return {}
    if isinstance(tree, str | int | float | bool):
        return {prefix: tree}
    return {prefix: json.dumps(tree, default=str)}


def run_params(recipe: dict[str, Any], contract: dict[str, Any]) -> dict[str, Param]:
    """A run's parameters: the resolved recipe (``train.lr``) and its data contract
    (``contract.fs``), flattened."""
    return {**flatten(recipe), **flatten(contract, "contract")}


def train_metrics(row: dict[str, float]) -> dict[str, float]:
    """A row of ``metrics.jsonl`` as logger metrics: every field but ``step``, as
    ``train/<field>``."""
    return {f"train/{k}": float(v) for k, v in row.items() if k != "step"}


def evaluation_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The scores of an evaluation summary (``results.json``): per features setting and label
    fraction, each of :data:`SCORES` that is a finite number."""
    base = f"eval/{summary['task']}/{summary['protocol']}"
    out: dict[str, float] = {}
    for feature, by_fraction in summary["results"].items():
        for fraction, report in by_fraction.items():
            for score in SCORES:
                value = report.get(score)
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if number and math.isfinite(value):
                    out[f"{base}/{feature}/{fraction}/{score}"] = float(value)
    return out


class RunLoggers:
    """Several loggers as one. A logger that fails while logging is reported once on stderr
    and dropped, and the run goes on (``metrics.jsonl`` holds every row whatever happens)."""

    def __init__(self, loggers: list[tuple[str, Logger]] | None = None) -> None:
        self.loggers = list(loggers or [])  # (recipe key and name, logger)

    def __bool__(self) -> bool:
        return bool(self.loggers)

    def log_params(self, params: dict[str, Param]) -> None:
        self._each("log_params", lambda lg: lg.log_params(dict(params)))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if metrics:
            self._each("log_metrics", lambda lg: lg.log_metrics(dict(metrics), step))

    def close(self) -> None:
        self._each("close", lambda lg: lg.close())

    def _each(self, what: str, call: Callable[[Logger], None]) -> None:
        for item in list(self.loggers):
            label, logger = item
            try:
                call(logger)
            except Exception as exc:  # a logger never stops a run
                self.loggers.remove(item)
                print(f"warning: {label}: {what} failed ({one_line(exc)}); nothing more is "
                      "logged to it", file=sys.stderr, flush=True)  # fmt: skip


def open_loggers(
    components: tuple[Component, ...], context: LoggerContext, where: Path
) -> RunLoggers:
    """Build each logger of a recipe (``where``: its file, for errors); a logger that cannot
    start is a :class:`RecipeError` naming its key (the ones already open are closed)."""
    opened: list[tuple[str, Logger]] = []
    try:
        for comp in components:
            opened.append((f"{comp.key} ({comp.spec.kind} '{comp.name}')", _build(comp, context)))
    except SslEcgError as exc:
        RunLoggers(opened).close()
        raise RecipeError(f"{where}: {exc}") from None
    return RunLoggers(opened)


def _build(comp: Component, context: LoggerContext) -> Logger:
    who = f"{comp.key} ({comp.spec.kind} '{comp.name}')"
    try:
        return comp.spec.factory(comp.config, context)
    except SslEcgError as exc:
        raise RecipeError(f"{who}: {exc}") from None
    except (ImportError, OSError, ValueError, TypeError) as exc:
        raise RecipeError(f"{who}: cannot start: {one_line(exc)}") from None


def open_run_loggers(run_dir: Path, step: int) -> RunLoggers:
    """The loggers of a run, as its ``recipe.toml`` names them (none when it names none),
    opened to add values at ``step`` (mode ``append``)."""
    path = run_dir / "recipe.toml"
    if not path.is_file():
        return RunLoggers()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8")).get("loggers", [])
        components = logger_components(raw)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: not a readable recipe ({one_line(exc)})") from None
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
    return open_loggers(components, LoggerContext(run_dir, "append", step), path)


def log_evaluation(run_dir: Path, step: int, summary: dict[str, Any]) -> None:
    """Log an evaluation's scores to the loggers of the run that was evaluated, at the step of
    its weights. The results files are written already: a logger that cannot start is a
    warning, not an error."""
    try:
        loggers = open_run_loggers(run_dir, step)
    except SslEcgError as exc:
        print(f"warning: scores not logged to the run's loggers: {exc}", file=sys.stderr)
        return
    try:
        loggers.log_metrics(evaluation_metrics(summary), step)
    finally:
        loggers.close()
