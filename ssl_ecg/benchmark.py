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
import io
import json
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, cast

import tomli_w
from pydantic import Field

from ssl_ecg.errors import IncompatibleComponents, RecipeError, SslEcgError, did_you_mean
from ssl_ecg.outputs import atomic_write
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
    exclude: list[str] = Field(
        default_factory=list,
        description="'encoder x objective' cells not to run (combinations whose components "
        "refuse each other are skipped anyway, and said)",
    )
    eval_at_steps: list[int] = Field(
        default_factory=list,
        description="also score each pretrained cell at these steps (0 = its random init): "
        "learning curves, from checkpoints kept during the one run",
    )


class AlsoConfig(Config):
    """Another task every cell is scored on (e.g. a cross-database test)."""

    name: str
    task: str
    task_settings: dict[str, Any] = Field(default_factory=dict)
    features: list[str] | None = None


class EvalConfig(Config):
    task: str
    protocol: str = "linear"
    features: list[str] = Field(default_factory=lambda: ["embedding"], min_length=1)
    label_fractions: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0])
    task_settings: dict[str, Any] = Field(default_factory=dict)
    finetune_steps: int = 300
    seed: int = 0
    n_boot: int = 1000
    identity_probe: bool = Field(
        False, description="per cell: patient identity vs label from the embedding, in-train"
    )
    also: list[AlsoConfig] = Field(default_factory=list)


def load_grid(path: Path) -> tuple[GridConfig, EvalConfig, dict[str, dict[str, dict]]]:
    """The grid's settings, its eval settings and per-component tables
    ({"encoder": {name: settings}, "objective": ..., "baseline": ...})."""
    from ssl_ecg.evaluation import FEATURES
    from ssl_ecg.recipe import _validate
    from ssl_ecg.registry import get_registry

    if not path.is_file():
        raise SslEcgError(f"{path}: grid file not found")
    from ssl_ecg.recipe import toml_error

    text = path.read_text()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SslEcgError(toml_error(path, text, exc)) from None
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
    pairs = [f"{e} x {o}" for e in grid.encoders for o in grid.objectives]
    for item in grid.exclude:
        if item not in pairs:
            raise SslEcgError(
                f"{path}: grid.exclude: '{item}' is no cell of the grid{did_you_mean(item, pairs)}"
                " (write 'encoder x objective')"
            )
    for f in [*ev.features, *(f for a in ev.also for f in a.features or [])]:
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
    atomic_write(out, tomli_w.dumps(doc))
    return out


def _cells(grid: GridConfig) -> list[tuple[str, str, str]]:
    """(encoder or "-", method, role) in evaluation order: references before what compares
    against them. role: "baseline" (a baseline plugin), "random", "supervised", "pretrained"."""
    plugins = [b for b in grid.baselines if b not in ENCODER_BASELINES]
    cells = [("-", b, "baseline") for b in plugins]
    excluded = {" x ".join(p.strip() for p in e.split(" x ")) for e in grid.exclude}
    for e in grid.encoders:
        cells += [(e, b, b) for b in ENCODER_BASELINES if b in grid.baselines]
        cells += [(e, o, "pretrained") for o in grid.objectives if f"{e} x {o}" not in excluded]
    return cells


def run_grid(path: Path, out: Path, progress: bool = False) -> list[dict[str, Any]]:
    """Pretrain and evaluate every cell (skipping finished ones); write the tables and plots."""
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.registry import get_registry

    grid, ev, tables = load_grid(path)
    base_path = (path.parent / grid.recipe).resolve()
    sets = list(grid.set)
    if grid.eval_at_steps:
        sets.append(f"train.save_steps={sorted(set(grid.eval_at_steps))}")
    base = load_recipe(base_path, sets).resolved()
    _pin_roots(base["data"], base_path.parent)
    evals = [("main", ev.task, _rooted(ev.task_settings, path.parent), list(ev.features))]
    evals += [(a.name, a.task, _rooted(a.task_settings, path.parent), list(a.features or
               ev.features)) for a in ev.also]  # fmt: skip
    registry = get_registry()
    cells = _cells(grid)
    recipes, skipped = _check_cells(path, cells, grid, base, tables, evals, out)  # before training
    side_cell = next((c for c in cells if c[2] != "pretrained"), None)
    rows: list[dict[str, Any]] = []
    for (encoder, label, role), recipe_path in zip(cells, recipes, strict=True):
        if recipe_path in skipped:
            continue
        cell = recipe_path.parent
        run = cell / "run"
        model_spec = None
        for name, task, settings, features in evals:
            folder = cell / ("eval" if name == "main" else f"eval-{name}")
            feats = [f for f in features if f != "side" or (encoder, label, role) == side_cell]
            if role == "supervised":
                feats = ["embedding"]
            if not (folder / "results.json").is_file():
                if model_spec is None and role == "pretrained":
                    _pretrain(load_recipe(recipe_path), cell, progress)
                model_spec = str(run) if role == "pretrained" else label
                cells_dir = out / "cells"
                refs = {
                    "random": cells_dir / f"{encoder}-random" / folder.name,
                    "handcrafted": cells_dir / "baseline-handcrafted" / folder.name,
                }
                identity = name == "main" and ev.identity_probe
                _evaluate(model_spec, recipe_path, role, label, tables, ev, task, settings,
                          feats, folder, refs, identity, progress)  # fmt: skip
            rows += _rows_of(folder, cell, encoder, label, role, name, None, registry, task)
        if role == "pretrained":
            rows += _curve(grid, ev, evals[0], tables, recipe_path, encoder, label, out, progress)
    write_tables(rows, out, list(skipped.values()))
    return rows


def _curve(
    grid: GridConfig, ev: EvalConfig, main: tuple[str, str, dict[str, Any], list[str]],
    tables: dict[str, dict], recipe_path: Path, encoder: str, label: str, out: Path,
    progress: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    """The learning curve of one pretrained cell: its checkpoints at ``eval_at_steps``."""
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.registry import get_registry

    cell, rows = recipe_path.parent, []
    for step in sorted(set(grid.eval_at_steps)):
        folder = cell / f"eval-step{step:07d}"
        ckpt = cell / "run" / "checkpoints" / f"step_{step:07d}.pt"
        if not (folder / "results.json").is_file():
            if not ckpt.is_file():
                _pretrain(load_recipe(recipe_path), cell, progress)
            ref = {"random": out / "cells" / f"{encoder}-random" / "eval"}
            _, task, settings, features = main
            feats = [f for f in features if f != "side"]
            _evaluate(str(ckpt), recipe_path, "pretrained", label, tables, ev, task, settings,
                      feats, folder, ref, False, progress)  # fmt: skip
        rows += _rows_of(folder, cell, encoder, label, "pretrained", "main", step,
                         get_registry(), main[1])  # fmt: skip
    return rows


def _check_cells(
    path: Path, cells: list[tuple[str, str, str]], grid: GridConfig, base: dict[str, Any],
    tables: dict[str, dict], evals: list[tuple[str, str, dict[str, Any], list[str]]], out: Path,
) -> tuple[list[Path], dict[Path, str]]:  # fmt: skip
    """Write and validate every cell's recipe, and every task's settings, before any cell
    trains: a typo in the last cell must not surface hours into the grid. Every pretrained
    cell is built and runs one tiny batch; a combination whose components refuse each other
    (MAE on a CNN) is skipped: {its recipe: why}."""
    from ssl_ecg.build import check
    from ssl_ecg.evaluation import task_config
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.registry import get_registry

    registry = get_registry()
    for name, task, settings, _ in evals:
        try:
            task_config(registry.get("task", task), settings)
        except SslEcgError as exc:
            where = "eval" if name == "main" else f"eval.also '{name}'"
            raise SslEcgError(f"{path}: {where}: {exc}") from None
    paths, skipped = [], {}
    for encoder, label, role in cells:
        cell = out / "cells" / (f"baseline-{label}" if role == "baseline" else f"{encoder}-{label}")
        enc_name = encoder if encoder != "-" else grid.encoders[0]
        enc_table = {"name": enc_name, **tables["encoder"].get(enc_name, {})}
        obj_table = None
        if role == "pretrained":
            obj_table = {"name": label, **tables["objective"].get(label, {})}
        recipe_path = _cell_recipe(base, enc_table, obj_table, cell / "recipe.toml")
        try:
            recipe = load_recipe(recipe_path)
            if role == "baseline":
                spec = registry.get("baseline", label)
                _validate_settings(spec, tables["baseline"].get(label, {}), f"baseline.{label}")
            elif role == "pretrained":
                check(recipe)
        except IncompatibleComponents as exc:
            why = str(exc).removeprefix(f"{recipe_path}: ")
            skipped[recipe_path] = f"{encoder} x {label}: {why}"
            print(f"skip {skipped[recipe_path]}", file=sys.stderr, flush=True)
        except SslEcgError as exc:
            raise SslEcgError(f"{path}: cell {encoder} x {label}: {exc}") from None
        paths.append(recipe_path)
    return paths, skipped


def _validate_settings(spec: Any, settings: dict[str, Any], key: str) -> None:
    from ssl_ecg.recipe import _validate

    _validate(spec.config, settings, key)


def _pin_roots(data: dict[str, Any], where: Path) -> None:
    """Cell recipes live elsewhere: make the datasets' relative roots absolute."""
    for table in [data, *data.get("sources", [])]:
        if isinstance(table.get("root"), str):
            table["root"] = str((where / table["root"]).resolve())


def _rooted(settings: dict[str, Any], where: Path) -> dict[str, Any]:
    out = json.loads(json.dumps(settings))
    for key in ("root", "svdb_root"):
        if isinstance(out.get(key), str):
            out[key] = str((where / out[key]).resolve())
    if isinstance(out.get("dataset"), dict):
        _pin_roots(out["dataset"], where)
    return out


def _evaluate(
    model_spec: str, recipe_path: Path, role: str, label: str, tables: dict[str, dict],
    ev: EvalConfig, task: str, settings: dict[str, Any], features: list[str], folder: Path,
    refs: dict[str, Path], identity: bool, progress: bool,
) -> None:  # fmt: skip
    """Score one model on one task into ``folder``, with paired differences against the
    references that exist (the random-init encoder, handcrafted)."""
    from ssl_ecg.evaluation import Comparison, evaluate, load_model, load_task

    if role == "baseline":
        model = load_model(label, recipe_path, settings=tables["baseline"].get(label))
    elif role in ENCODER_BASELINES:
        model = load_model("random", recipe_path)
    else:
        model = load_model(model_spec)
    data = load_task(task, settings, model, ev.seed, folder.parent)
    if not data.side_names:
        features = [f for f in features if not f.endswith("side")] or ["embedding"]
    compare = []
    if role == "pretrained" and (refs["random"] / "predictions.npz").is_file():
        compare.append(Comparison("random", refs["random"]))
    hc = refs.get("handcrafted")
    if label != "handcrafted" and hc is not None and (hc / "predictions.npz").is_file():
        best = "embedding+side" if data.side_names else "embedding"
        compare.append(Comparison("handcrafted", hc, best))
    protocol = "finetune" if role == "supervised" else ev.protocol
    evaluate(model, task, data, protocol, list(ev.label_fractions), folder, features=features,
             compare=compare, seed=ev.seed, finetune_steps=ev.finetune_steps, n_boot=ev.n_boot,
             progress=progress, identity=identity)  # fmt: skip


def _rows_of(
    folder: Path, cell: Path, encoder: str, label: str, role: str, task_name: str,
    step: int | None, registry: Any, task: str,
) -> list[dict[str, Any]]:  # fmt: skip
    summary = json.loads((folder / "results.json").read_text())
    enc_name = None if encoder == "-" else encoder
    used = [("task", task)] + ([("encoder", enc_name)] if enc_name else [])
    if role == "pretrained":
        recipe = (cell / "recipe.toml").read_text()
        used += [("objective", tomllib.loads(recipe)["objective"]["name"])]
    used += [("baseline", label)] if role == "baseline" else []
    specs = [registry.get(kind, name) for kind, name in used]
    versions = "; ".join(f"{s.kind}:{s.name}={s.distribution} {s.version}" for s in specs)
    out = []
    for row in _rows(summary, cell, encoder, label, role):
        out.append({**row, "task": task_name, "step": step, "plugins": versions})
    return out


def _pretrain(recipe: Any, cell: Path, progress: bool) -> Path:
    """Pretrain (or resume) a cell's run; pretraining time is summed over sessions."""
    from ssl_ecg.train import train

    run = cell / "run"
    t0 = time.perf_counter()
    train(recipe, run, progress=progress, resume=(run / "checkpoints" / "last.pt").is_file())
    spent = cell / "pretrain_s.txt"
    before = float(spent.read_text()) if spent.is_file() else 0.0
    atomic_write(spent, str(round(before + time.perf_counter() - t0, 1)))
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
            identity = summary.get("identity") or {}
            row.update(
                patient_bacc=identity.get("patient_balanced_accuracy"),
                label_bacc=identity.get("label_balanced_accuracy"),
                pretrain_s=pretrain_s, eval_s=summary["wall_s"], model=summary["model"],
            )  # fmt: skip
            rows.append(row)
    return rows


def write_tables(rows: list[dict[str, Any]], out: Path, skipped: list[str] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out / "results.csv", text.getvalue())
    note = "".join(f"- not run, the components refuse each other: {s}\n" for s in skipped or [])
    atomic_write(out / "results.md", markdown(rows) + ("\n" + note if note else ""))
    final = [r for r in rows if r.get("step") is None]
    plot([r for r in final if r.get("task", "main") == "main"], out / "results.png")
    if any(r.get("step") is not None for r in rows):
        plot_learning_curves(rows, out / "learning_curve.png")


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
    """Per task and features setting: macro-F1 (or macro AUROC for multi-label tasks) with 95 %
    intervals, the paired differences, the identity probe and the learning curve."""
    lines: list[str] = []
    final = [r for r in rows if r.get("step") is None]
    for task in dict.fromkeys(r.get("task", "main") for r in final):
        mine = [r for r in final if r.get("task", "main") == task]
        lines += [f"## task: {task}", ""] if task != "main" or len(final) != len(mine) else []
        for feature in dict.fromkeys(r["features"] for r in mine):
            lines += _feature_tables([r for r in mine if r["features"] == feature], feature)
    identity = [r for r in final if r.get("patient_bacc") is not None]
    if identity:
        lines += ["## identity probe (training patients: first half of each patient's windows "
                  "-> second half; balanced accuracy)", "",
                  "| encoder | method | patient | label |", "|---|---|---|---|"]  # fmt: skip
        for enc, method in dict.fromkeys((r["encoder"], r["method"]) for r in identity):
            r = next(x for x in identity if (x["encoder"], x["method"]) == (enc, method))
            label = f"{r['label_bacc']:.3f}" if r.get("label_bacc") is not None else "–"
            lines.append(f"| {enc} | {method} | {r['patient_bacc']:.3f} | {label} |")
        lines.append("")
    curve = [r for r in rows if r.get("step") is not None]
    if curve:
        lines += _curve_table(curve)
    return "\n".join(lines)


def _feature_tables(mine: list[dict[str, Any]], feature: str) -> list[str]:
    fractions = sorted({r["label_fraction"] for r in mine})
    pct = [f"{f:.0%}" for f in fractions]
    cells = list(dict.fromkeys((r["encoder"], r["method"]) for r in mine))
    by = {(r["encoder"], r["method"], r["label_fraction"]): r for r in mine}
    prefix = "d_macro_f1_vs_"
    labels = sorted({k[len(prefix) : -3] for r in mine for k in r
                     if k.startswith(prefix) and k.endswith("_lo")})  # fmt: skip
    lines = [f"### features = {feature}", "",
             "| encoder | method | " + " | ".join(f"macro-F1 @ {p}" for p in pct)
             + " | macro AUROC @ 100% | pretrain s |",
             "|---|---|" + "---|" * (len(fractions) + 2)]  # fmt: skip
    for enc, method in cells:
        vals = [by.get((enc, method, f)) for f in fractions]
        f1 = [_ci(r["macro_f1"], r["macro_f1_lo"], r["macro_f1_hi"]) if r else "–" for r in vals]
        last = vals[-1]
        auc = (
            _ci(last["macro_auroc"], last["macro_auroc_lo"], last["macro_auroc_hi"])
            if last
            else "–"
        )
        secs = next(r for r in vals if r)["pretrain_s"]
        lines.append(f"| {enc} | {method} | " + " | ".join(f1) + f" | {auc} | {secs or '–'} |")
    for label in labels:
        key = f"d_macro_f1_vs_{label}"
        lines += ["", f"Δ macro-F1 vs {label} (paired patient bootstrap; **bold**: the 95 % "
                  "interval excludes 0)", "",
                  "| encoder | method | " + " | ".join(f"Δ @ {p}" for p in pct)
                  + " | Δ AUROC @ 100% |", "|---|---|" + "---|" * (len(fractions) + 1)]  # fmt: skip
        auc_key = f"d_macro_auroc_vs_{label}"
        for enc, method in cells:
            vals = [by.get((enc, method, f)) for f in fractions]
            if not any(r and r.get(key) is not None for r in vals):
                continue
            ds = [_ci(r.get(key), r.get(key + "_lo"), r.get(key + "_hi"), delta=True)
                  if r else "–" for r in vals]  # fmt: skip
            last = vals[-1] or {}
            auc = _ci(last.get(auc_key), last.get(auc_key + "_lo"), last.get(auc_key + "_hi"),
                      delta=True)  # fmt: skip
            lines.append(f"| {enc} | {method} | " + " | ".join(ds) + f" | {auc} |")
    return [*lines, ""]


def _curve_table(curve: list[dict[str, Any]]) -> list[str]:
    """macro-F1 and Δ vs random init by pretraining step, at every label fraction."""
    lines = ["## learning curve (main task; Δ vs the random-init encoder, paired)", ""]
    fractions = sorted({r["label_fraction"] for r in curve})
    steps = sorted({r["step"] for r in curve})
    for feature in dict.fromkeys(r["features"] for r in curve):
        lines += [f"### features = {feature}", "",
                  "| encoder | method | labels | " + " | ".join(f"step {s}" for s in steps)
                  + " |", "|---|---|---|" + "---|" * len(steps)]  # fmt: skip
        mine = [r for r in curve if r["features"] == feature]
        by = {(r["encoder"], r["method"], r["label_fraction"], r["step"]): r for r in mine}
        for enc, method in dict.fromkeys((r["encoder"], r["method"]) for r in mine):
            for f in fractions:
                vals = []
                for s_ in steps:
                    r = by.get((enc, method, f, s_))
                    if not r:
                        vals.append("–")
                        continue
                    key = "d_macro_f1_vs_random"
                    d = _ci(r.get(key), r.get(key + "_lo"), r.get(key + "_hi"), delta=True)
                    vals.append(f"{r['macro_f1']:.3f}" + (f" (Δ {d})" if d != "–" else ""))
                lines.append(f"| {enc} | {method} | {f:.0%} | " + " | ".join(vals) + " |")
        lines.append("")
    return lines


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


def plot_learning_curves(rows: list[dict[str, Any]], path: Path) -> None:
    """macro-F1 against pretraining steps per method (largest label fraction, main task), with
    the random-init encoder and handcrafted as horizontal lines; one panel per features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = [r for r in rows if r.get("task", "main") == "main"]
    curve = [r for r in main if r.get("step") is not None]
    top = max(r["label_fraction"] for r in curve)
    features = list(dict.fromkeys(r["features"] for r in curve))
    fig, axes = plt.subplots(1, len(features), figsize=(6 * len(features), 4.2), squeeze=False)
    for ax, feature in zip(axes[0], features, strict=True):
        mine = [r for r in curve if r["features"] == feature and r["label_fraction"] == top]
        for enc, method in dict.fromkeys((r["encoder"], r["method"]) for r in mine):
            pts = sorted((r for r in mine if (r["encoder"], r["method"]) == (enc, method)),
                         key=lambda r: r["step"])  # fmt: skip
            ax.plot([max(r["step"], 1) for r in pts], [r["macro_f1"] for r in pts], "-o",
                    label=f"{enc} {method}")  # fmt: skip
        refs = [
            r for r in main if r.get("step") is None and r["label_fraction"] == top
            and r["features"] == feature and r["method"] in ("random", "handcrafted")
        ]  # fmt: skip
        for r in refs:
            ax.axhline(r["macro_f1"], ls="--", lw=1, color="grey" if r["role"] == "random"
                       else "black", label=f"{r['encoder']} {r['method']}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("pretraining step (step 0 plotted at 1)")
        ax.set_ylabel(f"macro-F1 @ {top:.0%} labels")
        ax.set_title(f"features = {feature}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
