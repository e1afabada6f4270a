"""A built record source -> its prepared cache: found by content hash, or built (with a
progress bar). Knows nothing of recipes: it takes the source, a description of the dataset and
the preprocessing settings (see :mod:`ssl_ecg.sources` for the recipe level)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ssl_ecg.config import PreprocessConfig
from ssl_ecg.data.cache import CACHE_FORMAT, build_cache, cache_root, content_hash
from ssl_ecg.data.labels import LabelledSource
from ssl_ecg.data.record import RecordSource
from ssl_ecg.data.store import Store
from ssl_ecg.outputs import remove_stale


@dataclasses.dataclass
class Prepared:
    store: Store
    built: bool  # False when an existing cache was reused
    source: Any = None  # the recipe's source it is (ssl_ecg.recipe.Source), when known


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset plugin's identity and settings, as the cache hash records them."""

    name: str
    plugin: str
    distribution: str
    version: str
    settings: dict[str, Any]


def describe(
    dataset: Dataset, records: RecordSource, pre: PreprocessConfig, leads: list[str]
) -> dict[str, Any]:
    """Everything that determines the stored data (hashed into the cache folder's name)."""
    return {
        "format": CACHE_FORMAT,
        "dataset": dataclasses.asdict(dataset),
        "source_identity": records.identity(),
        "preprocessing": {**pre.stored(), "leads": leads},
    }


def cache_folder(
    dataset: Dataset, records: RecordSource, pre: PreprocessConfig, recipe_dir: Path
) -> tuple[Path, list[str], dict[str, Any]]:
    """(cache folder, leads, description) of a source under these preprocessing settings."""
    leads = pre.lead_names(list(records.leads))
    desc = describe(dataset, records, pre, leads)
    folder = cache_root(pre, recipe_dir) / f"{dataset.name}-{content_hash(desc)[:16]}"
    return folder, leads, desc


def prepare_source(
    dataset: Dataset, records: RecordSource, pre: PreprocessConfig, recipe_dir: Path, *,
    workers: int = 0, skip_bad: bool = False, progress: bool = False,
) -> Prepared:  # fmt: skip
    """A source's prepared data, built if no up-to-date cache exists."""
    if isinstance(records, LabelledSource):  # records and rows of a labels file must match,
        records.check(skip_bad)  # also when a cache built with skipping is reused
        records.skip = records.skip or skip_bad
    folder, leads, desc = cache_folder(dataset, records, pre, recipe_dir)
    if (folder / "meta.json").is_file():
        return Prepared(Store(folder), built=False)
    if folder.parent.is_dir():  # left by versions before resumable prepares
        remove_stale(folder.parent, f"{folder.name}.tmp-*")
    columns = (TextColumn(f"[bold]prepare {dataset.name}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[key]}"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("prepare", total=len(records.keys()), key="")
        build_cache(
            records, pre, leads, folder, desc, workers=workers, skip_bad=skip_bad,
            on_record=lambda key: bar.update(task, advance=1, key=key),
        )  # fmt: skip
    return Prepared(Store(folder), built=True)
