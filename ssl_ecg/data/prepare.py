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
from ssl_ecg.recipe import DataRecipe, Recipe


@dataclasses.dataclass
class Prepared:
    store: Store
    built: bool  # False when an existing cache was reused


def describe(recipe: Recipe | DataRecipe, source: RecordSource, leads: list[str]) -> dict[str, Any]:
    """Everything that determines the stored data (hashed into the cache folder's name)."""
    spec = recipe.data.spec
    return {
        "format": CACHE_FORMAT,
        "dataset": {
            "name": spec.name,
            "plugin": spec.plugin,
            "distribution": spec.distribution,
            "version": spec.version,
            "settings": recipe.data.config.model_dump(mode="json"),
        },
        "source_identity": source.identity(),
        "preprocessing": {**recipe.preprocess.stored(), "leads": leads},
    }


def locate(recipe: Recipe | DataRecipe) -> tuple[Path, RecordSource, list[str], dict[str, Any]]:
    source = build_source(recipe)
    leads = recipe.preprocess.lead_names(list(source.leads))
    desc = describe(recipe, source, leads)
    root = cache_root(recipe.preprocess, recipe.path.parent.resolve())
    folder = root / f"{recipe.data.name}-{content_hash(desc)[:16]}"
    return folder, source, leads, desc


def prepare(
    recipe: Recipe | DataRecipe, *, workers: int = 0, skip_bad: bool = False, progress: bool = False
) -> Prepared:
    """The recipe's prepared data, built if no up-to-date cache exists."""
    folder, source, leads, desc = locate(recipe)
    if (folder / "meta.json").is_file():
        return Prepared(Store(folder), built=False)
    keys_total = len(source.keys())
    columns = (TextColumn("[bold]prepare"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[key]}"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("prepare", total=keys_total, key="")
        build_cache(
            source, recipe.preprocess, leads, folder, desc, workers=workers, skip_bad=skip_bad,
            on_record=lambda key: bar.update(task, advance=1, key=key),
        )  # fmt: skip
    return Prepared(Store(folder), built=True)


def open_prepared(recipe: Recipe | DataRecipe) -> Store:
    """The existing cache for this recipe, or an error telling how to make it."""
    folder, *_ = locate(recipe)
    if not (folder / "meta.json").is_file():
        raise DataError(
            f"{recipe.path}: data not prepared (looked in {folder}); "
            f"run: ssl-ecg data prepare {recipe.path}"
        )
    return Store(folder)


def training_records(store: Store, recipe: Recipe) -> Any:
    """Record indices of ``[data] split`` (all records when it is not set)."""
    pre = recipe.preprocess
    if pre.split is None:
        return None
    splits = store.splits(pre.split_fractions, pre.split_seed)
    if pre.split not in splits:
        raise DataError(
            f"{recipe.path}: data.split = '{pre.split}' is not a split of this dataset; "
            f"its splits: {', '.join(splits)}"
        )
    return splits[pre.split]


def summary(store: Store, recipe: Recipe) -> dict[str, Any]:
    """What ``ssl-ecg data info`` shows: sizes, settings, labels per split, skipped records."""
    pre = recipe.preprocess
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
