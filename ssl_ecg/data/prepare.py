"""Recipe -> prepared cache: find it by content hash, or build it (with a progress bar)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ssl_ecg.build import build_source
from ssl_ecg.data.cache import CACHE_FORMAT, build_cache, cache_root, content_hash
from ssl_ecg.data.store import Store
from ssl_ecg.errors import DataError
from ssl_ecg.interfaces import RecordSource
from ssl_ecg.outputs import remove_stale
from ssl_ecg.recipe import DataRecipe, Source


@dataclasses.dataclass
class Prepared:
    store: Store
    built: bool  # False when an existing cache was reused
    source: Source | None = None  # which of the recipe's sources it is


def describe(source: Source, built: RecordSource, leads: list[str]) -> dict[str, Any]:
    """Everything that determines the stored data (hashed into the cache folder's name)."""
    spec = source.component.spec
    return {
        "format": CACHE_FORMAT,
        "dataset": {
            "name": spec.name,
            "plugin": spec.plugin,
            "distribution": spec.distribution,
            "version": spec.version,
            "settings": source.component.config.model_dump(mode="json"),
        },
        "source_identity": built.identity(),
        "preprocessing": {**source.preprocess.stored(), "leads": leads},
    }


def locate(
    recipe: DataRecipe, source: Source
) -> tuple[Path, RecordSource, list[str], dict[str, Any]]:
    built = build_source(recipe, source)
    leads = source.preprocess.lead_names(list(built.leads))
    desc = describe(source, built, leads)
    root = cache_root(source.preprocess, recipe.path.parent.resolve())
    folder = root / f"{source.name}-{content_hash(desc)[:16]}"
    return folder, built, leads, desc


def prepare_source(
    recipe: DataRecipe, source: Source, *, workers: int = 0, skip_bad: bool = False,
    progress: bool = False,
) -> Prepared:  # fmt: skip
    """One source's prepared data, built if no up-to-date cache exists."""
    folder, built, leads, desc = locate(recipe, source)
    if (folder / "meta.json").is_file():
        return Prepared(Store(folder), built=False, source=source)
    if folder.parent.is_dir():  # a prepare killed mid-way leaves <folder>.tmp-<pid>
        remove_stale(folder.parent, f"{folder.name}.tmp-*")
    keys_total = len(built.keys())
    columns = (TextColumn(f"[bold]prepare {source.name}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[key]}"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("prepare", total=keys_total, key="")
        build_cache(
            built, source.preprocess, leads, folder, desc, workers=workers, skip_bad=skip_bad,
            on_record=lambda key: bar.update(task, advance=1, key=key),
        )  # fmt: skip
    return Prepared(Store(folder), built=True, source=source)


def carried_leads(requested: list[str], available: list[str], lead_map: dict[str, str]) -> set[str]:
    """The requested leads a dataset with leads ``available`` can fill (names, synonyms and
    the lead map, as :func:`ssl_ecg.data.preprocess.select_leads` matches them)."""
    from ssl_ecg.data.preprocess import canonical_lead

    names = [lead_map.get(n, n) for n in available]
    upper = {n.upper() for n in names} | {canonical_lead(n) for n in names}
    return {r for r in requested if r.upper() in upper or canonical_lead(r) in upper}


def check_leads(recipe: DataRecipe) -> None:
    """A requested lead that no source can carry would be zeros in every window: refuse it."""
    if recipe.preprocess.leads is None:
        return
    requested = recipe.preprocess.lead_names([])
    found: set[str] = set()
    names = []
    for src in recipe.sources:
        available = list(build_source(recipe, src).leads)
        names.append(f"{src.name}: {', '.join(available)}")
        found |= carried_leads(requested, available, src.preprocess.lead_map)
    missing = [r for r in requested if r not in found]
    if missing:
        raise DataError(
            f"{recipe.path}: data.leads: {', '.join(missing)} is in no record of the data "
            f"({'; '.join(names)}); remove it from data.leads or map a lead to it with "
            "data.lead_map"
        )


def prepare_all(recipe: DataRecipe, **kwargs: Any) -> list[Prepared]:
    """Every source of the recipe, prepared (in recipe order)."""
    check_leads(recipe)
    return [prepare_source(recipe, src, **kwargs) for src in recipe.sources]


def prepare(recipe: DataRecipe, **kwargs: Any) -> Prepared:
    """The prepared data of a single-source recipe (see :func:`prepare_all` for several)."""
    if len(recipe.sources) != 1:
        raise DataError(f"{recipe.path}: {len(recipe.sources)} sources; prepare them one by one")
    check_leads(recipe)
    return prepare_source(recipe, recipe.sources[0], **kwargs)


def open_prepared(recipe: DataRecipe, source: Source | None = None) -> Store:
    """The existing cache of a source (default: the only one), or how to make it."""
    folder, *_ = locate(recipe, source or recipe.sources[0])
    if not (folder / "meta.json").is_file():
        raise DataError(
            f"{recipe.path}: data not prepared (looked in {folder}); "
            f"run: ssl-ecg data prepare {recipe.path}"
        )
    return Store(folder)


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
                labels.update(f"{key}={v}" for v in values)
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
        "splits": per_split,
        "flat_leads_masked": {
            r["record_id"]: r["flat_leads"] for r in store.records if r.get("flat_leads")
        },
        "skipped": meta["skipped"],
        "prepare_seconds": meta["seconds"],
    }
