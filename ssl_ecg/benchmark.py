"""The method-combination benchmark: every objective x encoder pretrained on one core with one
budget, then evaluated with one protocol, next to the random-init and supervised baselines.

A grid file (TOML)::

    [grid]
    recipe = "../recipes/mitbih/hybrid_ds1.toml"   # the shared data, augmentations and budget
    set = ["train.steps=300"]                       # overrides for every cell
    encoders = ["vit1d", "resnet1d"]
    objectives = ["mae", "simclr", "byol", "hybrid"]
    baselines = ["random", "supervised"]
    [encoder.vit1d]                                 # settings per encoder / objective
    dim = 96
    [eval]
    task = "mitbih-aami"
    protocol = "linear"
    label_fractions = [0.01, 0.1, 1.0]
    task_settings = { root = "../../shared/data/mitbih-arrhythmia" }
    finetune_steps = 300                            # the supervised baseline's budget

Cells that already have results are skipped, so an interrupted benchmark resumes where it
stopped. Writes ``results.csv``, ``results.md`` and ``results.png``.
"""

from __future__ import annotations

import csv
import json
import time
import tomllib
from pathlib import Path
from typing import Any, cast

import tomli_w
from pydantic import Field

from ssl_ecg.errors import RecipeError, SslEcgError, did_you_mean
from ssl_ecg.specs import Config


class GridConfig(Config):
    recipe: str
    set: list[str] = Field(default_factory=list)
    encoders: list[str] = Field(min_length=1)
    objectives: list[str] = Field(min_length=1)
    baselines: list[str] = Field(default_factory=lambda: ["random", "supervised"])


class EvalConfig(Config):
    task: str
    protocol: str = "linear"
    label_fractions: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0])
    task_settings: dict[str, Any] = Field(default_factory=dict)
    finetune_steps: int = 300
    seed: int = 0
    n_boot: int = 1000


def load_grid(path: Path) -> tuple[GridConfig, EvalConfig, dict[str, dict], dict[str, dict]]:
    from ssl_ecg.recipe import _validate

    if not path.is_file():
        raise SslEcgError(f"{path}: grid file not found")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SslEcgError(f"{path}: not valid TOML: {exc}") from None
    known = ("grid", "eval", "encoder", "objective")
    for key in doc:
        if key not in known:
            raise SslEcgError(f"{path}: {key}: unknown table{did_you_mean(key, known)}")
    try:
        grid = cast(GridConfig, _validate(GridConfig, doc.get("grid", {}), "grid"))
        ev = cast(EvalConfig, _validate(EvalConfig, doc.get("eval", {}), "eval"))
    except RecipeError as exc:
        raise SslEcgError(f"{path}: {exc}") from None
    for name in grid.baselines:
        if name not in ("random", "supervised"):
            raise SslEcgError(f"{path}: grid.baselines: '{name}' is not 'random' or 'supervised'")
    return grid, ev, doc.get("encoder", {}), doc.get("objective", {})


def _cell_recipe(base: dict[str, Any], encoder: dict, objective: dict | None, out: Path) -> Path:
    doc = json.loads(json.dumps(base))
    doc["encoder"] = encoder
    if objective is not None:
        doc["objective"] = objective
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(tomli_w.dumps(doc))
    return out


def run_grid(path: Path, out: Path, progress: bool = False) -> list[dict[str, Any]]:
    """Pretrain and evaluate every cell (skipping finished ones); write the tables and plot."""
    from ssl_ecg.evaluate import evaluate, load_model, load_task
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.registry import get_registry
    from ssl_ecg.train import train

    grid, ev, enc_settings, obj_settings = load_grid(path)
    base_path = (path.parent / grid.recipe).resolve()
    base = load_recipe(base_path, list(grid.set)).resolved()
    if isinstance(base["data"].get("root"), str):  # cell recipes live elsewhere: pin the root
        base["data"]["root"] = str((base_path.parent / base["data"]["root"]).resolve())
    task_settings = dict(ev.task_settings)
    if isinstance(task_settings.get("root"), str):
        task_settings["root"] = str((path.parent / task_settings["root"]).resolve())
    registry = get_registry()
    cells: list[tuple[str, str, str | None]] = [
        (e, o, None) for e in grid.encoders for o in grid.objectives
    ] + [(e, b, b) for e in grid.encoders for b in grid.baselines]
    rows: list[dict[str, Any]] = []
    for encoder, method, baseline in cells:
        cell = out / "cells" / f"{encoder}-{method}"
        enc_table = {"name": encoder, **enc_settings.get(encoder, {})}
        obj_table = None if baseline else {"name": method, **obj_settings.get(method, {})}
        recipe_path = _cell_recipe(base, enc_table, obj_table, cell / "recipe.toml")
        result_file = cell / "eval" / "results.json"
        pretrain_s = None
        if not result_file.is_file():
            recipe = load_recipe(recipe_path)
            if baseline is None:
                run = cell / "run"
                done = run / "checkpoints" / "last.pt"
                t0 = time.perf_counter()
                train(recipe, run, progress=progress, resume=done.is_file())
                spent = cell / "pretrain_s.txt"  # summed over sessions of an interrupted run
                before = float(spent.read_text()) if spent.is_file() else 0.0
                spent.write_text(str(round(before + time.perf_counter() - t0, 1)))
                model = load_model(str(run))
            else:
                model = load_model("random", recipe_path)
            protocol = "finetune" if baseline == "supervised" else ev.protocol
            data = load_task(ev.task, task_settings, model, ev.seed, path.parent)
            evaluate(model, ev.task, data, protocol, list(ev.label_fractions), cell / "eval",
                     seed=ev.seed, finetune_steps=ev.finetune_steps, n_boot=ev.n_boot,
                     progress=progress)  # fmt: skip
        summary = json.loads(result_file.read_text())
        if (cell / "pretrain_s.txt").is_file():
            pretrain_s = float((cell / "pretrain_s.txt").read_text())
        versions = {
            f"{s.kind}:{s.name}": f"{s.distribution} {s.version}"
            for s in [registry.get("encoder", encoder), registry.get("task", ev.task)]
            + ([] if baseline else [registry.get("objective", method)])
        }
        for fraction, r in summary["results"].items():
            rows.append({
                "encoder": encoder, "method": method, "protocol": summary["protocol"],
                "label_fraction": float(fraction), "n_train": r["n_train"],
                "macro_f1": r["macro_f1"], "macro_f1_lo": r["ci"]["macro_f1"][0],
                "macro_f1_hi": r["ci"]["macro_f1"][1], "macro_auroc": r["macro_auroc"],
                **{f"f1_{c}": r["per_class"][c]["f1"] for c in (r.get("scored") or r["classes"])},
                "pretrain_s": pretrain_s, "eval_s": summary["wall_s"],
                "plugins": "; ".join(f"{k}={v}" for k, v in versions.items()),
            })  # fmt: skip
    write_tables(rows, out)
    return rows


def write_tables(rows: list[dict[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    fractions = sorted({r["label_fraction"] for r in rows})
    lines = ["| encoder | method | " + " | ".join(f"macro-F1 @ {f:.0%} labels" for f in fractions)
             + " | pretrain s |", "|---|---|" + "---|" * (len(fractions) + 1)]  # fmt: skip
    cells = list(dict.fromkeys((r["encoder"], r["method"]) for r in rows))
    for enc, method in cells:
        mine = {
            r["label_fraction"]: r for r in rows if (r["encoder"], r["method"]) == (enc, method)
        }
        vals = [_f1(mine[f]) if f in mine else "–" for f in fractions]
        secs = next(iter(mine.values()))["pretrain_s"]
        lines.append(f"| {enc} | {method} | " + " | ".join(vals) + f" | {secs or '–'} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    plot(rows, out / "results.png")


def _f1(row: dict[str, Any]) -> str:
    return f"{row['macro_f1']:.3f} [{row['macro_f1_lo']:.3f}, {row['macro_f1_hi']:.3f}]"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    encoders = list(dict.fromkeys(r["encoder"] for r in rows))
    fig, axes = plt.subplots(1, len(encoders), figsize=(5 * len(encoders), 3.8), squeeze=False)
    for ax, enc in zip(axes[0], encoders, strict=True):
        for method in dict.fromkeys(r["method"] for r in rows if r["encoder"] == enc):
            mine = sorted((r for r in rows if (r["encoder"], r["method"]) == (enc, method)),
                          key=lambda r: r["label_fraction"])  # fmt: skip
            style = "--" if method in ("random", "supervised") else "-"
            ax.plot([r["label_fraction"] for r in mine], [r["macro_f1"] for r in mine],
                    style, marker="o", label=method)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("fraction of training labels")
        ax.set_ylabel("macro-F1")
        ax.set_title(enc)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
