"""The prepared-data cache: memory-mapped signal shards plus an index.

Layout of one cache folder (``<cache root>/<dataset>-<hash16>/``)::

    meta.json        what was prepared and how: dataset, settings, preprocessing, source hash,
                     fs, leads, dtype, shards, splits, skipped records (with reasons)
    index.npz        per-record arrays read on open: start, length, shard, leads present, ids
    records.json     one entry per record with its labels (read only when labels are needed)
    signal_0000.bin  raw (samples, leads) arrays of every record, back to back, time-major
    rpeaks.npy       R-peak positions, global sample index (sorted), detected at prepare time
    beats.npy        annotated beat positions (global), beat_labels.npy their classes

The folder name is a content hash of the dataset plugin and its settings, the source files'
identity and the stored preprocessing settings: change any of them and a new cache is built;
an old one is never silently reused. A cache is built in ``<folder>.partial`` and renamed into
place when complete, so a cache folder is never half-written; a prepare that was killed (or
stopped on a bad record) continues from its last finished record (:mod:`ssl_ecg.data.building`).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ssl_ecg.config import PreprocessConfig
from ssl_ecg.data.building import Partial
from ssl_ecg.data.preprocess import Processed, process
from ssl_ecg.data.record import RecordSource
from ssl_ecg.errors import DataError, SslEcgError

CACHE_FORMAT = 3  # 3: records carry a content fingerprint (leakage guard)
ENV_CACHE = "SSL_ECG_CACHE"
T = TypeVar("T")


# ------------------------------------------------------------------ reading files back
class FileSchema(BaseModel):
    """Base of the schemas of files ssl-ecg reads back (cache meta.json, export encoder.json):
    strict types (a string is never read as a number), finite floats, extra keys kept (a later
    version may add some)."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)


def read_text(
    file: Path, fix: str, error: type[SslEcgError] = DataError, encoding: str = "utf-8"
) -> str:
    """The text of ``file``; a missing or unreadable file is one ``error`` line naming it,
    ending with ``fix`` (what to do about it)."""
    try:
        return file.read_text(encoding=encoding)
    except FileNotFoundError:
        raise error(f"{file}: not found; {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise error(f"{file}: cannot read it ({why}); {fix}") from None


def read_json(file: Path, fix: str, error: type[SslEcgError] = DataError) -> Any:
    """The parsed JSON of ``file``; a missing, unreadable or malformed file is one ``error``
    line naming it, ending with ``fix`` (what to do about it)."""
    text = read_text(file, fix, error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno}); {fix}") from None
    except RecursionError:
        raise error(f"{file}: not valid JSON (nested too deeply); {fix}") from None


def check_schema(
    schema: type[T] | TypeAdapter[T], value: Any, file: Path, fix: str,
    error: type[SslEcgError] = DataError,
) -> T:  # fmt: skip
    """``value`` validated by ``schema`` (a pydantic model or TypeAdapter); the first problem
    is one ``error`` line: the file, the dotted key, what is wrong and what was found."""
    adapter = schema if isinstance(schema, TypeAdapter) else TypeAdapter(schema)
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise error(f"{file}: {schema_problem(exc)}; {fix}") from None


def schema_problem(exc: ValidationError) -> str:
    """The first problem of a pydantic ValidationError in words, on one line."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "missing":
        return f"key '{loc}' is missing"
    msg = first["msg"].removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:]
    got = first.get("input")
    shown = f"a {type(got).__name__}" if isinstance(got, dict | list) else repr(got)[:60]
    where = f"'{loc}'" if loc else "the file"
    return f"{where}: {msg} (found {shown})"


class _DatasetMeta(FileSchema):
    name: str


class CacheMeta(FileSchema):
    """``meta.json`` of a cache folder: the keys :class:`~ssl_ecg.data.store.Store` reads."""

    format: int
    dataset: _DatasetMeta
    preprocessing: dict[str, Any]
    fs: float = Field(gt=0)
    leads: list[str] = Field(min_length=1)
    dtype: Literal["float32", "float16"]
    shards: list[int] = Field(min_length=1)
    n_records: int = Field(ge=1)
    n_samples: int = Field(ge=0)
    splits: dict[str, list[str]] = Field(default_factory=dict)
    skipped: list[dict[str, Any]] = Field(default_factory=list)
    seconds: float = 0.0


class CacheRecord(FileSchema):
    """One entry of ``records.json``."""

    record_id: str
    patient_id: str
    labels: dict[str, Any] = Field(default_factory=dict)
    flat_leads: list[str] = Field(default_factory=list)


CACHE_RECORDS = TypeAdapter(list[CacheRecord])


def default_cache_root() -> Path:
    """``$SSL_ECG_CACHE``, else ``$XDG_CACHE_HOME/ssl-ecg``, else ``~/.cache/ssl-ecg``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ssl-ecg"


def cache_root(pre: PreprocessConfig, recipe_dir: Path) -> Path:
    """``[data] cache_dir`` (relative to the recipe) or the default root."""
    if pre.cache_dir:
        return (recipe_dir / Path(pre.cache_dir).expanduser()).resolve()
    return default_cache_root()


def content_hash(fingerprint: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()


# ------------------------------------------------------------------ parallel processing
_WORKER: dict[str, Any] = {}


def _init_worker(source: RecordSource, pre: PreprocessConfig, leads: list[str]) -> None:
    _WORKER.update(source=source, pre=pre, leads=leads)


def _work(key: str) -> tuple[str, Processed | str]:
    """Process one record in a worker: ("ok", Processed) or ("bad", reason)."""
    try:
        record = _WORKER["source"].load(key)
        return "ok", process(record, _WORKER["pre"], _WORKER["leads"])
    except DataError as exc:
        return "bad", str(exc)
    except Exception as exc:  # a reader failing on a strange file is bad input too
        return "bad", f"record {key}: {type(exc).__name__}: {exc}"


def _ordered_map(
    keys: list[str], workers: int, init_args: tuple[Any, ...]
) -> Iterator[tuple[str, tuple[str, Processed | str]]]:
    """``(key, _work(key))`` in key order, at most ``4 * workers`` records in flight."""
    _init_worker(*init_args)
    if workers <= 1:
        for key in keys:
            yield key, _work(key)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                initargs=init_args) as pool:  # fmt: skip
        pending: list[tuple[str, cf.Future]] = []
        it = iter(keys)
        try:
            for key in it:
                pending.append((key, pool.submit(_work, key)))
                if len(pending) >= 4 * workers:
                    done_key, fut = pending.pop(0)
                    yield done_key, fut.result()
            for done_key, fut in pending:
                yield done_key, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()


def build_cache(
    source: RecordSource,
    pre: PreprocessConfig,
    leads: list[str],
    folder: Path,
    describe: dict[str, Any],
    *,
    workers: int = 0,
    skip_bad: bool = False,
    on_record: Callable[[str], None] | None = None,
) -> Path:
    """Prepare every record of ``source`` into ``folder``: built in ``<folder>.partial`` and
    renamed when complete; a killed or failed prepare continues from its last record."""
    keys = source.keys()
    if not keys:
        raise DataError(f"{describe['dataset']['name']}: the dataset has no records")
    workers = 1 if len(keys) < 4 else workers or min(os.cpu_count() or 1, len(keys))
    t0 = time.perf_counter()
    part = Partial(folder, len(leads) * np.dtype(pre.cache_dtype).itemsize)
    done = part.open(keys)
    for key in keys[:done]:
        if on_record is not None:
            on_record(key)
    try:
        for key, (status, result) in _ordered_map(keys[done:], workers, (source, pre, leads)):
            if on_record is not None:
                on_record(key)
            if status == "bad":
                if not skip_bad:
                    raise DataError(f"{result} (run with --skip-bad to skip such records)")
                part.skip(key, str(result))
                continue
            assert isinstance(result, Processed)
            part.store(key, result)
        part.close()
        skipped = [*source.skipped(), *part.skipped]
        if not part.got.records:
            part.discard()
            raise DataError(f"every record was skipped as bad; first: {skipped[-1]['reason']}")
        part.got.save(part.path)
        _write_meta(part, source, pre, leads, describe, skipped, time.perf_counter() - t0)
        part.finish(folder)
    finally:
        part.close()  # a failed or killed build keeps its partial folder to continue from
    return folder


def _write_meta(
    part: Partial, source: RecordSource, pre: PreprocessConfig, leads: list[str],
    describe: dict[str, Any], skipped: list[dict[str, str]], seconds: float,
) -> None:  # fmt: skip
    prepared = {r["record_id"] for r in part.got.records}
    splits = {name: [r for r in ids if r in prepared] for name, ids in source.splits().items()}
    meta = {
        **describe, "format": CACHE_FORMAT, "fs": pre.fs, "leads": leads,
        "dtype": pre.cache_dtype, "shards": part.writer.sizes,
        "n_records": len(part.got.records), "n_samples": part.got.base, "splits": splits,
        "skipped": skipped, "seconds": round(seconds, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip
    (part.path / "skipped.json").write_text(json.dumps(skipped, indent=1))
    (part.path / "meta.json").write_text(json.dumps(meta, indent=1))
