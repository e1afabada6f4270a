"""Evaluation tasks: labelled windows for a train and a test split, read from prepared data.

A task plugin's factory is called as ``factory(config, TaskContext)`` and returns an object with
``load() -> TaskData``. It prepares its dataset through ``context.prepare(table)``, which applies
the encoder's own data contract (fs, leads, filters, normalisation) so that evaluation sees the
same preprocessing pretraining did; the task only names the dataset and its settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ssl_ecg.data.store import Store


@dataclasses.dataclass
class LabelledWindows:
    """Fixed-length windows of a prepared store, each with a label, patient and record."""

    store: Store
    start: np.ndarray  # (N,) int64 global sample index where each window starts
    length: int  # samples per window
    y: np.ndarray  # (N,) int64 class index, or (N, K) float32 multi-hot when multilabel
    patients: np.ndarray  # (N,) str patient of each window
    records: np.ndarray  # (N,) str record of each window

    def __len__(self) -> int:
        return int(self.start.size)

    def read(self, idx: np.ndarray) -> np.ndarray:
        """Signals of windows ``idx`` (B,) as (B, C, T) float32, gathered from the memmaps."""
        return self.store.read_signals(self.start[idx], self.length)

    def subset(self, idx: np.ndarray) -> LabelledWindows:
        return dataclasses.replace(
            self, start=self.start[idx], y=self.y[idx], patients=self.patients[idx],
            records=self.records[idx],
        )  # fmt: skip


@dataclasses.dataclass
class TaskData:
    """What a task hands the evaluation: train and test windows plus what the labels mean."""

    train: LabelledWindows
    test: LabelledWindows
    classes: list[str]  # names of the label indices (or of the multi-hot columns)
    multilabel: bool = False
    scored: list[str] | None = None  # classes in the macro averages (default: all)
    description: str = ""


@dataclasses.dataclass(frozen=True)
class TaskContext:
    fs: float  # the encoder's sampling rate
    leads: list[str]  # the encoder's leads, in order
    n_samples: int  # the encoder's window length in samples
    seed: int
    recipe_dir: Path  # relative dataset roots resolve against this folder
    # prepare(data_table) -> Store: prepares a dataset under the encoder's data contract
    prepare: Callable[[dict[str, Any]], Store]
