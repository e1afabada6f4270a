"""The ``ssl-ecg`` command line. Each command parses its arguments and calls the library."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from ssl_ecg.errors import SslEcgError
from ssl_ecg.specs import KINDS

ENV_DEBUG = "SSL_ECG_DEBUG"
err_console = Console(stderr=True)


class _Group(TyperGroup):
    """The one top-level error handler: a user error is one line and exit status 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SslEcgError as exc:
            if os.environ.get(ENV_DEBUG) or ctx.params.get("debug"):
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


app = typer.Typer(
    cls=_Group,
    help="Self-supervised pretraining and evaluation of ECG encoders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

RecipeArg = Annotated[Path, typer.Argument(help="recipe TOML file", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="override a recipe key, e.g. --set train.steps=100 (repeatable)"),
]


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help=f"show tracebacks (or {ENV_DEBUG}=1)")
    ] = False,
) -> None:
    if debug:
        os.environ[ENV_DEBUG] = "1"


@app.command("list-plugins")
def list_plugins(
    pattern: Annotated[str | None, typer.Argument(help="shell-style pattern, e.g. 'vit*'")] = None,
    kind: Annotated[str | None, typer.Option(help=f"one of: {', '.join(KINDS)}")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List installed plugins: kind, name, summary, distribution and version."""
    from ssl_ecg.registry import get_registry

    if kind is not None and kind not in KINDS:
        from ssl_ecg.errors import did_you_mean

        raise SslEcgError(
            f"--kind '{kind}' is not a kind{did_you_mean(kind, KINDS)} (kinds: {', '.join(KINDS)})"
        )
    rows = get_registry().rows(kind, pattern)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="ssl-ecg plugins")
    for col in ("kind", "name", "summary", "distribution", "version"):
        # names are what a recipe types: never cut or wrapped, whatever the width
        table.add_column(col, no_wrap=col != "summary", overflow="fold")
    for row in rows:
        summary = row["summary"]
        if row["status"] != "ok":
            summary = f"[red]{row['status']}: {row.get('error', '')}[/red]"
        table.add_row(row["kind"], row["name"], summary, row["distribution"], row["version"])
    Console(width=None if sys.stdout.isatty() else 160).print(table)


@app.command()
def validate(
    recipe: RecipeArg,
    set_: SetOpt = None,
    show: Annotated[bool, typer.Option("--show", help="print the resolved recipe")] = False,
) -> None:
    """Check a recipe (plugins exist, settings valid, components fit) without training."""
    from ssl_ecg.build import check
    from ssl_ecg.recipe import load_recipe

    r = load_recipe(recipe, set_)
    check(r)
    if show:
        typer.echo(r.to_toml())
    err_console.print(f"[green]ok[/green]: {recipe} is valid")


@app.command()
def show(recipe: RecipeArg, set_: SetOpt = None) -> None:
    """Print the fully resolved recipe (every default filled in) as TOML."""
    from ssl_ecg.recipe import load_recipe

    r = load_recipe(recipe, set_)
    typer.echo(r.to_toml(origins=True))
    unset = r.unset()
    if unset:  # TOML has no null: say which settings are left at None (e.g. "all records")
        typer.echo("# left unset (None, the component's default):\n#   " + "\n#   ".join(unset))


@app.command()
def train(
    recipe: RecipeArg,
    set_: SetOpt = None,
    run_dir: Annotated[Path | None, typer.Option(help="where to write the run")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the run in --run-dir from its checkpoint")
    ] = False,
) -> None:
    """Pretrain an encoder as the recipe says; writes a run directory."""
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.train import train as run_training

    r = load_recipe(recipe, set_)
    if run_dir is None:
        if resume:
            raise SslEcgError("--resume needs --run-dir naming the run to continue")
        run_dir = Path("runs") / f"{recipe.stem}-{datetime.now():%Y%m%d-%H%M%S}"
    metrics = run_training(r, run_dir, progress=sys.stderr.isatty(), resume=resume)
    if not metrics:
        err_console.print(
            f"nothing to do: the run in {run_dir} already finished its {r.train.steps} steps"
        )
        return
    first, last = metrics[0]["loss"], metrics[-1]["loss"]
    err_console.print(f"loss {first:.4f} -> {last:.4f}; run written to {run_dir}")


@app.command("export")
def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run directory made by ssl-ecg train")],
    out: Annotated[Path, typer.Option("-o", "--out", help="folder to write the export to")],
) -> None:
    """Write the run's encoder as encoder.safetensors + encoder.json (config, data contract)."""
    from ssl_ecg.export import export
    from ssl_ecg.outputs import output_dir

    output_dir(out, "-o")
    path = export(run_dir, out)
    err_console.print(f"exported to {path.parent}")


PictureOut = Annotated[Path, typer.Option("-o", "--out", help="PNG file to write")]
WindowsOpt = Annotated[int, typer.Option("--n", min=1, max=12, help="windows to show")]
SeedOpt = Annotated[int, typer.Option(help="which windows (and augmentation draws)")]


@app.command("show-views")
def show_views_cmd(
    recipe: RecipeArg, out: PictureOut, set_: SetOpt = None, n: WindowsOpt = 3, seed: SeedOpt = 0
) -> None:
    """Picture a few training windows, clean and as each augmented view (R-peaks marked)."""
    from ssl_ecg.pictures import show_views
    from ssl_ecg.recipe import load_recipe

    path = show_views(load_recipe(recipe, set_), out, n, seed)
    err_console.print(f"wrote {path}")


@app.command("show-reconstruction")
def show_reconstruction_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run directory made by ssl-ecg train")],
    out: PictureOut,
    recipe: Annotated[
        Path | None, typer.Option(help="read windows from this recipe's data (default: the run's)")
    ] = None,
    n: WindowsOpt = 3,
    seed: SeedOpt = 0,
) -> None:
    """Picture what a reconstructing objective predicts: input, hidden spans, reconstruction."""
    from ssl_ecg.pictures import show_reconstruction

    path = show_reconstruction(run_dir, out, recipe, n, seed)
    err_console.print(f"wrote {path}")


ModelArg = Annotated[
    str,
    typer.Argument(
        help="export folder, run directory, checkpoint, 'random' or a baseline "
        "(handcrafted, minirocket; see list-plugins --kind baseline)"
    ),
]
FractionsOpt = Annotated[
    str, typer.Option(help="comma-separated fractions of training labels, e.g. 0.01,0.1,1")
]
TaskSetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="task setting, e.g. --set root=../data/mitdb; data.KEY=VALUE sets a key of "
        "every dataset the task reads, e.g. --set data.labels_file=labels.csv",
    ),
]
FeaturesOpt = Annotated[
    str,
    typer.Option(
        help="comma-separated: embedding, side (the task's side features, e.g. RR "
        "intervals) or embedding+side"
    ),
]
CompareOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="results folder of another model on the same task: report paired differences "
        "against it; [LABEL=]DIR[@FEATURES] names it and picks its features (repeatable)"
    ),
]
CvOpt = Annotated[
    int,
    typer.Option(
        "--cv",
        help="K-fold cross-validation over the task's windows pooled (folds grouped by "
        "patient, stratified by label); 0 = the task's own train/test split",
    ),
]


@app.command()
def evaluate(
    model: ModelArg,
    task: Annotated[str, typer.Option(help="task plugin, e.g. mitbih-aami")],
    protocol: Annotated[str, typer.Option(help="linear, knn or finetune")] = "linear",
    label_fraction: FractionsOpt = "1",
    set_: TaskSetOpt = None,
    features: FeaturesOpt = "embedding",
    compare: CompareOpt = None,
    recipe: Annotated[
        Path | None, typer.Option(help="recipe (data contract) for MODEL 'random' or a baseline")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="results folder")] = None,
    seed: int = 0,
    allow_leakage: Annotated[
        bool, typer.Option("--allow-leakage", help="score even if test patients were pretrained on")
    ] = False,
    device: str = "auto",
    cv: CvOpt = 0,
    finetune_steps: Annotated[
        int, typer.Option(help="--protocol finetune: training steps (batch 128, early stopping)")
    ] = 300,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="recipe whose \\[data] section is the task's dataset (as embed reads it), e.g. "
            "--task labels --data af.toml; --set data.KEY=VALUE changes one of its keys",
        ),
    ] = None,
) -> None:
    """Score an encoder on a labelled task: results.json, results.md, confusion.png."""
    from ssl_ecg.evaluation import check_request, load_model, load_task
    from ssl_ecg.evaluation import evaluate as run_evaluation

    settings, data_settings = _task_settings(set_ or [])
    if cv == 1 or cv < 0:
        raise SslEcgError(f"--cv {cv}: give at least 2 folds (or 0 for the task's own split)")
    fractions = _fractions(label_fraction)
    from ssl_ecg.outputs import output_dir

    out = output_dir(out or Path("results") / f"{task}-{protocol}-{datetime.now():%Y%m%d-%H%M%S}",
                     "--out")  # fmt: skip
    comparisons = _comparisons(compare or [])
    feature_list = [f.strip() for f in features.split(",") if f.strip()]
    check_request(protocol, fractions, feature_list, comparisons)  # before any work
    m = load_model(model, recipe)
    loaded = load_task(task, settings, m, seed, Path.cwd(), data_settings, cv=cv > 0,
                       data_file=data)  # fmt: skip
    summary = run_evaluation(m, task, loaded, protocol, fractions, out, features=feature_list,
                             compare=comparisons, seed=seed, allow_leakage=allow_leakage,
                             device=device, progress=sys.stderr.isatty(), cv=cv,
                             finetune_steps=finetune_steps)  # fmt: skip
    typer.echo((out / "results.md").read_text())
    err_console.print(f"results in {out} ({summary['wall_s']} s)")


def _task_settings(items: list[str]) -> tuple[dict, dict]:
    """``--set`` items of evaluate: task settings, and ``data.KEY`` ones for its datasets."""
    from ssl_ecg.recipe import apply_override, parse_override

    settings: dict = {}
    data_settings: dict = {}
    for item in items:
        parts, value = parse_override(item)
        if parts[0] == "data" and len(parts) > 1:
            apply_override(data_settings, parts[1:], value, item)
        else:
            apply_override(settings, parts[1:] if parts[0] == "task" else parts, value, item)
    return settings, data_settings


def _fractions(text: str) -> list[float]:
    try:
        return [float(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise SslEcgError(f"--label-fraction '{text}': expected numbers like 0.01,0.1,1") from None


def _comparisons(items: list[str]) -> list:
    """``--compare [LABEL=]DIR[@FEATURES]`` items, labelled uniquely."""
    from ssl_ecg.evaluation import Comparison

    comparisons: list[Comparison] = []
    for item in items:
        label, eq, rest = item.partition("=")
        folder, _, feats = (rest if eq else item).partition("@")
        path = Path(folder)
        if not eq:  # name it after its folder (a benchmark cell's, for .../CELL/eval)
            label = path.parent.name if path.name.startswith("eval") else path.name
        if any(c.label == label for c in comparisons):
            label = f"{label}#{len(comparisons) + 1}"
        comparisons.append(Comparison(label, path, feats or None))
    return comparisons


@app.command("embed")
def embed_cmd(
    model: Annotated[
        str, typer.Argument(help="export folder, run directory, checkpoint or 'random'")
    ],
    recipe: Annotated[
        Path, typer.Argument(help="recipe whose \\[data] to embed", show_default=False)
    ],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="embeddings file: .npz (or .parquet with pyarrow)")
    ],
    per: Annotated[str, typer.Option(help="one row per 'window' or per 'record'")] = "window",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="data key, e.g. --set data.labels_file=labels.csv"),
    ] = None,
    stride_s: Annotated[
        float | None, typer.Option(help="window hop (s); default data.stride_s, else no overlap")
    ] = None,
    device: str = "cpu",
) -> None:
    """Embed every window (or record) of a recipe's data, with record, patient, start, labels."""
    from ssl_ecg.embed import embed_recipe
    from ssl_ecg.recipe import apply_override, parse_override

    data_settings: dict = {}
    for item in set_ or []:
        parts, value = parse_override(item)
        if parts[0] != "data" or len(parts) < 2:
            raise SslEcgError(f"--set '{item}': embed takes data keys, e.g. --set data.root=DIR")
        apply_override(data_settings, parts[1:], value, item)
    summary = embed_recipe(model, recipe, out, per=per, data=data_settings, stride_s=stride_s,
                           device=device, progress=sys.stderr.isatty())  # fmt: skip
    err_console.print(f"{summary['rows']} rows of {summary['dim']} dimensions written to {out}")


@app.command()
def benchmark(
    grid: Annotated[Path, typer.Argument(help="grid TOML, e.g. benchmarks/grid.toml")],
    out: Annotated[Path, typer.Option(help="results folder")] = Path("benchmark-results"),
) -> None:
    """Pretrain and evaluate every objective x encoder of a grid; resumable."""
    from ssl_ecg.benchmark import run_grid
    from ssl_ecg.outputs import output_dir

    output_dir(out, "--out")
    rows = run_grid(grid, out, progress=sys.stderr.isatty())
    typer.echo((out / "results.md").read_text())
    err_console.print(f"{len(rows)} rows in {out / 'results.csv'}; plot {out / 'results.png'}")


@app.command("new-plugin")
def new_plugin_cmd(
    kind: Annotated[
        str, typer.Argument(help="objective, encoder, augmentation, dataset, task or logger")
    ],
    name: Annotated[str, typer.Argument(help="the name recipes will use, e.g. my-loss")],
    dir_: Annotated[Path, typer.Option("--dir", help="folder to write ssl-ecg-NAME/ in")] = Path(
        "."
    ),
) -> None:
    """Write an installable plugin package (entry point, module, conformance test)."""
    from ssl_ecg.scaffold import new_plugin

    path = new_plugin(kind, name, dir_)
    err_console.print(f"wrote {path}/; next: cd {path} && pip install -e . && pytest")


data_app = typer.Typer(help="Prepare and inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("prepare")
def data_prepare(
    recipe: RecipeArg,
    set_: SetOpt = None,
    skip_bad: Annotated[
        bool,
        typer.Option(
            "--skip-bad",
            help="skip unreadable records (and records without a row in data.labels_file); "
            "list them in a report",
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="worker processes; 0 = one per core")] = 0,
) -> None:
    """Read, preprocess and cache the recipe's dataset (R-peaks included)."""
    from ssl_ecg.recipe import load_data_recipe
    from ssl_ecg.sources import prepare_all

    r = load_data_recipe(recipe, set_)
    for result in prepare_all(r, workers=workers, skip_bad=skip_bad,
                              progress=sys.stderr.isatty()):  # fmt: skip
        meta = result.store.meta
        verb = f"built in {meta['seconds']} s" if result.built else "up to date (reused)"
        name = meta["dataset"]["name"]
        err_console.print(f"{name}: {meta['n_records']} records {verb}: {result.store.folder}")
        if meta["skipped"]:
            reasons = Counter(_reason_kind(s.get("reason", "")) for s in meta["skipped"])
            what = ", ".join(f"{n} {kind}" for kind, n in reasons.most_common())
            err_console.print(
                f"[yellow]skipped {len(meta['skipped'])}: {what}[/yellow]; first: "
                f"{meta['skipped'][0].get('record')} ({meta['skipped'][0].get('reason')}); "
                f"all in {result.store.folder / 'skipped.json'}"
            )


def _reason_kind(reason: str) -> str:
    if reason.startswith("no row in"):
        return "record(s) without a label"
    if reason.startswith("id of the labels file"):
        return "label id(s) matching no record"
    return "unreadable or bad record(s)"


@data_app.command("info")
def data_info(
    recipe: RecipeArg,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    label: Annotated[
        str | None,
        typer.Option(
            help="label to count in full per split (default: the labels file's first "
            "column); every other label gets one line"
        ),
    ] = None,
) -> None:
    """Records, patients, hours, fs, leads, labels per split and skipped records."""
    from ssl_ecg.recipe import load_data_recipe
    from ssl_ecg.sources import open_prepared, summary

    r = load_data_recipe(recipe, set_)
    infos = [summary(open_prepared(r, src), r, src, label) for src in r.sources]
    if as_json:
        typer.echo(json.dumps(infos[0] if len(infos) == 1 else infos, indent=2))
        return
    for info in infos:
        _print_info(info)


@data_app.command("validate")
def data_validate(recipe: RecipeArg, set_: SetOpt = None) -> None:
    """Check a recipe's \\[data] without preparing: plugins, settings, leads, labels file."""
    from ssl_ecg.data.labels import LabelledSource
    from ssl_ecg.recipe import load_data_recipe
    from ssl_ecg.sources import build_sources, check_leads

    r = load_data_recipe(recipe, set_)
    built = build_sources(r)
    check_leads(r, built)
    for b in built:
        if isinstance(b.records, LabelledSource):
            b.records.check()
        n = len(b.records.keys())
        err_console.print(f"[green]ok[/green]: {b.source.key} ({b.source.name}): {n} records")


def _print_info(info: dict) -> None:
    console = Console()
    console.print(
        f"[bold]{info['dataset']}[/bold]: {info['records']} records, {info['patients']} patients, "
        f"{info['hours']} h at {info['fs']:g} Hz, leads {', '.join(info['leads'])}, "
        f"{info['windows']} windows\ncache: {info['cache']}"
    )
    beats = any(s["beats"] for s in info["splits"].values())
    table = Table("split", "records", "patients", "hours", *(["beats"] if beats else []))
    for name, s in info["splits"].items():
        counts = [", ".join(f"{k}: {v}" for k, v in s["beats"].items())] if beats else []
        table.add_row(name, str(s["records"]), str(s["patients"]), str(s["hours"]), *counts)
    console.print(table)
    _print_labels(console, info)
    for item in info["skipped"]:
        console.print(f"[yellow]skipped[/yellow] {item['record']}: {item['reason']}")
    for rec, leads in info.get("flat_leads_masked", {}).items():
        console.print(f"[yellow]flat lead(s) masked[/yellow] {rec}: {', '.join(leads)}")


def _print_labels(console: Console, info: dict) -> None:
    """The chosen label's records per value and split, then one line per other label."""
    chosen = info.get("label")
    if chosen:
        splits = list(next(iter(chosen["values"].values()), chosen["missing"]))
        console.print(
            f"label '{chosen['name']}' ({chosen['chosen_by']}; --label KEY picks another), "
            "records per value:", markup=False, highlight=False,
        )  # fmt: skip
        table = Table("value", *splits)
        for value, counts in chosen["values"].items():
            table.add_row(value, *(str(counts[s]) for s in splits))
        if any(chosen["missing"].values()):
            table.add_row("(none)", *(str(chosen["missing"][s]) for s in splits))
        console.print(table)
    if info.get("other_labels"):
        console.print("other labels" if chosen else "labels", "(distinct values, records, e.g.):")
    for other in info.get("other_labels", []):
        examples = ", ".join(e if len(e) <= 30 else e[:29] + "…" for e in other["examples"])
        console.print(
            f"  {other['name']}: {other['distinct']} distinct in {other['records']} records, "
            f"e.g. {examples}",
            markup=False,
            highlight=False,
        )


def main() -> None:
    """Console-script entry point: adds plugin commands, then runs the app."""
    from ssl_ecg.registry import get_registry

    get_registry().add_commands(app)
    app()


if __name__ == "__main__":
    main()
