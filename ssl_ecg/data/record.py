"""Records and record sources: what dataset plugins produce (numpy only; no torch here, so the
worker processes of ``ssl-ecg data prepare`` start fast and stay small)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@dataclasses.dataclass
class Record:
    """One ECG recording as a dataset plugin yields it."""

    signal: np.ndarray  # (C, T) float32, millivolts, at ``fs``
    fs: float
    leads: list[str]  # C names, in the order of ``signal``'s rows
    record_id: str  # unique within the dataset
    patient_id: str  # records of one person share it (patient-wise splits)
    labels: dict[str, Any] = dataclasses.field(default_factory=dict)  # JSON-able (dx, age, sex..)
    beats: np.ndarray | None = None  # (K,) int64 annotated beat positions, samples at ``fs``
    beat_labels: np.ndarray | None = None  # (K,) str class of each beat (e.g. AAMI N/S/V/F/Q)
    source: str = ""  # file it came from, for error messages


class RecordSource:
    """What a dataset factory returns: a list of record keys and a way to load each one.

    Sources are pickled to worker processes, so keep them plain (paths and settings). ``load``
    raises :class:`ssl_ecg.errors.DataError` naming the file and the problem on bad input.
    """

    leads: list[str]  # lead names its records may carry (known without reading them)

    def keys(self) -> list[str]:
        """Keys of every record, cheap to compute (no signal reads)."""
        raise NotImplementedError

    def load(self, key: str) -> Record:
        """Read one record."""
        raise NotImplementedError

    def identity(self) -> str:
        """Fingerprint of the source files (paths, sizes, mtimes) for the cache hash."""
        return ""

    def record_id(self, key: str) -> str:
        """The id of the record ``key`` names, without reading it (default: the key); a labels
        file (``[data] labels_file``) is matched against it."""
        return key

    def skipped(self) -> list[dict[str, str]]:
        """Records the source leaves out on purpose, ``{"record", "reason"}`` each (listed in
        the cache's ``skipped.json``); default none."""
        return []

    def splits(self) -> dict[str, list[str]]:
        """Dataset-defined splits, name -> record ids (e.g. MIT-BIH DS1/DS2); {} if none."""
        return {}

    def records(self) -> Iterator[Record]:
        for key in self.keys():
            yield self.load(key)


@dataclasses.dataclass(frozen=True)
class DatasetContext:
    recipe_dir: Path  # relative ``root`` paths resolve against the recipe's folder
    seed: int
