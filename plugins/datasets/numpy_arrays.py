"""ECGs already in numpy arrays plus a JSON sidecar: a ``.npy`` file of shape (N, C, T), a folder
of ``.npy`` files (one record (C, T) each, any length) or an ``.npz`` of named (C, T) arrays.

So users with arrays need no conversion step. The array (millivolts) is memory-mapped
(``np.load(mmap_mode="r")``, https://numpy.org/doc/stable/reference/generated/numpy.load.html),
so only the record being read is loaded. The sidecar (``<path>.json``, else ``<stem>.json``
beside the array, or ``meta``) is a JSON object::

    {"fs": 500, "leads": ["I", "II"],            # required; len(leads) == C
     "labels": [...], "patient_ids": [...],      # optional, N entries each
     "record_ids": [...]}                        # optional, N unique entries

A label that is a JSON object becomes the record's labels; any other value becomes
``{"label": value}``. Records default to ids ``"0".."N-1"`` (a folder: the file names without
``.npy``; an ``.npz``: the array names; both in sorted order, the order of the sidecar's lists)
and one patient each. Labels can also come from a CSV (``[data] labels_file``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from ssl_ecg import (
    Config,
    DataError,
    DatasetContext,
    Record,
    RecordSource,
    Spec,
    check_finite,
    did_you_mean,
    hookimpl,
)
from ssl_ecg.wfdb import resolve_path

SIDECAR_KEYS = ("fs", "leads", "labels", "patient_ids", "record_ids")


class NumpyConfig(Config):
    path: str = Field(
        description=".npy file of shape (records, leads, samples) in millivolts, a folder of "
        ".npy files (one (leads, samples) record each) or an .npz of named (leads, samples) "
        "arrays; a relative path is read from the recipe's folder"
    )
    meta: str | None = Field(
        None,
        description="sidecar JSON with fs, leads (and optional labels, patient_ids, "
        "record_ids); default: <path>.json or <stem>.json beside the array",
    )


@dataclasses.dataclass(frozen=True)
class Sidecar:
    """What the sidecar says, checked against the array's shape (N, C, T)."""

    path: Path
    fs: float
    leads: list[str]
    labels: list[Any] | None
    patient_ids: list[str]
    record_ids: list[str]


class NumpyArrays(RecordSource):
    """Record ``i`` is ``array[i]`` (C, T), keys ``"0".."N-1"``; or, for a folder or an
    ``.npz`` (``names`` given), the array named by the key."""

    def __init__(self, path: Path, meta: Sidecar, names: list[str] | None = None) -> None:
        self.path = path  # the memmap is reopened per read: sources are pickled to workers
        self.meta = meta
        self.names = names
        self.leads = list(meta.leads)

    def keys(self) -> list[str]:
        return list(self.names) if self.names is not None else [
            str(i) for i in range(len(self.meta.record_ids))
        ]  # fmt: skip

    def _index(self, key: str) -> int:
        return self.names.index(key) if self.names is not None else int(key)

    def record_id(self, key: str) -> str:
        return self.meta.record_ids[self._index(key)]

    def _raw(self, key: str, i: int) -> tuple[np.ndarray, str]:
        """The stored (C, T) array of record ``key`` and where it came from."""
        c = len(self.leads)
        if self.names is None:
            source = f"{self.path}[{i}]"
            array = _open(self.path)  # (N, C, T)
            expected = (len(self.meta.record_ids), c)
            if array.ndim != 3 or array.shape[:2] != expected:
                raise DataError(
                    f"{self.path}: changed since the dataset was opened: shape {array.shape}, "
                    f"expected ({expected[0]}, {expected[1]}, samples)"
                )
            return np.asarray(array[i]), source
        if self.path.is_dir():
            source = str(self.path / f"{key}.npy")
            raw = _open(self.path / f"{key}.npy")
        else:
            source = f"{self.path}[{key}]"
            try:
                with np.load(self.path, allow_pickle=False) as archive:
                    raw = np.asarray(archive[key])
            except Exception as exc:  # damaged archive or member
                why = " ".join(str(exc).split())[:160]
                raise DataError(f"{source}: not readable ({type(exc).__name__}: {why})") from None
        if raw.ndim != 2 or raw.shape[0] != c or raw.shape[1] == 0 or raw.dtype.kind not in "iuf":
            raise DataError(
                f"{source}: holds a {raw.dtype} array of shape {raw.shape}; expected (leads, "
                f"samples) = ({c}, T) real numbers, the {c} leads of the sidecar"
            )
        return raw, source

    def load(self, key: str) -> Record:
        i = self._index(key)
        raw, source = self._raw(key, i)
        check_finite(raw, self.leads, source)
        with np.errstate(over="ignore", invalid="ignore"):
            signal = raw.astype(np.float32)  # copied out of the map
        check_finite(signal, self.leads, f"{source} (beyond the float32 range)")
        return Record(
            signal=signal,
            fs=self.meta.fs,
            leads=list(self.leads),
            record_id=self.meta.record_ids[i],
            patient_id=self.meta.patient_ids[i],
            labels=record_labels(self.meta.labels[i]) if self.meta.labels is not None else {},
            source=source,
        )

    def identity(self) -> str:
        digest = hashlib.sha256()
        files = [self.path / f"{n}.npy" for n in self.names or []] if self.path.is_dir() else []
        for file in (self.path, *files, self.meta.path):
            st = file.stat()
            digest.update(repr((str(file), st.st_size, st.st_mtime_ns)).encode())
        return digest.hexdigest()


def record_labels(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {"label": value}


def _open(path: Path) -> np.ndarray:
    """The ``.npy`` array at ``path``, memory-mapped; anything else is a one-line DataError."""
    if not path.is_file():
        raise DataError(f"{path}: file not found; set data.path to a .npy file (N, C, T)")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/pickle errors on non-.npy files
        why = " ".join(str(exc).split())[:160]
        raise DataError(
            f"{path}: not a readable .npy array ({type(exc).__name__}: {why}); save it with "
            "numpy.save as one (records, leads, samples) array of numbers"
        ) from None
    if not isinstance(array, np.ndarray):  # np.load of an .npz gives an archive
        raise DataError(f"{path}: not a single .npy array; save one with numpy.save")
    return array


def array_shape(path: Path) -> tuple[int, int, int]:
    """Shape (N, C, T) of the ``.npy`` file, read from its header only; an array of real
    numbers (integers or floats, not bool, complex or objects) with no empty axis."""
    array = _open(path)
    if array.ndim != 3:
        hint = "; one record? save x[None] (shape (1, leads, samples))" if array.ndim == 2 else ""
        raise DataError(
            f"{path}: expected shape (records, leads, samples), got {array.shape}{hint}"
        )
    if array.dtype.kind not in "iuf":
        raise DataError(
            f"{path}: holds {array.dtype} values, not real numbers; save the signals as float32 "
            "(millivolts)"
        )
    n, c, t = array.shape
    if 0 in array.shape:
        raise DataError(f"{path}: shape {array.shape} has an empty axis (records, leads, samples)")
    return n, c, t


def find_sidecar(path: Path, meta: str | None, recipe_dir: Path) -> Path:
    if meta is not None:
        file = resolve_path(meta, recipe_dir)
        if not file.is_file():
            raise DataError(f"{file}: sidecar not found (data.meta)")
        return file
    candidates = [path.with_name(path.name + ".json"), path.with_suffix(".json")]
    for file in candidates:
        if file.is_file():
            return file
    raise DataError(
        f"{path}: no sidecar JSON (looked for {candidates[0].name} and {candidates[1].name}); "
        "write one with fs and leads, or set data.meta"
    )


def read_sidecar(
    file: Path, shape: tuple[int, int, int], default_ids: list[str] | None = None
) -> Sidecar:
    """Parse and check the sidecar against the array shape (N, C, T)."""
    n, c, _ = shape
    try:
        raw = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    except OSError as exc:
        raise DataError(f"{file}: cannot read ({exc.strerror})") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{file}: must hold a JSON object with fs and leads")
    for key in raw:
        if key not in SIDECAR_KEYS:
            raise DataError(f"{file}: unknown key '{key}'{did_you_mean(key, SIDECAR_KEYS)}")
    for key in ("fs", "leads"):
        if key not in raw:
            raise DataError(f"{file}: missing key '{key}' (needs fs in Hz and the {c} lead names)")
    fs = raw["fs"]
    if isinstance(fs, bool) or not isinstance(fs, int | float) or not math.isfinite(fs) or fs <= 0:
        raise DataError(f"{file}: 'fs' must be the sampling rate in Hz (a positive number)")
    leads = _list(file, raw, "leads", c, f"C = {c} leads")
    if leads is None or not all(isinstance(x, str) for x in leads):
        raise DataError(f"{file}: 'leads' must list the {c} lead names (strings)")
    labels = _list(file, raw, "labels", n, f"N = {n} records")
    record_ids = _ids(file, raw, "record_ids", n) or default_ids or [str(i) for i in range(n)]
    if len(set(record_ids)) != n:
        raise DataError(f"{file}: 'record_ids' has duplicates")
    patient_ids = _ids(file, raw, "patient_ids", n) or list(record_ids)
    return Sidecar(file, float(fs), leads, labels, patient_ids, record_ids)


def _list(file: Path, raw: dict[str, Any], key: str, size: int, what: str) -> list[Any] | None:
    """``raw[key]`` as a list of ``size`` entries, or None when absent."""
    if key not in raw:
        return None
    value = raw[key]
    if not isinstance(value, list) or len(value) != size:
        got = f"{len(value)} entries" if isinstance(value, list) else type(value).__name__
        raise DataError(f"{file}: '{key}' has {got} but the array has {what}")
    return value


def _ids(file: Path, raw: dict[str, Any], key: str, n: int) -> list[str] | None:
    values = _list(file, raw, key, n, f"N = {n} records")
    if values is None:
        return None
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        raise DataError(f"{file}: '{key}' must hold strings or integers")
    return [str(v) for v in values]


def array_names(path: Path) -> list[str]:
    """Sorted record names of a folder of ``.npy`` files or of an ``.npz`` archive."""
    if path.is_dir():
        names = sorted(f.stem for f in path.glob("*.npy") if f.is_file())
        if not names:
            raise DataError(f"{path}: no .npy files in the folder; save one (leads, samples) "
                            "array per record with numpy.save")  # fmt: skip
        return names
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = sorted(archive.files)
    except Exception as exc:  # not a zip, damaged archive
        why = " ".join(str(exc).split())[:160]
        raise DataError(
            f"{path}: not a readable .npz archive ({type(exc).__name__}: {why}); save the "
            "records with numpy.savez(path, name1=x1, name2=x2, ...)"
        ) from None
    if not names:
        raise DataError(f"{path}: the .npz archive holds no arrays")
    return names


def build(config: NumpyConfig, context: DatasetContext) -> NumpyArrays:
    path = resolve_path(config.path, context.recipe_dir)
    if not (path.is_dir() or path.suffix == ".npz"):
        shape = array_shape(path)
        meta = read_sidecar(find_sidecar(path, config.meta, context.recipe_dir), shape)
        return NumpyArrays(path, meta)
    if not path.exists():
        raise DataError(f"{path}: not found; set data.path to a .npy file, a folder or an .npz")
    names = array_names(path)
    sidecar = find_sidecar(path, config.meta, context.recipe_dir)
    n_leads = _sidecar_leads(sidecar)
    meta = read_sidecar(sidecar, (len(names), n_leads, 0), default_ids=names)
    return NumpyArrays(path, meta, names)


def _sidecar_leads(file: Path) -> int:
    """How many leads the sidecar names (its full check follows in :func:`read_sidecar`)."""
    try:
        raw = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError):
        return 0  # read_sidecar reports it
    leads = raw.get("leads") if isinstance(raw, dict) else None
    return len(leads) if isinstance(leads, list) else 0


@hookimpl
def register_datasets() -> list[Spec]:
    return [
        Spec(
            name="numpy",
            factory=build,
            config=NumpyConfig,
            summary="a .npy (records, leads, samples), a folder of .npy records or an .npz, "
            "in mV, plus a JSON sidecar (fs, leads)",
        )
    ]
