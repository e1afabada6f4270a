"""The model to evaluate: an export, a run, a checkpoint, a random-init encoder or a baseline,
with its data contract and the patients and records it was pretrained on."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ssl_ecg.errors import SslEcgError
from ssl_ecg.interfaces import Encoder
from ssl_ecg.tasks import Baseline, BaselineContext

WINDOW_KEYS = ("window_s", "stride_s")  # a recipe's windows; the model's window length rules


@dataclasses.dataclass
class Model:
    contract: dict[str, Any]  # fs, leads, n_samples, preprocessing, dataset
    # dataset name -> patients pretrained on; empty for a random-init encoder or a baseline
    pretrained_patients: dict[str, list[str]]
    description: str
    encoder: Encoder | None = None
    baseline: Baseline | None = None  # a feature map that needs no pretraining
    # content fingerprints of the pretraining records, whatever dataset plugin read them
    pretrained_records: frozenset[str] = frozenset()
    run_dir: Path | None = None  # the run the weights come from (its loggers get the scores)
    step: int | None = None  # the training step of the weights, for a run


def load_model(
    spec: str, recipe: Path | None = None, sets: list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> Model:  # fmt: skip
    """An export folder, a run directory, a checkpoint, ``random`` or a baseline's name (the
    last two need a recipe for the data contract; ``settings`` are the baseline's own)."""
    from ssl_ecg.export import export, load_encoder
    from ssl_ecg.registry import get_registry

    path, run = Path(spec), None
    if path.is_file() and path.suffix == ".pt" and path.name != "last.pt":
        run = path.parent.parent  # <run>/checkpoints/step_NNNNNNN.pt
        folder = run / f"export-{path.stem}"
        export(run, folder, path)
        encoder, meta = load_encoder(folder)
        desc = f"run {run} (step {meta['pretraining']['step']})"
        return Model(meta["data"], pretrained_patients(meta), desc, encoder=encoder,
                     pretrained_records=pretrained_records(meta), run_dir=run,
                     step=meta["pretraining"]["step"])  # fmt: skip
    if path.is_file() and path.suffix == ".pt":
        path = path.parent.parent  # <run>/checkpoints/last.pt
    if (path / "encoder.json").is_file():
        encoder, meta = load_encoder(path)
        desc = f"export {path}"
    elif (path / "checkpoints" / "last.pt").is_file():
        folder = path / "export"
        export(path, folder)
        encoder, meta = load_encoder(folder)
        desc = f"run {path} (step {meta['pretraining']['step']})"
        run = path
    elif spec == "random" or spec in get_registry().names("baseline"):
        return _recipe_model(spec, recipe, sets, settings or {})
    else:
        baselines = ", ".join(get_registry().names("baseline"))
        raise SslEcgError(
            f"{spec}: not a model; give an export folder (encoder.json), a run directory, its "
            f"checkpoints/last.pt, 'random' or a baseline ({baselines}) with --recipe"
        )
    return Model(meta["data"], pretrained_patients(meta), desc, encoder=encoder,
                 pretrained_records=pretrained_records(meta), run_dir=run,
                 step=meta["pretraining"]["step"] if run else None)  # fmt: skip


def pretrained_records(meta: dict[str, Any]) -> frozenset[str]:
    """Content fingerprints of every record an export was pretrained on."""
    sources = meta["pretraining"].get("sources") or []
    return frozenset(f for src in sources for f in src.get("fingerprints", []) if f)


def pretrained_patients(meta: dict[str, Any]) -> dict[str, list[str]]:
    """Per dataset, the patients an export was pretrained on."""
    out: dict[str, set[str]] = {}
    for src in meta["pretraining"].get("sources") or []:
        out.setdefault(src["dataset"], set()).update(src["patients"])
    if not out:  # an export from before pretraining had several sources
        out[meta["data"]["dataset"]] = set(meta["pretraining"]["patients"])
    return {k: sorted(v) for k, v in out.items()}


def _recipe_model(
    name: str, recipe_path: Path | None, sets: list[str] | None, settings: dict[str, Any]
) -> Model:
    """A random-init encoder, or a baseline, under the data contract of a recipe."""
    from ssl_ecg.build import build_encoder
    from ssl_ecg.recipe import _validate, load_recipe
    from ssl_ecg.registry import get_registry
    from ssl_ecg.runtime import data_contract, seed_everything
    from ssl_ecg.sources import recipe_leads

    if recipe_path is None:
        raise SslEcgError(f"MODEL '{name}' needs --recipe naming the data settings (and encoder)")
    recipe = load_recipe(recipe_path, sets)
    leads = recipe_leads(recipe)
    contract = data_contract(recipe, leads)
    if name == "random":
        seed_everything(recipe.train.seed)
        encoder = build_encoder(recipe, leads)
        return Model(contract, {}, f"random init ({recipe_path})", encoder=encoder.eval())
    spec = get_registry().get("baseline", name)
    config = _validate(spec.config, settings, f"baseline {name}")
    ctx = BaselineContext(float(contract["fs"]), list(leads), recipe.train.seed)
    return Model(contract, {}, f"baseline {name}", baseline=spec.factory(config, ctx))


def contract_data(
    contract: dict[str, Any], table: dict[str, Any], path: Path, seed: int,
    data: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    """A dataset table (``[data]``-like, plus ``data``: the ``--set data.KEY=VALUE`` keys) as a
    :class:`~ssl_ecg.recipe.DataRecipe` under a model's data contract: its rate, leads, filters
    and normalisation; how the dataset names its leads (``lead_map``) stays the table's. The
    table (a recipe's ``[data]``, a task's ``dataset``) is validated as any ``[data]``: the same
    keys (``labels_file``, ``skip_unlabelled``...) work in each; the window is the model's."""
    from ssl_ecg.recipe import data_recipe

    # the model's preprocessing, except how a dataset names its leads (a task may map them)
    stored = {k: v for k, v in contract["preprocessing"].items() if k not in ("leads", "lead_map")}
    data = dict(data or {})
    fixed = [k for k in data if k in stored or k == "leads"]
    if fixed:
        key = fixed[0]
        have = contract["leads"] if key == "leads" else stored[key]
        raise SslEcgError(
            f"--set data.{key}: the model's data contract fixes it ({have!r}); data is read "
            "under the model's own preprocessing (map lead names with data.lead_map)"
        )
    table = {k: v for k, v in table.items() if k not in WINDOW_KEYS}  # the model's window
    doc = {**table, **data, **stored, "leads": list(contract["leads"])}
    return data_recipe(doc, path, seed)


def recipe_data_table(path: Path) -> dict[str, Any]:
    """The ``[data]`` table of a recipe file, as written (a file with only ``[data]`` will
    do): what ``embed`` and ``evaluate --data`` read under a model's contract; relative paths
    in it are read from the file's folder, as everywhere in a recipe."""
    from ssl_ecg.recipe import _read

    doc = _read(path, None)
    if not isinstance(doc.get("data"), dict):
        raise SslEcgError(f"{path}: [data]: table is missing; the recipe names the data to read")
    return dict(doc["data"])
