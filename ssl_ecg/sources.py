"""A recipe's datasets: each source built once, its leads checked, prepared into its cache,
its training records and summary. The recipe-level face of :mod:`ssl_ecg.data.prepare`."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ssl_ecg.data.labels import LabelledSource
from ssl_ecg.data.prepare import Dataset, Prepared, cache_folder, prepare_source
from ssl_ecg.data.record import DatasetContext, RecordSource
from ssl_ecg.data.store import Store
from ssl_ecg.errors import DataError, RecipeError, SslEcgError, did_you_mean
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


def summary(
    store: Store, recipe: DataRecipe, source: Source | None = None, label: str | None = None
) -> dict[str, Any]:
    """What ``ssl-ecg data info`` shows: sizes, settings, labels per split, skipped records;
    ``label`` (default: the labels file's first column, else the first label with text
    values) counted in full, every other label in one line (see :func:`label_summary`)."""
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
        **label_summary(store, splits, label),
        "flat_leads_masked": {
            r["record_id"]: r["flat_leads"] for r in store.records if r.get("flat_leads")
        },
        "skipped": meta["skipped"],
        "prepare_seconds": meta["seconds"],
    }


EXAMPLES = 3  # values shown of a label that is not the chosen one


def label_summary(store: Store, splits: dict[str, Any], label: str | None = None) -> dict[str, Any]:
    """``label``: the chosen label's records per value and split (a record with several
    labels counts for each, one without is ``missing``) and why it was chosen;
    ``other_labels``: per other label its number of distinct values, of records that have
    it, and the most common few values."""
    keys = list(dict.fromkeys(k for rec in store.records for k in rec["labels"]))
    name, why = _chosen_label(store, keys, label)
    values = {k: [_values(rec["labels"].get(k)) for rec in store.records] for k in keys}
    chosen = None
    if name is not None:
        counts, missing = _value_counts(values[name], splits)
        chosen = {"name": name, "chosen_by": why, "missing": missing, "values": counts}
    others = []
    for key in keys:
        if key != name:
            seen = Counter(v for vs in values[key] for v in vs)
            others.append({"name": key, "distinct": len(seen),
                           "records": sum(bool(vs) for vs in values[key]),
                           "examples": [v for v, _ in seen.most_common(EXAMPLES)]})  # fmt: skip
    return {"label": chosen, "other_labels": others}


def _value_counts(
    values: list[list[str]], splits: dict[str, Any]
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Records per value and split ("all": every record), most common first, and records
    without a value per split."""
    parts = [*splits.items(), ("all", range(len(values)))]
    counts: dict[str, Counter[str]] = {}
    missing: dict[str, int] = {}
    for split, recs in parts:
        missing[split] = sum(not values[i] for i in recs)
        for i in recs:
            for v in values[i]:
                counts.setdefault(v, Counter())[split] += 1
    order = sorted(counts, key=lambda v: (-counts[v]["all"], v))
    return {v: {split: counts[v][split] for split, _ in parts} for v in order}, missing


def _chosen_label(store: Store, keys: list[str], label: str | None) -> tuple[str | None, str]:
    """The label ``data info`` counts in full, and why that one."""
    if label is not None:
        if label not in keys:
            raise DataError(
                f"--label '{label}': no record has this label{did_you_mean(label, keys)} "
                f"(labels: {', '.join(keys) or 'none'})"
            )
        return label, "--label"
    if store.labelled is not None:
        first = next((c for c in store.labelled.table.columns if c in keys), None)
        if first is not None:
            return first, f"first column of {store.labelled.file.name}"
    for key in keys:
        if any(isinstance(rec["labels"].get(key), str | list) for rec in store.records):
            return key, "first label with text values"
    return None, ""


def _values(value: Any) -> list[str]:
    """A label's values as text: several for a list, none when missing."""
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True)[:40]]
    items = value if isinstance(value, list) else [value]
    return [f"{v:g}" if isinstance(v, float) else str(v) for v in items if not _missing(v)]


def _missing(value: Any) -> bool:
    """None or NaN: no label (a column that is missing everywhere is not listed)."""
    return value is None or (isinstance(value, float) and value != value)
