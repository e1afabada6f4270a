"""The method-combination benchmark: every objective x encoder pretrained on one core with one
budget, then evaluated with one protocol, next to the baselines every table carries.

A grid file (TOML)::

    [grid]
    recipe = "../recipes/mitbih/hybrid_ds1.toml"   # the shared data, augmentations and budget
    set = ["train.steps=300"]                       # overrides for every cell
    encoders = ["vit1d", "resnet1d"]
    objectives = ["mae", "simclr", "byol", "hybrid"]
    baselines = ["random", "supervised", "handcrafted", "minirocket"]
    [encoder.vit1d]                                 # settings per encoder / objective / baseline
    dim = 96
    [baseline.minirocket]
    n_kernels = 10000
    [eval]
    task = "mitbih-aami"
    protocol = "linear"
    features = ["embedding", "embedding+side"]      # each model is scored with each
    label_fractions = [0.01, 0.1, 1.0]
    task_settings = { root = "../../shared/data/mitbih-arrhythmia" }
    finetune_steps = 300                            # the supervised baseline's budget

Baselines: ``random`` (each encoder at random init) and ``supervised`` (each encoder trained from
scratch on the labels) per encoder; any baseline plugin (``handcrafted``, ``minirocket``) once.
``side`` in ``features`` is scored once (the side features alone, no model). Every cell gets
paired differences (same resampled test patients) against the random-init encoder of its
architecture and against ``handcrafted`` (with the side features when the task has them).

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

ENCODER_BASELINES = ("random", "supervised")


class GridConfig(Config):
    recipe: str
    set: list[str] = Field(default_factory=list)
    encoders: list[str] = Field(min_length=1)
    objectives: list[str] = Field(default_factory=list)
    baselines: list[str] = Field(
        default_factory=lambda: ["random", "supervised", "handcrafted", "minirocket"]
    )


class EvalConfig(Config):
    task: str
    protocol: str = "linear"
    features: list[str] = Field(default_factory=lambda: ["embedding"], min_length=1)
    label_fractions: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0])
    task_settings: dict[str, Any] = Field(default_factory=dict)
    finetune_steps: int = 300
    seed: int = 0
    n_boot: int = 1000


def load_grid(path: Path) -> tuple[GridConfig, EvalConfig, dict[str, dict[str, dict]]]:
    """The grid's settings, its eval settings and per-component tables
    ({"encoder": {name: settings}, "objective": ..., "baseline": ...})."""
    from ssl_ecg.evaluate import FEATURES
    from ssl_ecg.recipe import _validate
    from ssl_ecg.registry import get_registry

    if not path.is_file():
        raise SslEcgError(f"{path}: grid file not found")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SslEcgError(f"{path}: not valid TOML: {exc}") from None
    known = ("grid", "eval", "encoder", "objective", "baseline")
    for key in doc:
        if key not in known:
            raise SslEcgError(f"{path}: {key}: unknown table{did_you_mean(key, known)}")
    try:
        grid = cast(GridConfig, _validate(GridConfig, doc.get("grid", {}), "grid"))
        ev = cast(EvalConfig, _validate(EvalConfig, doc.get("eval", {}), "eval"))
    except RecipeError as exc:
        raise SslEcgError(f"{path}: {exc}") from None
    allowed = [*ENCODER_BASELINES, *get_registry().names("baseline")]
    for name in grid.baselines:
        if name not in allowed:
            raise SslEcgError(
                f"{path}: grid.baselines: '{name}' is not a baseline{did_you_mean(name, allowed)} "
                f"(baselines: {', '.join(allowed)})"
            )
    for f in ev.features:
        if f not in FEATURES:
            raise SslEcgError(f"{path}: eval.features: '{f}' is not one of {', '.join(FEATURES)}")
    tables = {k: doc.get(k, {}) for k in ("encoder", "objective", "baseline")}
    return grid, ev, tables


def _cell_recipe(base: dict[str, Any], encoder: dict, objective: dict | None, out: Path) -> Path:
    doc = json.loads(json.dumps(base))
    doc["encoder"] = encoder
    if objective is not None:
        doc["objective"] = objective
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(tomli_w.dumps(doc))
    return out


def _cells(grid: GridConfig) -> list[tuple[str, str, str]]:
    """(encoder or "-", method, role) in evaluation order: references before what compares
    against them. role: "baseline" (a baseline plugin), "random", "supervised", "pretrained"."""
    plugins = [b for b in grid.baselines if b not in ENCODER_BASELINES]
    cells = [("-", b, "baseline") for b in plugins]
    for e in grid.encoders:
        cells += [(e, b, b) for b in ENCODER_BASELINES if b in grid.baselines]
        cells += [(e, o, "pretrained") for o in grid.objectives]
    return cells


def run_grid(path: Path, out: Path, progress: bool = False) -> list[dict[str, Any]]:
    """Pretrain and evaluate every cell (skipping finished ones); write the tables and plot."""
    from ssl_ecg.evaluate import Comparison, evaluate, load_model, load_task
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.registry import get_registry
    from ssl_ecg.train import train

    grid, ev, tables = load_grid(path)
    base_path = (path.parent / grid.recipe).resolve()
    base = load_recipe(base_path, list(grid.set)).resolved()
    if isinstance(base["data"].get("root"), str):  # cell recipes live elsewhere: pin the root
        base["data"]["root"] = str((base_path.parent / base["data"]["root"]).resolve())
    task_settings = dict(ev.task_settings)
    if isinstance(task_settings.get("root"), str):
        task_settings["root"] = str((path.parent / task_settings["root"]).resolve())
    registry = get_registry()
    cells = _cells(grid)
    side_cell = next((c for c in cells if c[2] != "pretrained"), None)
    hc_eval = out / "cells" / "baseline-handcrafted" / "eval"
    rows: list[dict[str, Any]] = []
    has_side = False
    for encoder, method, role in cells:
        cell = (
            out / "cells" / (f"baseline-{method}" if role == "baseline" else f"{encoder}-{method}")
        )
        enc_name = encoder if encoder != "-" else grid.encoders[0]
        enc_table = {"name": enc_name, **tables["encoder"].get(enc_name, {})}
        obj_table = None
        if role == "pretrained":
            obj_table = {"name": method, **tables["objective"].get(method, {})}
        recipe_path = _cell_recipe(base, enc_table, obj_table, cell / "recipe.toml")
        features = [f for f in ev.features if f != "side" or (encoder, method, role) == side_cell]
        if role == "supervised":
            features = ["embedding"]
        result_file = cell / "eval" / "results.json"
        if not result_file.is_file():
            if role == "pretrained":
                model = load_model(str(_pretrain(load_recipe(recipe_path), cell, progress, train)))
            elif role == "baseline":
                model = load_model(method, recipe_path, settings=tables["baseline"].get(method))
            else:
                model = load_model("random", recipe_path)
            data = load_task(ev.task, task_settings, model, ev.seed, path.parent)
            has_side = bool(data.side_names)
            if not has_side:
                features = [f for f in features if "side" not in f] or ["embedding"]
            compare = []
            if role == "pretrained" and "random" in grid.baselines:
                compare.append(Comparison("random", out / "cells" / f"{encoder}-random" / "eval"))
            if method != "handcrafted" and (hc_eval / "predictions.npz").is_file():
                best = "embedding+side" if has_side else "embedding"
                compare.append(Comparison("handcrafted", hc_eval, best))
            evaluate(model, ev.task, data, "finetune" if role == "supervised" else ev.protocol,
                     list(ev.label_fractions), cell / "eval", features=features,
                     compare=compare, seed=ev.seed, finetune_steps=ev.finetune_steps,
                     n_boot=ev.n_boot, progress=progress)  # fmt: skip
        used = [("task", ev.task)] + ([("encoder", enc_name)] if role != "baseline" else [])
        used += [("objective", method)] if role == "pretrained" else []
        used += [("baseline", method)] if role == "baseline" else []
        specs = [registry.get(kind, name) for kind, name in used]
        versions = "; ".join(f"{s.kind}:{s.name}={s.distribution} {s.version}" for s in specs)
        for row in _rows(json.loads(result_file.read_text()), cell, encoder, method, role):
            rows.append({**row, "plugins": versions})
    write_tables(rows, out)
    return rows


def _pretrain(recipe: Any, cell: Path, progress: bool, train: Any) -> Path:
    """Pretrain (or resume) a cell's run; pretraining time is summed over sessions."""
    run = cell / "run"
    t0 = time.perf_counter()
    train(recipe, run, progress=progress, resume=(run / "checkpoints" / "last.pt").is_file())
    spent = cell / "pretrain_s.txt"
    before = float(spent.read_text()) if spent.is_file() else 0.0
    spent.write_text(str(round(before + time.perf_counter() - t0, 1)))
    return run


def _rows(
    summary: dict[str, Any], cell: Path, encoder: str, method: str, role: str
) -> list[dict[str, Any]]:
    spent = cell / "pretrain_s.txt"
    pretrain_s = float(spent.read_text()) if spent.is_file() else None
    rows = []
    for feature, by_fraction in summary["results"].items():
        for fraction, r in by_fraction.items():
            name = "side features only" if feature == "side" else method
            row: dict[str, Any] = {
                "encoder": "-" if feature == "side" else encoder, "method": name, "role": role,
                "features": feature, "protocol": summary["protocol"],
                "label_fraction": float(fraction), "n_train": r["n_train"],
                "macro_f1": r["macro_f1"], "macro_f1_lo": r["ci"]["macro_f1"][0],
                "macro_f1_hi": r["ci"]["macro_f1"][1], "macro_auroc": r["macro_auroc"],
                "macro_auroc_lo": r["ci"]["macro_auroc"][0],
                "macro_auroc_hi": r["ci"]["macro_auroc"][1],
                **{f"f1_{c}": r["per_class"][c]["f1"] for c in (r.get("scored") or r["classes"])},
            }  # fmt: skip
            for label, d in r.get("delta", {}).items():
                for metric in ("macro_f1", "macro_auroc"):
                    row[f"d_{metric}_vs_{label}"] = d[metric]["delta"]
                    row[f"d_{metric}_vs_{label}_lo"] = d[metric]["ci"][0]
                    row[f"d_{metric}_vs_{label}_hi"] = d[metric]["ci"][1]
            row.update(pretrain_s=pretrain_s, eval_s=summary["wall_s"], model=summary["model"])
            rows.append(row)
    return rows


def write_tables(rows: list[dict[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.md").write_text(markdown(rows))
    plot(rows, out / "results.png")


def _ci(value: float | None, lo: float | None, hi: float | None, delta: bool = False) -> str:
    if value is None:
        return "–"
    if lo is None or hi is None:
        return f"{value:+.3f}" if delta else f"{value:.3f}"
    if not delta:
        return f"{value:.3f} [{lo:.3f}, {hi:.3f}]"
    text = f"{value:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    return f"**{text}**" if lo > 0 or hi < 0 else text


def markdown(rows: list[dict[str, Any]]) -> str:
    """Per features setting: macro-F1 with 95 % intervals, then the paired differences."""
    fractions = sorted({r["label_fraction"] for r in rows})
    pct = [f"{f:.0%}" for f in fractions]
    lines: list[str] = []
    for feature in dict.fromkeys(r["features"] for r in rows):
        mine = [r for r in rows if r["features"] == feature]
        cells = list(dict.fromkeys((r["encoder"], r["method"]) for r in mine))
        by = {(r["encoder"], r["method"], r["label_fraction"]): r for r in mine}
        prefix = "d_macro_f1_vs_"
        labels = sorted({k[len(prefix) : -3] for r in mine for k in r
                         if k.startswith(prefix) and k.endswith("_lo")})  # fmt: skip
        lines += [f"### features = {feature}", "",
                  "| encoder | method | " + " | ".join(f"macro-F1 @ {p}" for p in pct)
                  + " | pretrain s |", "|---|---|" + "---|" * (len(fractions) + 1)]  # fmt: skip
        for enc, method in cells:
            vals = [by.get((enc, method, f)) for f in fractions]
            f1 = [_ci(r["macro_f1"], r["macro_f1_lo"], r["macro_f1_hi"]) if r else "–"
                  for r in vals]  # fmt: skip
            secs = next(r for r in vals if r)["pretrain_s"]
            lines.append(f"| {enc} | {method} | " + " | ".join(f1) + f" | {secs or '–'} |")
        for label in labels:
            key = f"d_macro_f1_vs_{label}"
            lines += ["", f"Δ macro-F1 vs {label} (paired patient bootstrap; **bold**: the 95 % "
                      "interval excludes 0)", "",
                      "| encoder | method | " + " | ".join(f"Δ @ {p}" for p in pct) + " |",
                      "|---|---|" + "---|" * len(fractions)]  # fmt: skip
            for enc, method in cells:
                vals = [by.get((enc, method, f)) for f in fractions]
                if not any(r and r.get(key) is not None for r in vals):
                    continue
                ds = [_ci(r.get(key), r.get(key + "_lo"), r.get(key + "_hi"), delta=True)
                      if r else "–" for r in vals]  # fmt: skip
                lines.append(f"| {enc} | {method} | " + " | ".join(ds) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """macro-F1 against label fraction: one panel per features setting, one line per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    features = list(dict.fromkeys(r["features"] for r in rows))
    fig, axes = plt.subplots(1, len(features), figsize=(6 * len(features), 4.2), squeeze=False)
    for ax, feature in zip(axes[0], features, strict=True):
        mine = [r for r in rows if r["features"] == feature]
        for enc, method in dict.fromkeys((r["encoder"], r["method"]) for r in mine):
            pts = sorted((r for r in mine if (r["encoder"], r["method"]) == (enc, method)),
                         key=lambda r: r["label_fraction"])  # fmt: skip
            style = "-" if pts[0]["role"] == "pretrained" else "--"
            ax.plot([r["label_fraction"] for r in pts], [r["macro_f1"] for r in pts], style,
                    marker="o", label=f"{enc} {method}" if enc != "-" else method)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("fraction of training labels")
        ax.set_ylabel("macro-F1")
        ax.set_title(f"features = {feature}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
