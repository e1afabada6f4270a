"""The ``ssl-ecg`` command line. Each command parses its arguments and calls the library."""

from __future__ import annotations

import json
import os
import sys
import traceback
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
        table.add_column(col)
    for row in rows:
        summary = row["summary"]
        if row["status"] != "ok":
            summary = f"[red]{row['status']}: {row.get('error', '')}[/red]"
        table.add_row(row["kind"], row["name"], summary, row["distribution"], row["version"])
    Console().print(table)


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

    typer.echo(load_recipe(recipe, set_).to_toml())


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


@app.command()
def evaluate(
    model: Annotated[
        str,
        typer.Argument(
            help="export folder, run directory, checkpoint, 'random' or a baseline "
            "(handcrafted, minirocket; see list-plugins --kind baseline)"
        ),
    ],
    task: Annotated[str, typer.Option(help="task plugin, e.g. mitbih-aami")],
    protocol: Annotated[str, typer.Option(help="linear, knn or finetune")] = "linear",
    label_fraction: Annotated[
        str, typer.Option(help="comma-separated fractions of training labels, e.g. 0.01,0.1,1")
    ] = "1",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="task setting, e.g. --set root=../data/mitdb")
    ] = None,
    features: Annotated[
        str,
        typer.Option(
            help="comma-separated: embedding, side (the task's side features, e.g. RR "
            "intervals) or embedding+side"
        ),
    ] = "embedding",
    compare: Annotated[
        list[str] | None,
        typer.Option(
            help="results folder of another model on the same task: report paired differences "
            "against it; [LABEL=]DIR[@FEATURES] names it and picks its features (repeatable)"
        ),
    ] = None,
    recipe: Annotated[
        Path | None, typer.Option(help="recipe (data contract) for MODEL 'random' or a baseline")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="results folder")] = None,
    seed: int = 0,
    allow_leakage: Annotated[
        bool, typer.Option("--allow-leakage", help="score even if test patients were pretrained on")
    ] = False,
    device: str = "auto",
) -> None:
    """Score an encoder on a labelled task: results.json, results.md, confusion.png."""
    from ssl_ecg.evaluate import Comparison, check_request, load_model, load_task
    from ssl_ecg.evaluate import evaluate as run_evaluation
    from ssl_ecg.recipe import apply_override, parse_override

    settings: dict = {}
    for item in set_ or []:
        parts, value = parse_override(item)
        apply_override(settings, parts[1:] if parts[0] == "task" else parts, value, item)
    try:
        fractions = [float(f) for f in label_fraction.split(",") if f.strip()]
    except ValueError:
        raise SslEcgError(
            f"--label-fraction '{label_fraction}': expected numbers like 0.01,0.1,1"
        ) from None
    from ssl_ecg.outputs import output_dir

    out = output_dir(out or Path("results") / f"{task}-{protocol}-{datetime.now():%Y%m%d-%H%M%S}",
                     "--out")  # fmt: skip
    comparisons: list[Comparison] = []
    for item in compare or []:
        label, eq, rest = item.partition("=")
        folder, _, feats = (rest if eq else item).partition("@")
        path = Path(folder)
        if not eq:  # name it after its folder (a benchmark cell's, for .../CELL/eval)
            label = path.parent.name if path.name.startswith("eval") else path.name
        if any(c.label == label for c in comparisons):
            label = f"{label}#{len(comparisons) + 1}"
        comparisons.append(Comparison(label, path, feats or None))
    feature_list = [f.strip() for f in features.split(",") if f.strip()]
    check_request(protocol, fractions, feature_list, comparisons)  # before any work
    m = load_model(model, recipe)
    data = load_task(task, settings, m, seed, Path.cwd())
    summary = run_evaluation(m, task, data, protocol, fractions, out, features=feature_list,
                             compare=comparisons, seed=seed, allow_leakage=allow_leakage,
                             device=device, progress=sys.stderr.isatty())  # fmt: skip
    typer.echo((out / "results.md").read_text())
    err_console.print(f"results in {out} ({summary['wall_s']} s)")


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


data_app = typer.Typer(help="Prepare and inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("prepare")
def data_prepare(
    recipe: RecipeArg,
    set_: SetOpt = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="skip unreadable records; list them in a report")
    ] = False,
    workers: Annotated[int, typer.Option(help="worker processes; 0 = one per core")] = 0,
) -> None:
    """Read, preprocess and cache the recipe's dataset (R-peaks included)."""
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.sources import prepare_all

    r = load_recipe(recipe, set_)
    for result in prepare_all(r, workers=workers, skip_bad=skip_bad,
                              progress=sys.stderr.isatty()):  # fmt: skip
        meta = result.store.meta
        verb = f"built in {meta['seconds']} s" if result.built else "up to date (reused)"
        name = meta["dataset"]["name"]
        err_console.print(f"{name}: {meta['n_records']} records {verb}: {result.store.folder}")
        if meta["skipped"]:
            err_console.print(
                f"[yellow]skipped {len(meta['skipped'])} bad record(s)[/yellow], "
                f"listed in {result.store.folder / 'skipped.json'}"
            )


@data_app.command("info")
def data_info(
    recipe: RecipeArg,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Records, patients, hours, fs, leads, labels per split and skipped records."""
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.sources import open_prepared, summary

    r = load_recipe(recipe, set_)
    infos = [summary(open_prepared(r, src), r, src) for src in r.sources]
    if as_json:
        typer.echo(json.dumps(infos[0] if len(infos) == 1 else infos, indent=2))
        return
    for info in infos:
        _print_info(info)


def _print_info(info: dict) -> None:
    console = Console()
    console.print(
        f"[bold]{info['dataset']}[/bold]: {info['records']} records, {info['patients']} patients, "
        f"{info['hours']} h at {info['fs']:g} Hz, leads {', '.join(info['leads'])}, "
        f"{info['windows']} windows\ncache: {info['cache']}"
    )
    table = Table("split", "records", "patients", "hours", "labels", "beats")
    for name, s in info["splits"].items():
        labels = ", ".join(f"{k}: {v}" for k, v in s["labels"].items())
        beats = ", ".join(f"{k}: {v}" for k, v in s["beats"].items())
        table.add_row(name, str(s["records"]), str(s["patients"]), str(s["hours"]), labels, beats)
    console.print(table)
    for item in info["skipped"]:
        console.print(f"[yellow]skipped[/yellow] {item['record']}: {item['reason']}")
    for rec, leads in info.get("flat_leads_masked", {}).items():
        console.print(f"[yellow]flat lead(s) masked[/yellow] {rec}: {', '.join(leads)}")


def main() -> None:
    """Console-script entry point: adds plugin commands, then runs the app."""
    from ssl_ecg.registry import get_registry

    get_registry().add_commands(app)
    app()


if __name__ == "__main__":
    main()
