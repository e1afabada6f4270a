"""A recipe's datasets: each source built once, its leads checked, prepared into its cache,
its training records and summary. The recipe-level face of :mod:`ssl_ecg.data.prepare`."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from ssl_ecg.data.labels import LabelledSource
from ssl_ecg.data.prepare import Dataset, Prepared, cache_folder, prepare_source
from ssl_ecg.data.record import DatasetContext, RecordSource
from ssl_ecg.data.store import Store
from ssl_ecg.errors import DataError, RecipeError, SslEcgError
from ssl_ecg.factory import _call
from ssl_ecg.recipe import DataRecipe, Source


@dataclasses.dataclass
class Built:
    """One of the recipe's sources and the record source its plugin built (built once)."""

    source: Source
    records: RecordSource

    @property
    def dataset(self) -> Dataset:
        spec = self.source.component.spec
        settings = self.source.component.config.model_dump(mode="json")
        return Dataset(spec.name, spec.plugin, spec.distribution, spec.version, settings)


def build_source(recipe: DataRecipe, source: Source | None = None) -> RecordSource:
    """The record source of one of the recipe's datasets (default: the first)."""
    src = source or recipe.sources[0]
    here = recipe.path.parent.resolve()
    records = _call(recipe, src.component, DatasetContext(recipe_dir=here, seed=recipe.seed))
    pre = src.preprocess
    if pre.labels_file is None:
        return records
    file = (here / Path(pre.labels_file).expanduser()).resolve()
    try:
        return LabelledSource(records, file, skip=pre.skip_unlabelled)
    except SslEcgError as exc:
        raise RecipeError(f"{recipe.path}: {src.key}.labels_file: {exc}") from None


def build_sources(recipe: DataRecipe) -> list[Built]:
    """Every source of the recipe, built by its plugin (once per command)."""
    return [Built(src, build_source(recipe, src)) for src in recipe.sources]


def recipe_leads(recipe: DataRecipe, built: list[Built] | None = None) -> list[str]:
    """The leads the recipe's windows have: ``data.leads``, else its dataset's own."""
    pre = recipe.preprocess
    if pre.leads is not None:
        return pre.lead_names([])
    first = built[0].records if built else build_source(recipe)
    return pre.lead_names(list(first.leads))


def carried_leads(requested: list[str], available: list[str], lead_map: dict[str, str]) -> set[str]:
    """The requested leads a dataset with leads ``available`` can fill (names, synonyms and
    the lead map, as :func:`ssl_ecg.data.preprocess.select_leads` matches them)."""
    from ssl_ecg.data.preprocess import canonical_lead

    names = [lead_map.get(n, n) for n in available]
    upper = {n.upper() for n in names} | {canonical_lead(n) for n in names}
    return {r for r in requested if r.upper() in upper or canonical_lead(r) in upper}


def check_leads(recipe: DataRecipe, built: list[Built]) -> None:
    """A requested lead that no source can carry would be zeros in every window: refuse it."""
    if recipe.preprocess.leads is None:
        return
    requested = recipe.preprocess.lead_names([])
    found: set[str] = set()
    names = []
    for b in built:
        available = list(b.records.leads)
        names.append(f"{b.source.name}: {', '.join(available)}")
        found |= carried_leads(requested, available, b.source.preprocess.lead_map)
    missing = [r for r in requested if r not in found]
    if missing:
        raise DataError(
            f"{recipe.path}: data.leads: {', '.join(missing)} is in no record of the data "
            f"({'; '.join(names)}); remove it from data.leads or map a lead to it with "
            "data.lead_map"
        )


def prepare_all(
    recipe: DataRecipe, built: list[Built] | None = None, **kwargs: Any
) -> list[Prepared]:
    """Every source of the recipe, prepared (in recipe order)."""
    built = built if built is not None else build_sources(recipe)
    check_leads(recipe, built)
    here = recipe.path.parent.resolve()
    out = []
    for b in built:
        prepared = prepare_source(b.dataset, b.records, b.source.preprocess, here, **kwargs)
        prepared.source = b.source
        if isinstance(b.records, LabelledSource):  # errors on a label can name its file's row
            prepared.store.labelled = b.records
        out.append(prepared)
    return out


def prepare(recipe: DataRecipe, **kwargs: Any) -> Prepared:
    """The prepared data of a single-source recipe (see :func:`prepare_all` for several)."""
    if len(recipe.sources) != 1:
        raise DataError(f"{recipe.path}: {len(recipe.sources)} sources; prepare them one by one")
    return prepare_all(recipe, **kwargs)[0]


def open_prepared(recipe: DataRecipe, source: Source | None = None) -> Store:
    """The existing cache of a source (default: the only one), or how to make it."""
    src = source or recipe.sources[0]
    b = Built(src, build_source(recipe, src))
    folder, *_ = cache_folder(b.dataset, b.records, src.preprocess, recipe.path.parent.resolve())
    if not (folder / "meta.json").is_file():
        raise DataError(
            f"{recipe.path}: data not prepared (looked in {folder}); "
            f"run: ssl-ecg data prepare {recipe.path}"
        )
    store = Store(folder)
    if isinstance(b.records, LabelledSource):
        store.labelled = b.records
    return store


def training_records(store: Store, recipe: DataRecipe, source: Source | None = None) -> Any:
    """Record indices of the source's ``split`` (all records when it is not set)."""
    src = source or recipe.sources[0]
    pre = src.preprocess
    if pre.split is None:
        return None
    splits = store.splits(pre.split_fractions, pre.split_seed)
    if pre.split not in splits:
        key = "data.split" if src.own is None else f"{src.key}.split"
        raise DataError(
            f"{recipe.path}: {key} = '{pre.split}' is not a split of this dataset; "
            f"its splits: {', '.join(splits)}"
        )
    return splits[pre.split]


def summary(store: Store, recipe: DataRecipe, source: Source | None = None) -> dict[str, Any]:
    """What ``ssl-ecg data info`` shows: sizes, settings, labels per split, skipped records."""
    pre = (source or recipe.sources[0]).preprocess
    splits = store.splits(pre.split_fractions, pre.split_seed)
    per_split = {}
    for name, recs in splits.items():
        labels: Counter[str] = Counter()
        beats: Counter[str] = Counter()
        for i in recs:
            rec = store.records[i]
            for key, value in rec["labels"].items():
                values = value if isinstance(value, list) else [value]
                if key in ("heart_rate", "age") or isinstance(value, dict):
                    continue
                labels.update(f"{key}={v}" for v in values if not _missing(v))
            a, n = int(rec["start"]), int(rec["n_samples"])
            lo, hi = store.beats.searchsorted(a), store.beats.searchsorted(a + n)
            beats.update(str(b) for b in store.beat_labels[lo:hi])
        per_split[name] = {
            "records": len(recs),
            "patients": len({store.patient_ids[i] for i in recs}),
            "hours": round(float(store.rec_len[recs].sum()) / store.fs / 3600, 3),
            "labels": dict(labels.most_common(12)),
            "beats": dict(sorted(beats.items())),
        }
    meta = store.meta
    return {
        "cache": str(store.folder),
        "dataset": meta["dataset"]["name"],
        "records": meta["n_records"],
        "patients": len(set(store.patient_ids)),
        "hours": round(meta["n_samples"] / store.fs / 3600, 3),
        "fs": store.fs,
        "leads": store.leads,
        "preprocessing": meta["preprocessing"],
        "windows": len(store.windows(pre.window_s, pre.stride_s)),
        "labels_file": pre.labels_file,
        "splits": per_split,
        "flat_leads_masked": {
            r["record_id"]: r["flat_leads"] for r in store.records if r.get("flat_leads")
        },
        "skipped": meta["skipped"],
        "prepare_seconds": meta["seconds"],
    }


def _missing(value: Any) -> bool:
    """None or NaN: no label (a column that is missing everywhere is not listed)."""
    return value is None or (isinstance(value, float) and value != value)
